package wal

import (
	"fmt"
	"time"
)

// maxPending is how many bytes may wait for the leader before appends block
// for room: a bound on memory when appenders outrun the disk.
const maxPending = 4 << 20

// batch is a group of records written with one write and covered by one
// fsync. Appenders copy their frames into buf under the log's lock; the
// leader writes it without the lock.
type batch struct {
	buf         []byte
	records     int
	pinned      int   // records from Append, live once written
	pinnedBytes int64 // their frames' bytes
	refs        int   // Append calls that have yet to read the result

	// set by the leader; read under the lock once done
	done bool
	err  error
	seg  uint64
	base int64
}

// result is what writing a batch did.
type result struct {
	err     error
	fatal   bool // the error leaves the disk in an unknown state: fail the log
	wrote   bool
	synced  int
	rotated bool
	// syncTime is how long the fsync of the batch took, if it had one.
	syncTime time.Duration
}

// Append writes a record of type typ (1 to 255; the meaning is the
// caller's) whose payload is p, copied before Append returns, and returns
// where it is. The record is live, pinning its segment on disk, until
// Release(pos).
//
// Append blocks until the record is durable under the sync policy: with
// SyncAlways until it is written and fsynced, sharing the fsync with every
// append that arrived meanwhile; with SyncInterval and SyncNever until it
// is written to the OS. It returns an error wrapping ErrInvalid for a type
// of 0 or a payload above MaxPayload, ErrClosed after Close, the I/O error
// if writing or syncing its batch failed (the record is then not known to
// be on disk), and an error wrapping ErrFailed after an fsync error.
func (l *Log) Append(typ byte, p []byte) (Pos, error) {
	if err := checkRecord(typ, p); err != nil {
		return Pos{}, err
	}
	sum := checksum(typ, p)
	l.mu.Lock()
	b, at, err := l.addLocked(typ, p, sum, true)
	if err != nil {
		l.mu.Unlock()
		return Pos{}, err
	}
	for !b.done {
		if l.busy {
			l.cond.Wait()
			continue
		}
		l.busy = true
		l.gatherLocked()
		l.leadDropLock(false)
	}
	pos := Pos{Segment: b.seg, Offset: uint32(b.base) + at, Size: uint32(frameHeader + len(p))}
	err = b.err
	b.refs--
	if b.refs == 0 {
		l.putBatchLocked(b)
	}
	doomed := l.takeDoomedLocked()
	l.mu.Unlock()
	l.remove(doomed)
	if err != nil {
		return Pos{}, err
	}
	return pos, nil
}

// AppendNoWait adds a record that does not pin its segment and returns
// without waiting for it to be written: it reaches the OS with the next
// write, in order with the appends around it, and stable storage with the
// next fsync. It suits records whose loss costs little, such as the note
// that a message was settled: lost, the message is delivered again.
// It blocks only while 4 MiB of records already wait for the disk. It
// returns an error wrapping ErrInvalid, ErrClosed or ErrFailed as Append
// does; a later I/O error of its batch is not reported to the caller.
func (l *Log) AppendNoWait(typ byte, p []byte) error {
	if err := checkRecord(typ, p); err != nil {
		return err
	}
	sum := checksum(typ, p)
	l.mu.Lock()
	if _, _, err := l.addLocked(typ, p, sum, false); err != nil {
		l.mu.Unlock()
		return err
	}
	// With Append callers in the batch, one of them leads (it is awake:
	// the last leader woke them as it stepped down), gathering first.
	if !l.busy && l.pending.refs == 0 {
		l.leadDropLock(false)
	}
	doomed := l.takeDoomedLocked()
	l.mu.Unlock()
	l.remove(doomed)
	return nil
}

