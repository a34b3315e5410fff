package ring

import (
	"runtime"
	"sync"
	"testing"
)

func TestMPSCFullAndEmpty(t *testing.T) {
	q := NewMPSC[int](3) // rounds up to 4
	if _, ok := q.TryPop(); ok {
		t.Fatal("TryPop on an empty queue reported a value")
	}
	for lap := range 3 { // wrap around the slots several times
		for i := range 4 {
			if !q.TryPush(lap*10 + i) {
				t.Fatalf("lap %d: push %d refused below capacity", lap, i)
			}
		}
		if q.TryPush(99) {
			t.Fatalf("lap %d: push accepted into a full queue", lap)
		}
		for i := range 4 {
			v, ok := q.TryPop()
			if !ok || v != lap*10+i {
				t.Fatalf("lap %d: TryPop = %d, %v; want %d, true", lap, v, ok, lap*10+i)
			}
		}
		if _, ok := q.TryPop(); ok {
			t.Fatalf("lap %d: TryPop on a drained queue reported a value", lap)
		}
	}
}

// TestMPSCConcurrentProducers pushes from several goroutines while one
// consumer pops: every value arrives once, each producer's in its order.
func TestMPSCConcurrentProducers(t *testing.T) {
	const producers, per = 4, 20000
	q := NewMPSC[[2]int](64)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range per {
				for !q.TryPush([2]int{p, i}) {
					runtime.Gosched() // full: let the consumer catch up
				}
			}
		})
	}
	next := make([]int, producers)
	for got := 0; got < producers*per; {
		v, ok := q.TryPop()
		if !ok {
			runtime.Gosched()
			continue
		}
		if v[1] != next[v[0]] {
			t.Fatalf("producer %d: got %d, want %d", v[0], v[1], next[v[0]])
		}
		next[v[0]]++
		got++
	}
	wg.Wait()
	if _, ok := q.TryPop(); ok {
		t.Fatal("a value arrived beyond what was pushed")
	}
}

// A claimed position holds back TryPop, and what was pushed behind it,
// until it is filled; Pending tells a stalled claim from an empty queue.
func TestMPSCClaimHoldsBackPop(t *testing.T) {
	q := NewMPSC[int](4)
	if q.Pending() {
		t.Fatal("Pending on an empty queue")
	}
	pos, ok := q.Claim()
	if !ok {
		t.Fatal("Claim on an empty queue refused")
	}
	if !q.TryPush(2) {
		t.Fatal("push behind a claim refused")
	}
	if v, ok := q.TryPop(); ok {
		t.Fatalf("TryPop = %d past an unfilled claim", v)
	}
	if !q.Pending() {
		t.Fatal("Pending = false with a claim unfilled")
	}
	q.Fill(pos, 1)
	for _, want := range []int{1, 2} {
		if v, ok := q.TryPop(); !ok || v != want {
			t.Fatalf("TryPop = %d, %v; want %d", v, ok, want)
		}
	}
	if q.Pending() {
		t.Fatal("Pending after everything was popped")
	}
}
