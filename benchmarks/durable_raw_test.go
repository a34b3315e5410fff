package benchmarks

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
)

// The raw sides of BenchmarkDurable: the appends a durable publish cannot
// avoid, with nothing of a broker around them. A record is what a log needs
// to find, check and order a message on recovery, and no more:
//
//	offset size
//	0      4    body length, little endian
//	4      4    CRC-32C of the body
//	8      8    sequence: the producer in the high 32 bits, its count below
//	16     n    body
const rawHeader = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends the record of body with sequence seq to dst. It
// computes the CRC each time, as a log does for each message.
func appendRecord(dst []byte, seq uint64, body []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(body)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(body, castagnoli))
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	return append(dst, body...)
}

func rawSeq(p, i int) uint64 { return uint64(p)<<32 | uint64(i) }

// rawSession appends records to a file, fsyncing each or, with group
// set, through a groupLog.
type rawSession struct {
	f         *os.File
	group     *groupLog // nil: an fsync per append, under mu
	mu        sync.Mutex
	producers int
	bufs      [][]byte // each producer's record
	next      []int    // each producer's next record number
}

// openRawFsync appends each record with a write and an fsync of its own;
// with several producers, one at a time under a mutex, so that every
// append still pays a whole fsync.
func openRawFsync(r durableRun, dir string, producers int) durableSession {
	f, err := os.Create(filepath.Join(dir, "raw.log"))
	if err != nil {
		r.Fatal(err)
	}
	r.Cleanup(func() { f.Close() })
	return &rawSession{f: f, producers: producers, bufs: make([][]byte, producers), next: make([]int, producers)}
}

// openRawGroup appends through a groupLog: concurrent producers share
// fsyncs.
func openRawGroup(r durableRun, dir string, producers int) durableSession {
	s := openRawFsync(r, dir, producers).(*rawSession)
	s.group = &groupLog{f: s.f}
	s.group.cond.L = &s.group.mu
	return s
}

func (s *rawSession) move(r durableRun, n int) {
	runProducers(r, n, s.producers, func(p, i int) error {
		s.bufs[p] = appendRecord(s.bufs[p][:0], rawSeq(p, s.next[p]+i), durableBody)
		if s.group != nil {
			return s.group.append(s.bufs[p])
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, err := s.f.Write(s.bufs[p]); err != nil {
			return err
		}
		return s.f.Sync()
	})
	for p := range s.next {
		s.next[p] += shareOf(n, p, s.producers)
	}
}

// close closes the file and reads it back: it must hold every record
// appended, each whole and once.
func (s *rawSession) close(r durableRun) {
	if err := s.f.Close(); err != nil {
		r.Fatal(err)
	}
	if err := checkLog(s.f.Name(), s.next); err != nil {
		r.Fatal(err)
	}
}

// recordsPerFsync is how many records an fsync covered on average, if
// fsyncs are shared.
func (s *rawSession) recordsPerFsync() (float64, bool) {
	if s.group == nil {
		return 0, false
	}
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	if s.group.syncs == 0 {
		return 0, false
	}
	return float64(s.group.durable) / float64(s.group.syncs), true
}

// A groupLog is the least group commit: an appender copies its record into
// the pending batch and waits until a write and fsync have covered it. The
// first appender to find no fsync in progress leads: it takes the batch,
// writes and fsyncs it without the lock, and wakes the others; records
// queued meanwhile go in the next batch. No goroutine of its own, no timer.
type groupLog struct {
	f *os.File

	mu      sync.Mutex
	cond    sync.Cond // on mu: a batch was written, or failed
	pending []byte    // records for the next batch; guarded by mu
	spare   []byte    // the previous batch's buffer, for reuse; guarded by mu
	queued  uint64    // records appended to pending so far; guarded by mu
	durable uint64    // records written and fsynced; guarded by mu
	leading bool      // an appender is writing a batch; guarded by mu
	err     error     // the first write or fsync error; guarded by mu
	syncs   int       // fsyncs done; guarded by mu
}

// append returns once rec is on disk, or with the error that kept it off.
func (g *groupLog) append(rec []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = append(g.pending, rec...)
	g.queued++
	mine := g.queued
	for g.durable < mine && g.err == nil {
		if g.leading {
			g.cond.Wait()
			continue
		}
		g.leading = true
		batch, upto := g.pending, g.queued
		g.pending = g.spare[:0]
		g.mu.Unlock()
		_, err := g.f.Write(batch)
		if err == nil {
			err = g.f.Sync()
		}
		g.mu.Lock()
		g.spare = batch
		g.leading = false
		g.syncs++
		if err != nil {
			g.err = err
		} else {
			g.durable = upto
		}
		g.cond.Broadcast()
	}
	return g.err
}

// checkLog reads the records of the log at name and says how they differ
// from those appended: records 0 to want[p]-1 of each producer p, each
// producer's in order.
func checkLog(name string, want []int) error {
	producers := len(want)
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	next := make([]int, producers) // each producer's records come in order
	for off := 0; off < len(data); {
		if len(data)-off < rawHeader {
			return fmt.Errorf("%s: %d stray bytes at offset %d", name, len(data)-off, off)
		}
		h := data[off : off+rawHeader]
		size := int(binary.LittleEndian.Uint32(h[0:4]))
		if size != durableBodySize || len(data)-off-rawHeader < size {
			return fmt.Errorf("%s: bad record length %d at offset %d", name, size, off)
		}
		body := data[off+rawHeader : off+rawHeader+size]
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(h[4:8]) {
			return fmt.Errorf("%s: CRC mismatch at offset %d", name, off)
		}
		seq := binary.LittleEndian.Uint64(h[8:16])
		p, i := int(seq>>32), int(uint32(seq))
		if p >= producers || i != next[p] {
			return fmt.Errorf("%s: record %d of producer %d at offset %d, want its record %d", name, i, p, off, next[p])
		}
		next[p]++
		off += rawHeader + size
	}
	for p := range producers {
		if next[p] != want[p] {
			return fmt.Errorf("%s: %d records of producer %d, want %d", name, next[p], p, want[p])
		}
	}
	return nil
}