// Failed returns the error, wrapping ErrFailed, that every append returns
// since an fsync failed; nil while the log works. It does not block.
func (l *Log) Failed() error {
	if !l.failed.Load() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Sync makes every record appended before it durable: it writes what waits
// and fsyncs the active segment. It returns ErrClosed after Close, and an
// error wrapping ErrFailed if this or an earlier fsync failed.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.busy && !l.closed {
		l.cond.Wait()
	}
	if l.closed {
		return ErrClosed
	}
	if l.err == nil {
		l.leadDropLock(true)
	}
	return l.err
}

func checkRecord(typ byte, p []byte) error {
	if typ == 0 {
		return fmt.Errorf("%w: record type 0 is reserved", ErrInvalid)
	}
	if len(p) > MaxPayload {
		return fmt.Errorf("%w: payload of %d bytes, the most is %d", ErrInvalid, len(p), MaxPayload)
	}
	return nil
}

// addLocked copies a frame into the pending batch and returns the batch and
// the frame's offset in it. It waits while the batch is full.
func (l *Log) addLocked(typ byte, p []byte, sum uint32, pinned bool) (*batch, uint32, error) {
	for {
		if l.closed {
			return nil, 0, ErrClosed
		}
		if l.err != nil {
			return nil, 0, l.err
		}
		if !l.busy || len(l.pending.buf) == 0 || len(l.pending.buf)+frameHeader+len(p) <= maxPending {
			break
		}
		l.full++
		l.wakeGathererLocked() // a gather would wait for it in vain
		l.cond.Wait()
		l.full--
	}
	b := l.pending
	at := len(b.buf)
	b.buf = appendFrame(b.buf, typ, p, sum)
	b.records++
	if pinned {
		b.pinned++
		b.pinnedBytes += int64(frameHeader + len(p))
		b.refs++
		if l.gatherWant > 0 && b.pinned >= l.gatherWant {
			l.wakeGathererLocked()
		}
	}
	return b, uint32(at), nil
}

// leadDropLock makes the caller the leader: it writes the pending batch,
// and fsyncs it if the policy or force asks, dropping l.mu for the I/O.
// It sets l.busy; an Append caller sets it first to gather.
// It goes on with the next batch while only AppendNoWait records wait (or
// the log is closing); Append callers waiting in the next batch take over
// the lead themselves. Called with l.mu held and l.busy unset, or set by
// the caller itself; returns with l.mu held.
func (l *Log) leadDropLock(force bool) {
	l.busy = true
	for {
		b := l.pending
		if len(b.buf) == 0 && !force {
			break
		}
		l.pending = l.getBatchLocked()
		if l.full > 0 {
			l.cond.Broadcast()
		}
		failed := l.err
		sync := force || (l.opts.Sync.always() && b.pinned > 0)
		l.mu.Unlock()
		r := result{err: failed}
		if failed == nil {
			r = l.commit(b, sync)
		}
		l.mu.Lock()
		l.completeLocked(b, r)
		force = false
		if len(l.pending.buf) == 0 || (l.pending.refs > 0 && !l.closed) {
			break
		}
	}
	l.busy = false
	l.cond.Broadcast()
}

// commit writes b to the active segment, starting a new segment first if b
// would overflow this one, and fsyncs if sync. A failed write is cut back
// off the file so the next batch goes where b would have been; if it cannot
// be cut, the failure is fatal. Called by the leader without l.mu.
func (l *Log) commit(b *batch, sync bool) (r result) {
	w := &l.w
	if len(b.buf) > 0 {
		if w.end > segmentHeader && w.end+int64(len(b.buf)) > l.opts.SegmentSize {
			if r = l.rotate(); r.err != nil {
				return r
			}
		}
		b.seg, b.base = w.seg, w.end
		if !w.dirty {
			markSynced(b.buf)
		}
		if _, err := w.f.WriteAt(b.buf, w.end); err != nil {
			r.err = fmt.Errorf("wal: write %s at offset %d: %w", segmentPath(l.dir, w.seg), w.end, err)
			if terr := w.f.Truncate(w.end); terr != nil {
				r.err = fmt.Errorf("%w; cutting it back: %w", r.err, terr)
				r.fatal = true
			}
			return r
		}
		w.end += int64(len(b.buf))
		w.dirty = true
		r.wrote = true
	}
	if sync && w.dirty {
		start := time.Now()
		err := w.f.Sync()
		r.syncTime = time.Since(start)
		if err != nil {
			r.err = fmt.Errorf("wal: fsync %s: %w", segmentPath(l.dir, w.seg), err)
			r.fatal = true
			return r
		}
		w.dirty = false
		r.synced++
	}
	return r
}

