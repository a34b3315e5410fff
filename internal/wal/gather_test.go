package wal

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/internal/wal/walfs"
)

// slowSyncs makes every fsync of fsys take d of the bubble's fake time.
func slowSyncs(fsys *walfs.Faulty, d time.Duration) {
	fsys.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpSync {
			time.Sleep(d)
		}
		return walfs.Fault{}
	})
}

// appendLoops runs producers goroutines that each append each records and
// waits for them.
func appendLoops(t *testing.T, l *Log, producers, each int) {
	t.Helper()
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
}

// TestGroupCommitGathersReturningAppenders checks that producers that each
// wait for their append share fsyncs all together rather than in cohorts
// taking turns. In the bubble an appender returns and appends again in no
// time, so while every producer is still at work each batch after the
// first holds all of them.
func TestGroupCommitGathersReturningAppenders(t *testing.T) {
	for _, producers := range []int{2, 4, 8} {
		t.Run(fmt.Sprintf("producers %d", producers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fsys := faulty()
				l, err := Open(t.TempDir(), Options{FS: fsys})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				slowSyncs(fsys, time.Millisecond)
				before := fsys.Count(walfs.OpSync)
				const each = 20
				appendLoops(t, l, producers, each)
				syncs := fsys.Count(walfs.OpSync) - before
				perSync := float64(producers*each) / float64(syncs)
				t.Logf("%d producers: %d appends took %d fsyncs, %.2f records each", producers, producers*each, syncs, perSync)
				// The first batch holds one record; the producers then
				// append in step and end together.
				if want := float64(producers) * 0.9; perSync < want {
					t.Errorf("%.2f records per fsync, want at least %.2f", perSync, want)
				}
			})
		})
	}
}

// TestLoneAppenderIsNotDelayed checks that a producer appending alone waits
// for its own fsync only, and, right after other producers stop, at most
// once for a bounded gather: half an fsync, up to maxGather.
func TestLoneAppenderIsNotDelayed(t *testing.T) {
	for _, fsync := range []time.Duration{time.Millisecond, 10 * time.Millisecond} {
		t.Run(fsync.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fsys := faulty()
				l, err := Open(t.TempDir(), Options{FS: fsys})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				slowSyncs(fsys, fsync)
				timed := func(i int) time.Duration {
					start := time.Now()
					mustAppend(t, l, 1, payloadOf(i))
					return time.Since(start)
				}
				// Alone from the start: never a gather.
				for i := range 5 {
					if d := timed(i); d != fsync {
						t.Fatalf("lone append %d took %v, want one fsync, %v", i, d, fsync)
					}
				}
				l.mu.Lock()
				misses := l.gatherMisses
				l.mu.Unlock()
				if misses != 0 {
					t.Fatalf("a lone producer ran out of time in %d gathers, want none", misses)
				}
				// After 4 producers, the first lone append may wait
				// for them, within the bound; the next ones do not.
				appendLoops(t, l, 4, 10)
				bound := fsync + min(fsync/2, maxGather)
				if d := timed(0); d > bound {
					t.Errorf("the first lone append after 4 producers took %v, want at most %v", d, bound)
				}
				for i := range 5 {
					if d := timed(i); d != fsync {
						t.Fatalf("lone append %d after that took %v, want one fsync, %v", i, d, fsync)
					}
				}
			})
		})
	}
}

// TestCloseEndsAGather checks that Close does not wait out a gather: the
// gathering leader writes and fsyncs at once, and its Append succeeds.
func TestCloseEndsAGather(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := faulty()
		l, err := Open(t.TempDir(), Options{FS: fsys})
		if err != nil {
			t.Fatal(err)
		}
		const fsync = 10 * time.Millisecond
		slowSyncs(fsys, fsync)
		appendLoops(t, l, 4, 2) // the last batch holds the 3 that end last
		done := make(chan error)
		start := time.Now()
		go func() {
			_, err := l.Append(1, []byte("gathering"))
			done <- err
		}()
		synctest.Wait() // the lone appender gathers
		l.mu.Lock()
		gathering := l.gatherWant > 0
		l.mu.Unlock()
		if !gathering {
			t.Fatal("the lone appender after 4 producers does not gather")
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Append gathering when Close began = %v", err)
		}
		// Its fsync and Close's (the latter finds nothing dirty).
		if d := time.Since(start); d != fsync {
			t.Errorf("Append and Close took %v, want one fsync, %v", d, fsync)
		}
	})
}

// TestNoWaitAppendsDoNotBreakTheGather checks that AppendNoWait, called
// between batches as a consumer settles what producers published, leaves a
// batch with Append callers to them, so that it is gathered too.
func TestNoWaitAppendsDoNotBreakTheGather(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := faulty()
		l, err := Open(t.TempDir(), Options{FS: fsys})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		slowSyncs(fsys, time.Millisecond)
		const producers, each = 4, 20
		published := make(chan int, producers*each)
		settled := make(chan struct{})
		go func() {
			defer close(settled)
			for i := range published {
				if err := l.AppendNoWait(2, []byte(payloadOf(i))); err != nil {
					t.Error(err)
				}
			}
		}()
		before := fsys.Count(walfs.OpSync)
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() {
				for i := range each {
					if _, err := l.Append(1, []byte(payloadOf(p*each+i))); err != nil {
						t.Error(err)
						return
					}
					published <- p*each + i
				}
			})
		}
		wg.Wait()
		syncs := fsys.Count(walfs.OpSync) - before
		close(published)
		<-settled
		perSync := float64(producers*each) / float64(syncs)
		t.Logf("%d appends and as many AppendNoWaits took %d fsyncs, %.2f appends each", producers*each, syncs, perSync)
		if want := float64(producers) * 0.9; perSync < want {
			t.Errorf("%.2f appends per fsync, want at least %.2f", perSync, want)
		}
	})
}
