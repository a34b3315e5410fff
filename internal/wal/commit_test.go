package wal

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/internal/wal/walfs"
)

// failNext makes the next call of op on a segment file fail with err,
// writing short bytes first if op is OpWrite.
func failNext(fsys *walfs.Faulty, op walfs.Op, short int, err error) {
	n := fsys.Count(op) + 1
	fsys.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == op && c.N == n {
			return walfs.Fault{Err: err, Short: short}
		}
		return walfs.Fault{}
	})
}

func TestFsyncErrorFailsTheAppendAndTheLog(t *testing.T) {
	dir := t.TempDir()
	fsys := faulty()
	l, err := Open(dir, Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	kept := mustAppend(t, l, 1, "durable")
	failNext(fsys, walfs.OpSync, 0, errInjected)
	if _, err := l.Append(1, []byte("covered by the failed fsync")); !errors.Is(err, errInjected) || !errors.Is(err, ErrFailed) {
		t.Fatalf("Append whose fsync failed = %v, want the I/O error and ErrFailed", err)
	}
	fsys.Inject(nil) // the disk recovers, but the log must not pretend
	if _, err := l.Append(1, []byte("after")); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append after a failed fsync = %v, want ErrFailed", err)
	}
	if err := l.AppendNoWait(1, []byte("after")); !errors.Is(err, ErrFailed) {
		t.Fatalf("AppendNoWait after a failed fsync = %v, want ErrFailed", err)
	}
	if err := l.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Sync after a failed fsync = %v, want ErrFailed", err)
	}
	syncs := fsys.Count(walfs.OpSync)
	if err := l.Close(); err != nil {
		t.Fatalf("Close of a failed log = %v", err)
	}
	if n := fsys.Count(walfs.OpSync); n != syncs {
		t.Errorf("Close of a failed log fsynced %d times", n-syncs)
	}
	// Reopening recovers what was acknowledged.
	l = openLog(t, dir, Options{})
	got := replayAll(t, l)
	if len(got) == 0 || got[0] != (rec{kept, 1, "durable"}) {
		t.Fatalf("after reopening: %v, want the acknowledged record first", got)
	}
}

func TestWriteErrorFailsTheBatchOnly(t *testing.T) {
	for _, short := range []int{0, 1, frameHeader + 3} {
		t.Run(fmt.Sprintf("short %d", short), func(t *testing.T) {
			dir := t.TempDir()
			fsys := faulty()
			l, err := Open(dir, Options{FS: fsys})
			if err != nil {
				t.Fatal(err)
			}
			a := mustAppend(t, l, 1, "a")
			failNext(fsys, walfs.OpWrite, short, errInjected)
			if _, err := l.Append(1, []byte("lost to a write error")); !errors.Is(err, errInjected) || errors.Is(err, ErrFailed) {
				t.Fatalf("Append whose write failed = %v, want the I/O error, not ErrFailed", err)
			}
			// The partial write was cut off, so the next record follows a.
			b := mustAppend(t, l, 1, "b")
			if b.Offset != a.Offset+a.Size {
				t.Fatalf("the record after a failed write is at %d, want %d", b.Offset, a.Offset+a.Size)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, Options{})
			if rc := l.Recovery(); rc.Torn.Bytes != 0 || len(rc.Skipped) != 0 {
				t.Fatalf("Recovery = %+v, want no damage", rc)
			}
			if got := replayAll(t, l); !equalRecs(got, []rec{{a, 1, "a"}, {b, 1, "b"}}) {
				t.Fatalf("recovered %v", got)
			}
		})
	}
}

func TestWriteErrorThatCannotBeCutBackFailsTheLog(t *testing.T) {
	fsys := faulty()
	l := openLog(t, t.TempDir(), Options{FS: fsys})
	fsys.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpWrite || c.Op == walfs.OpTruncate {
			return walfs.Fault{Err: errInjected, Short: 5}
		}
		return walfs.Fault{}
	})
	if _, err := l.Append(1, []byte("x")); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append = %v, want ErrFailed", err)
	}
	fsys.Inject(nil)
	if _, err := l.Append(1, []byte("y")); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append after = %v, want ErrFailed", err)
	}
}

