package wal

import (
	"fmt"
	"os"
)

// Replay calls fn for every record in the log, oldest first, as of the
// call: the records Open recovered and those appended since. payload is
// valid only during the call. Replay stops at the first error of fn and
// returns it; it returns a CorruptError if a record changed on disk since
// Open judged it, ErrClosed after Close. No segment is deleted while a
// Replay runs; Release and Append may run alongside it.
func (l *Log) Replay(fn func(pos Pos, typ byte, payload []byte) error) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	segs := make([]segment, len(l.segs))
	for i, s := range l.segs {
		segs[i] = *s
	}
	l.replays++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.replays--
		if l.replays == 0 && !l.closed {
			l.reclaimLocked()
		}
		doomed := l.takeDoomedLocked()
		l.mu.Unlock()
		l.remove(doomed)
	}()
	for _, s := range segs {
		if err := l.replaySegment(s, fn); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) replaySegment(s segment, fn func(Pos, byte, []byte) error) error {
	path := segmentPath(l.dir, s.id)
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", path, err)
	}
	defer f.Close()
	sc := scan{f: f, path: path, id: s.id, size: s.size, skips: s.skips}
	_, err = sc.run(fn)
	return err
}
