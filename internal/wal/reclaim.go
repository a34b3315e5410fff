package wal

import (
	"errors"
	"fmt"
	"sort"
)

// Release ends the record at pos: it no longer pins its segment. A segment
// is deleted once it is not the active one, holds no live record, and no
// older segment remains (a later segment may hold the records that end
// the older one's, such as settle notes, and must outlive it). Release
// deletes such segments before it returns, and returns the error of a
// deletion that failed. It returns an error wrapping ErrInvalid if pos is
// not a live record, ErrClosed after Close. Releasing the same record
// twice is a bug that Release cannot always detect.
func (l *Log) Release(pos Pos) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].id >= pos.Segment })
	if i == len(l.segs) || l.segs[i].id != pos.Segment || l.segs[i].live == 0 ||
		pos.Size < frameHeader || int64(pos.Offset)+int64(pos.Size) > l.segs[i].size {
		l.mu.Unlock()
		return fmt.Errorf("%w: release of %+v, which is not a live record", ErrInvalid, pos)
	}
	s := l.segs[i]
	s.live--
	s.liveBytes -= int64(pos.Size)
	if s.live == 0 && i == 0 {
		l.reclaimLocked()
	}
	doomed := l.takeDoomedLocked()
	l.mu.Unlock()
	return l.remove(doomed)
}

// Stragglers says which live records to copy forward so that disk use
// stays bounded: a caller appends a copy of each live record whose segment
// is below the returned number, then releases the original. It returns 0
// when nothing needs to move.
//
// Records are moved when the segments hold more than twice the live bytes
// plus two segments' worth: then Stragglers picks the shortest run of the
// oldest segments whose moving brings the log under that bound. A long
// backlog that is mostly live is left in place; a few old records that pin
// many dead segments are moved.
func (l *Log) Stragglers() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var total, live int64
	for _, s := range l.segs {
		total += s.size
		live += s.liveBytes
	}
	bound := live + max(live, 2*l.opts.SegmentSize)
	if total <= bound {
		return 0
	}
	remaining, moved := total, int64(0)
	for i, s := range l.segs[:len(l.segs)-1] {
		remaining -= s.size
		moved += s.liveBytes
		if remaining+moved <= bound {
			return l.segs[i+1].id
		}
	}
	return l.segs[len(l.segs)-1].id
}

// reclaimLocked dooms the oldest segments while they hold no live record
// and are not the active one, unless a Replay is reading them.
func (l *Log) reclaimLocked() {
	if l.replays > 0 {
		return
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].live == 0 {
		l.doomed = append(l.doomed, l.segs[n].id)
		n++
	}
	if n > 0 {
		l.segs = append(l.segs[:0], l.segs[n:]...)
	}
}

// takeDoomedLocked hands the doomed segments to the caller to remove once
// it has dropped l.mu; Close waits for such removals before it releases
// the directory. After Close has begun it returns nil: Close removes them.
func (l *Log) takeDoomedLocked() []uint64 {
	if len(l.doomed) == 0 || l.closed {
		return nil
	}
	d := l.doomed
	l.doomed = nil
	l.removing.Add(1)
	return d
}

// remove deletes segments taken with takeDoomedLocked.
func (l *Log) remove(ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	defer l.removing.Done()
	return l.removeFiles(ids)
}

// removeFiles deletes segment files, without l.mu: they are out of the
// table.
func (l *Log) removeFiles(ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	var errs []error
	for _, id := range ids {
		if err := l.fs.Remove(segmentPath(l.dir, id)); err != nil {
			errs = append(errs, fmt.Errorf("wal: delete segment: %w", err))
		}
	}
	if err := l.syncDir(); err != nil {
		errs = append(errs, fmt.Errorf("wal: fsync %s: %w", l.dir, err))
	}
	return errors.Join(errs...)
}