// rotate fsyncs the active segment and starts the next. A segment that is
// not the newest is therefore always whole on disk, which is how Open
// tells a torn tail (only ever in the newest) from damage. Called by the
// leader without l.mu.
func (l *Log) rotate() (r result) {
	w := &l.w
	if w.dirty {
		if err := w.f.Sync(); err != nil {
			return result{err: fmt.Errorf("wal: fsync %s: %w", segmentPath(l.dir, w.seg), err), fatal: true}
		}
		w.dirty = false
		r.synced++
	}
	f, fatal, err := l.createSegment(w.seg + 1)
	if err != nil {
		// Unless fatal, nothing was left behind: the next batch tries again.
		r.err, r.fatal = err, fatal
		return r
	}
	old := w.f
	*w = writer{f: f, seg: w.seg + 1, end: segmentHeader}
	old.Close() // fsynced above; a close error cannot lose data
	r.synced += 2
	r.rotated = true
	return r
}

// completeLocked publishes the result of writing b: to its waiters, the
// segment table and the counters.
func (l *Log) completeLocked(b *batch, r result) {
	if r.fatal && l.err == nil {
		l.err = fmt.Errorf("%w: %w", ErrFailed, r.err)
		l.failed.Store(true)
	}
	b.done, b.err = true, r.err
	if r.fatal {
		b.err = l.err
	}
	if last := l.segs[len(l.segs)-1]; last.id != l.w.seg {
		l.segs = append(l.segs, &segment{id: l.w.seg})
	}
	active := l.segs[len(l.segs)-1]
	active.size = l.w.end
	if r.wrote {
		active.live += b.pinned
		active.liveBytes += b.pinnedBytes
		l.stats.Appends += uint64(b.records)
		l.stats.Writes++
	}
	l.stats.Syncs += uint64(r.synced)
	if r.syncTime > 0 && b.pinned > 0 {
		// Who is likely to append next: the callers this fsync releases
		// and those that waited for it. See gather.go.
		l.syncTime = r.syncTime
		l.expect = b.pinned + l.pending.pinned
	}
	if l.opts.Sync.every > 0 && l.w.dirty && !l.timerOn && !l.closed && l.err == nil {
		l.timerOn = true
		l.timed.Add(1)
		l.timer.Reset(l.opts.Sync.every)
	}
	if r.rotated {
		l.reclaimLocked()
	}
	if b.refs == 0 {
		l.putBatchLocked(b)
	}
}

// intervalSync is the SyncInterval timer's callback.
func (l *Log) intervalSync() {
	defer l.timed.Done()
	l.mu.Lock()
	l.timerOn = false
	for l.busy && !l.closed {
		l.cond.Wait()
	}
	if !l.closed && l.err == nil {
		l.leadDropLock(true)
	}
	doomed := l.takeDoomedLocked()
	l.mu.Unlock()
	l.remove(doomed)
}

func (l *Log) getBatchLocked() *batch {
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free = l.free[:n-1]
		return b
	}
	return &batch{}
}

func (l *Log) putBatchLocked(b *batch) {
	*b = batch{buf: b.buf[:0]}
	if cap(b.buf) > 2*maxPending {
		b.buf = nil // a huge record should not stay in memory
	}
	l.free = append(l.free, b)
}
