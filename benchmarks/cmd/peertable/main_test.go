package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/heraldmq/herald/benchmarks
cpu: AMD EPYC
BenchmarkPeers/1to1/chan-2         	 6550214	       100.0 ns/op	       100.0 ns/msg	     144 B/op	       1 allocs/op
BenchmarkPeers/1to1/herald-2       	 4321916	       200.0 ns/op	       200.0 ns/msg	     172 B/op	       1 allocs/op
BenchmarkPeers/1to1/herald-2       	 4321916	       400.0 ns/op	       400.0 ns/msg	     172 B/op	       1 allocs/op
BenchmarkPeers/1to1/herald-2       	 4321916	       300.0 ns/op	       300.0 ns/msg	     172 B/op	       1 allocs/op
BenchmarkPeers/1to1/watermill-2    	  145060	     30000 ns/op	     30000 ns/msg	    2340 B/op	      26 allocs/op
BenchmarkPeers/1to1/nats
    nats_test.go:80: dropped: core NATS slow consumer (10 of 20 received)
--- SKIP: BenchmarkPeers/1to1/nats
BenchmarkPeers/1to1/eventbus
    peers_test.go:25: n/a: no such thing
--- SKIP: BenchmarkPeers/1to1/eventbus
BenchmarkEventBusSync/1to1-2       	 4807260	       150.0 ns/op	       150.0 ns/msg	     184 B/op	       3 allocs/op
`

func TestRender(t *testing.T) {
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	render(&b, r)
	out := b.String()
	for _, want := range []string{
		"| 1to1 | 300, 1 allocs | 100 (0.33×), 1 allocs | 30,000 (100× ✓), 26 allocs | dropped in 1 of 1 runs (core NATS slow consumer (10 of 20 received)) | n/a |",
		"- 1to1/eventbus n/a: no such thing",
		"EventBusSync/1to1 150 ns/msg, 3 allocs (0.50× herald's)",
		"GOMAXPROCS 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