func TestFailedRotationIsRetried(t *testing.T) {
	dir := t.TempDir()
	fsys := faulty()
	l, err := Open(dir, Options{FS: fsys, SegmentSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("r", 100)
	var want []rec
	for range 2 {
		want = append(want, rec{mustAppend(t, l, 1, payload), 1, payload})
	}
	fsys.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpOpen && strings.HasSuffix(c.Name, segmentName(2)) {
			return walfs.Fault{Err: errInjected}
		}
		return walfs.Fault{}
	})
	if _, err := l.Append(1, []byte(payload)); !errors.Is(err, errInjected) || errors.Is(err, ErrFailed) {
		t.Fatalf("Append needing a new segment = %v, want the I/O error, not ErrFailed", err)
	}
	fsys.Inject(nil)
	pos := mustAppend(t, l, 1, payload)
	want = append(want, rec{pos, 1, payload})
	if pos.Segment != 2 {
		t.Fatalf("the retried rotation put the record in segment %d", pos.Segment)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, dir, Options{SegmentSize: 256}, want)
}

func TestGroupCommitSharesAnFsync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := faulty()
		l, err := Open(t.TempDir(), Options{FS: fsys})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		// Hold the first fsync until the other appenders are waiting.
		hold := make(chan struct{})
		first := fsys.Count(walfs.OpSync) + 1
		fsys.Inject(func(c walfs.Call) walfs.Fault {
			if c.Op == walfs.OpSync && c.N == first {
				<-hold
			}
			return walfs.Fault{}
		})
		const n = 8
		var wg sync.WaitGroup
		appendOne := func(i int) {
			defer wg.Done()
			if _, err := l.Append(1, []byte(payloadOf(i))); err != nil {
				t.Error(err)
			}
		}
		wg.Add(1)
		go appendOne(0)
		synctest.Wait() // the leader waits in its fsync
		wg.Add(n - 1)
		for i := 1; i < n; i++ {
			go appendOne(i)
		}
		synctest.Wait() // the others wait for the leader
		syncs := fsys.Count(walfs.OpSync)
		close(hold)
		wg.Wait()
		if got := fsys.Count(walfs.OpSync) - syncs; got != 1 {
			t.Errorf("%d appends that waited together took %d more fsyncs, want 1", n-1, got)
		}
		if st := l.Stats(); st.Appends != n || st.Writes != 2 {
			t.Errorf("Stats = %+v, want %d appends in 2 writes", st, n)
		}
	})
}

func TestGroupCommitUnderLoad(t *testing.T) {
	fsys := faulty()
	l := openLog(t, t.TempDir(), Options{FS: fsys})
	before := fsys.Count(walfs.OpSync)
	const producers, each = 8, 50
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if _, err := l.Append(1, []byte(payloadOf(p*each+i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	syncs := fsys.Count(walfs.OpSync) - before
	t.Logf("%d appends from %d goroutines took %d fsyncs", producers*each, producers, syncs)
	if syncs >= producers*each/2 {
		t.Errorf("%d appends took %d fsyncs: appends are not sharing them", producers*each, syncs)
	}
}

func TestSyncPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy SyncPolicy
		syncs  int // fsyncs for 10 appends
	}{
		{SyncAlways(), 10},
		{SyncNever(), 0},
		{SyncInterval(time.Hour), 0},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fsys := faulty()
				l, err := Open(t.TempDir(), Options{FS: fsys, Sync: tc.policy})
				if err != nil {
					t.Fatal(err)
				}
				before := fsys.Count(walfs.OpSync)
				for i := range 10 {
					mustAppend(t, l, 1, payloadOf(i))
				}
				if got := fsys.Count(walfs.OpSync) - before; got != tc.syncs {
					t.Errorf("10 appends: %d fsyncs, want %d", got, tc.syncs)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if got := fsys.Count(walfs.OpSync) - before; got != tc.syncs+1 && tc.syncs == 0 {
					t.Errorf("Close made %d fsyncs, want 1", got)
				}
			})
		})
	}
}

func TestSyncIntervalFsyncsAfterTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := faulty()
		l, err := Open(t.TempDir(), Options{FS: fsys, Sync: SyncInterval(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		before := fsys.Count(walfs.OpSync)
		for i := range 5 {
			mustAppend(t, l, 1, payloadOf(i))
		}
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if got := fsys.Count(walfs.OpSync) - before; got != 0 {
			t.Fatalf("%d fsyncs before the interval", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := fsys.Count(walfs.OpSync) - before; got != 1 {
			t.Fatalf("%d fsyncs after the interval, want 1", got)
		}
		// Idle: no more fsyncs, no timer left running.
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := fsys.Count(walfs.OpSync) - before; got != 1 {
			t.Fatalf("%d fsyncs while idle, want still 1", got)
		}
		mustAppend(t, l, 1, "again")
		time.Sleep(time.Second)
		synctest.Wait()
		if got := fsys.Count(walfs.OpSync) - before; got != 2 {
			t.Fatalf("%d fsyncs after another append and interval, want 2", got)
		}
	})
}

func TestSyncIntervalFsyncErrorFailsTheLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := faulty()
		l, err := Open(t.TempDir(), Options{FS: fsys, Sync: SyncInterval(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		mustAppend(t, l, 1, "x")
		failNext(fsys, walfs.OpSync, 0, errInjected)
		time.Sleep(time.Second)
		synctest.Wait()
		if _, err := l.Append(1, []byte("y")); !errors.Is(err, ErrFailed) || !errors.Is(err, errInjected) {
			t.Fatalf("Append after the interval's fsync failed = %v, want ErrFailed", err)
		}
	})
}

func TestAppendNoWait(t *testing.T) {
	dir := t.TempDir()
	fsys := faulty()
	l, err := Open(dir, Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	syncs := fsys.Count(walfs.OpSync)
	if err := l.AppendNoWait(3, []byte("settled")); err != nil {
		t.Fatal(err)
	}
	if n := fsys.Count(walfs.OpSync); n != syncs {
		t.Errorf("AppendNoWait fsynced")
	}
	if st := l.Stats(); st.Live != 0 || st.Appends != 1 {
		t.Errorf("Stats after AppendNoWait = %+v, want 1 append and nothing live", st)
	}
	pos := mustAppend(t, l, 1, "pinned")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, Options{})
	got := replayAll(t, l)
	if len(got) != 2 || got[0].payload != "settled" || got[0].typ != 3 || got[1] != (rec{pos, 1, "pinned"}) {
		t.Fatalf("recovered %v", got)
	}
}

// TestConcurrentAppendsAndNoWaits mixes both kinds of append from many
// goroutines, with rotations, and checks every record comes back once.
func TestConcurrentAppendsAndNoWaits(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways(), SyncNever(), SyncInterval(time.Millisecond)} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, Options{Sync: policy, SegmentSize: 4096})
			if err != nil {
				t.Fatal(err)
			}
			const producers, each = 6, 100
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					for i := range each {
						payload := []byte(fmt.Sprintf("%d/%d", p, i))
						var err error
						if i%2 == 0 {
							_, err = l.Append(1, payload)
						} else {
							err = l.AppendNoWait(2, payload)
						}
						if err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, Options{})
			seen := map[string]int{}
			next := map[int]int{}
			for _, r := range replayAll(t, l) {
				seen[r.payload]++
				var p, i int
				fmt.Sscanf(r.payload, "%d/%d", &p, &i)
				if i != next[p] {
					t.Fatalf("producer %d: record %d after %d: out of order", p, i, next[p]-1)
				}
				next[p] = i + 1
			}
			if len(seen) != producers*each {
				t.Fatalf("recovered %d distinct records, want %d", len(seen), producers*each)
			}
		})
	}
}

func TestReadErrorIsNotATornTail(t *testing.T) {
	for _, failRead := range []int{1, 2} { // the header's read, the records'
		dir := t.TempDir()
		// Under SyncNever no record after the first is marked as written
		// after an fsync, so everything after a failed read could pass
		// for an unsynced tail.
		recs := writeLog(t, dir, Options{Sync: SyncNever()}, 3)
		seg := segmentPath(dir, recs[0].pos.Segment)
		size := fileSize(t, seg)
		fsys := faulty()
		fsys.Inject(func(c walfs.Call) walfs.Fault {
			if c.Op == walfs.OpRead && c.N == failRead {
				return walfs.Fault{Err: errInjected}
			}
			return walfs.Fault{}
		})
		if l, err := Open(dir, Options{FS: fsys}); !errors.Is(err, errInjected) {
			if l != nil {
				l.Close()
			}
			t.Fatalf("Open whose read %d fails = %v, want the read error", failRead, err)
		}
		if got := fileSize(t, seg); got != size {
			t.Fatalf("a failed read cut the segment from %d to %d bytes", size, got)
		}
	}
}
