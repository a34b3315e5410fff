package ring

import "testing"

func TestFIFOAcrossGrowth(t *testing.T) {
	var r Ring[int]
	next, want := 0, 0
	// Interleave pushes and pops so the head wraps while the buffer grows.
	for round := 0; round < 50; round++ {
		for i := 0; i < round+3; i++ {
			r.PushBack(next)
			next++
		}
		for i := 0; i < round+1; i++ {
			v, ok := r.PopFront()
			if !ok || v != want {
				t.Fatalf("PopFront = %d, %v; want %d, true", v, ok, want)
			}
			want++
		}
	}
	for r.Len() > 0 {
		v, _ := r.PopFront()
		if v != want {
			t.Fatalf("drain: got %d want %d", v, want)
		}
		want++
	}
	if want != next {
		t.Fatalf("popped %d of %d", want, next)
	}
	if _, ok := r.PopFront(); ok {
		t.Fatal("PopFront on empty ring reported ok")
	}
}

func TestDeque(t *testing.T) {
	r := New[string](3)
	r.PushBack("b")
	r.PushBack("c")
	r.PushFront("a")
	r.PushBack("d") // grows past the initial 4
	r.PushFront("0")
	want := []string{"0", "a", "b", "c", "d"}
	if r.Len() != len(want) {
		t.Fatalf("Len = %d", r.Len())
	}
	for i, w := range want {
		if got := *r.At(i); got != w {
			t.Fatalf("At(%d) = %q want %q", i, got, w)
		}
	}
	if v, _ := r.PopBack(); v != "d" {
		t.Fatalf("PopBack = %q", v)
	}
	if f := r.Front(); f == nil || *f != "0" {
		t.Fatalf("Front = %v", f)
	}
	var empty Ring[int]
	if empty.Front() != nil {
		t.Fatal("Front of empty ring not nil")
	}
	if _, ok := empty.PopBack(); ok {
		t.Fatal("PopBack on empty ring reported ok")
	}
}

func TestPopClearsSlot(t *testing.T) {
	r := New[*int](2)
	x := 1
	r.PushBack(&x)
	r.PopFront()
	if r.buf[0] != nil {
		t.Fatal("popped slot still references the value")
	}
}

func TestSteadyStateAllocatesNothing(t *testing.T) {
	r := New[int](64)
	allocs := testing.AllocsPerRun(1000, func() {
		r.PushBack(1)
		r.PopFront()
	})
	if allocs != 0 {
		t.Fatalf("allocs per push+pop = %v", allocs)
	}
}
