package wal

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/wal/walfs"
)

// Pos is where a record is: what Append returns and Release takes. The
// zero Pos is no record.
type Pos struct {
	Segment uint64 // the segment number, from 1
	Offset  uint32 // where the record's frame starts in the segment file
	Size    uint32 // the frame's size: header and payload
}

// Log is a segmented write-ahead log in a directory. Its methods are safe
// for concurrent use.
type Log struct {
	dir  string
	fs   walfs.FS
	opts Options
	lock *dirLock
	rec  Recovery

	mu   sync.Mutex
	cond sync.Cond // on mu: a batch is done, the leader stepped down, or pending has room

	failed atomic.Bool // err is set; for Failed, without mu

	// guarded by mu
	pending *batch     // where appends go
	free    []*batch   // done batches to reuse
	full    int        // appends waiting for room in pending
	busy    bool       // a goroutine leads: writes a batch or syncs
	closed  bool       // Close has begun: appends fail with ErrClosed
	err     error      // the failure that stopped appends, wrapping ErrFailed
	segs    []*segment // oldest first; the last is the active one
	replays int        // Replay calls running: no segment is deleted
	doomed  []uint64   // segments to delete, by the next goroutine to leave the lock
	timerOn bool       // the interval timer is armed
	stats   Stats

	// group commit under SyncAlways (see gather.go), guarded by mu
	expect       int           // Append callers likely in the next batch
	syncTime     time.Duration // how long the last fsync of a batch took
	gatherWant   int           // > 0 while a leader gathers: the pinned records that end it
	gatherMisses int           // gathers that ran out of time
	gathered     chan struct{} // ends a gather; buffered
	gatherTimer  *time.Timer   // bounds a gather; used by the leader only

	w     writer         // owned by the leader: used only by the goroutine that set busy
	timer *time.Timer    // the interval sync, made by Open for SyncInterval
	timed sync.WaitGroup // a timer callback that may still run

	removing sync.WaitGroup // removals of doomed segments in flight
}

// segment is what the log knows of one segment file.
type segment struct {
	id        uint64
	size      int64 // bytes of valid records, with the header
	live      int   // records appended or recovered and not yet released
	liveBytes int64
	skips     []Damage // damaged regions Open skipped, for Replay to skip
}

// writer is the active segment as the leader sees it.
type writer struct {
	f     walfs.File
	seg   uint64
	end   int64 // where the next batch goes
	dirty bool  // written since the last fsync
}

// Recovery is what Open found in the directory.
type Recovery struct {
	Segments int   // segment files read
	Records  int   // valid records, all live until released
	Bytes    int64 // bytes of those records
	// Torn is the tail Open cut from the newest segment: an append that was
	// in flight when the process or machine stopped. Bytes is 0 if none.
	Torn Damage
	// Skipped are the damaged regions that Options.SkipCorrupt let Open
	// skip. Each may have held one record or several.
	Skipped []Damage
}

// Stats are counters of a Log.
type Stats struct {
	Segments  int    // segment files
	Bytes     int64  // bytes in segment files
	Live      int    // records appended or recovered and not yet released
	LiveBytes int64  // bytes of the live records
	Appends   uint64 // records written since Open
	Writes    uint64 // write calls: batches of records
	Syncs     uint64 // fsyncs of segment files
}

// Open opens the log in dir, creating dir if needed, and recovers what an
// earlier Log left there: it reads every segment, cuts a torn tail, and
// fails on other damage (see Options.SkipCorrupt) with an error wrapping
// ErrCorrupt that names the file and offset. It fails with an error
// wrapping ErrLocked if another Log, in this process or another, has dir
// open. Every recovered record is live until released; Replay visits them.
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	lk, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, fs: opts.FS, opts: opts, lock: lk}
	l.cond.L = &l.mu
	l.pending = &batch{}
	l.gathered = make(chan struct{}, 1)
	l.gatherTimer = time.NewTimer(time.Hour)
	l.gatherTimer.Stop()
	if err := l.recover(); err != nil {
		lk.unlock()
		return nil, err
	}
	if opts.Sync.every > 0 {
		l.timer = time.AfterFunc(time.Hour, l.intervalSync)
		l.timer.Stop()
	}
	return l, nil
}

// recover reads the segments, sets up the table and the active segment.
func (l *Log) recover() error {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("wal: read %s: %w", l.dir, err)
	}
	var ids []uint64
	for _, e := range entries {
		if id, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for i, id := range ids {
		last := i == len(ids)-1
		if err := l.recoverSegment(id, last); err != nil {
			if l.w.f != nil {
				l.w.f.Close()
			}
			return err
		}
	}
	l.rec.Segments = len(ids)
	if len(ids) == 0 {
		return l.createFirst()
	}
	return nil
}

