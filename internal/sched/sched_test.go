package sched

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestFiresInDueOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []int
		s := New(func(v int) {
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
		})
		defer s.Close()
		start := time.Now()
		// Scheduled out of order; equal times keep insertion order.
		s.At(start.Add(3*time.Second), 3)
		s.At(start.Add(1*time.Second), 1)
		s.At(start.Add(2*time.Second), 20)
		s.At(start.Add(2*time.Second), 21)
		s.At(start.Add(-time.Second), 0) // already due

		time.Sleep(1500 * time.Millisecond) // fake time inside the bubble
		synctest.Wait()
		mu.Lock()
		if len(got) != 2 || got[0] != 0 || got[1] != 1 {
			t.Fatalf("after 1.5s fired %v, want [0 1]", got)
		}
		mu.Unlock()

		time.Sleep(2 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		want := []int{0, 1, 20, 21, 3}
		if len(got) != len(want) {
			t.Fatalf("fired %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("fired %v, want %v", got, want)
			}
		}
		if s.Len() != 0 {
			t.Fatalf("Len = %d after all fired", s.Len())
		}
	})
}

func TestEarlierItemRearmsTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fired := make(chan int, 2)
		s := New(func(v int) { fired <- v })
		defer s.Close()
		s.At(time.Now().Add(time.Hour), 1)
		synctest.Wait() // the goroutine is parked on the hour-long timer
		s.At(time.Now().Add(time.Second), 2)
		start := time.Now()
		if v := <-fired; v != 2 {
			t.Fatalf("first fired %d, want 2", v)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("fired after %v, want 1s", d)
		}
	})
}

func TestFireMayScheduleAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		done := make(chan struct{})
		var s *Scheduler[int]
		s = New(func(v int) {
			if v < 3 {
				s.At(time.Now().Add(time.Millisecond), v+1)
				return
			}
			close(done)
		})
		defer s.Close()
		s.At(time.Now(), 0)
		<-done
	})
}

func TestCloseDiscardsAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(func(int) { t.Error("fired after Close") })
		s.At(time.Now().Add(time.Second), 1)
		s.Close()
		s.Close() // idempotent
		if s.At(time.Now(), 2) {
			t.Fatal("At after Close reported true")
		}
		time.Sleep(2 * time.Second)
		// synctest.Test fails if the scheduler goroutine were still running.
	})
}

func TestCloseUnstarted(t *testing.T) {
	s := New(func(int) {})
	s.Close()
}

// Stop from inside fire returns at once, and the goroutine exits after.
func TestStopFromFire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s *Scheduler[int]
		stopped := make(chan bool, 1)
		s = New(func(int) { stopped <- s.Stop() })
		s.At(time.Now(), 1)
		if started := <-stopped; !started {
			t.Fatal("Stop from fire reported the goroutine not started")
		}
		s.Close() // waits for the goroutine, which exits after fire
		if s.At(time.Now(), 2) {
			t.Fatal("At after Stop accepted an item")
		}
	})
}