func (l *Log) recoverSegment(id uint64, last bool) error {
	path := segmentPath(l.dir, id)
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := l.fs.OpenFile(path, flag, 0)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("wal: stat %s: %w", path, err)
	}
	s := scan{f: f, path: path, id: id, size: fi.Size(), open: true, last: last, skipCorrupt: l.opts.SkipCorrupt}
	r, err := s.run(func(Pos, byte, []byte) error { return nil })
	if err == nil && last {
		err = l.repairTail(f, id, r)
	}
	if err != nil {
		f.Close()
		return err
	}
	end := r.end
	if r.headerTorn {
		end = segmentHeader // repairTail rewrote it
	}
	if !last {
		f.Close()
	} else {
		l.w = writer{f: f, seg: id, end: end}
	}
	l.segs = append(l.segs, &segment{id: id, size: end, live: r.records, liveBytes: r.bytes, skips: r.skipped})
	l.rec.Records += r.records
	l.rec.Bytes += r.bytes
	l.rec.Skipped = append(l.rec.Skipped, r.skipped...)
	if r.torn.Bytes > 0 || r.headerTorn {
		l.rec.Torn = r.torn
	}
	return nil
}

// repairTail cuts a torn tail, or rewrites a torn header, and fsyncs the
// newest segment: records appended next must not sit behind garbage, and
// the first of them is marked as written after an fsync.
func (l *Log) repairTail(f walfs.File, id uint64, r scanResult) error {
	path := segmentPath(l.dir, id)
	if r.headerTorn || r.torn.Bytes > 0 {
		if err := f.Truncate(r.end); err != nil {
			return fmt.Errorf("wal: cut torn tail of %s: %w", path, err)
		}
	}
	if r.headerTorn {
		if _, err := f.WriteAt(encodeSegmentHeader(id), 0); err != nil {
			return fmt.Errorf("wal: rewrite header of %s: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: fsync %s: %w", path, err)
	}
	return nil
}

func (l *Log) createFirst() error {
	f, _, err := l.createSegment(1)
	if err != nil {
		return err
	}
	l.w = writer{f: f, seg: 1, end: segmentHeader}
	l.segs = append(l.segs, &segment{id: 1, size: segmentHeader})
	return nil
}

// createSegment creates segment id with its header, durably: the file's
// contents and its directory entry are fsynced. If it fails, it removes
// what it created; fatal says that an fsync failed or the file could not be
// removed, so the disk is in a state the log cannot vouch for.
func (l *Log) createSegment(id uint64) (f walfs.File, fatal bool, err error) {
	path := segmentPath(l.dir, id)
	f, err = l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("wal: create %s: %w", path, err)
	}
	if _, err = f.WriteAt(encodeSegmentHeader(id), 0); err == nil {
		if err = f.Sync(); err == nil {
			err = l.syncDir()
		}
		fatal = err != nil
	}
	if err != nil {
		f.Close()
		err = fmt.Errorf("wal: create %s: %w", path, err)
		if rerr := l.fs.Remove(path); rerr != nil {
			return nil, true, errors.Join(err, rerr)
		}
		return nil, fatal, err
	}
	return f, false, nil
}

// syncDir makes the directory's entries durable: a new segment's name, a
// deleted one's absence. Windows cannot fsync a directory, and NTFS
// journals its entries.
func (l *Log) syncDir() error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := l.fs.OpenFile(l.dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Recovery returns what Open found: records, the torn tail it cut and the
// damage it skipped, for the caller to log and count.
func (l *Log) Recovery() Recovery { return l.rec }

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats
	st.Segments = len(l.segs)
	for _, s := range l.segs {
		st.Bytes += s.size
		st.Live += s.live
		st.LiveBytes += s.liveBytes
	}
	return st
}

// Close writes and fsyncs what was appended, waiting for appends in flight
// (later ones fail with ErrClosed), closes the files and releases the
// directory. It returns the error of that last fsync, or ErrClosed if the
// log was already closed. A failed log is closed without an fsync.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.wakeGathererLocked()
	for l.busy {
		l.cond.Wait()
	}
	before := l.err
	l.leadDropLock(before == nil)
	var err error
	if l.err != before {
		err = l.err
	}
	if l.timerOn && l.timer.Stop() {
		l.timerOn = false
		l.timed.Done()
	}
	doomed := l.doomed
	l.doomed = nil
	l.mu.Unlock()
	l.timed.Wait()
	l.removing.Wait()
	l.removeFiles(doomed)
	if cerr := l.w.f.Close(); err == nil && before == nil && cerr != nil {
		err = fmt.Errorf("wal: close %s: %w", segmentPath(l.dir, l.w.seg), cerr)
	}
	l.lock.unlock()
	return err
}
