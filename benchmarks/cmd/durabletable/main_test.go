package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/heraldmq/herald/benchmarks
cpu: AMD EPYC
BenchmarkDurable/raw-fsync/1-2         	     100	   2000000 ns/op	       500.0 msgs/s	   2000000 ns/msg	      13 B/op	       0 allocs/op
BenchmarkDurable/raw-group/4-2         	     100	    500000 ns/op	      2000 msgs/s	    500000 ns/msg	         2.000 rec/fsync	     192 B/op	       0 allocs/op
BenchmarkDurable/alternate/1-2         	     100	   9000000 ns/op	   1000000 herald-ns/msg	   2000000 jetstream-ns/msg	      5000 memory-ns/msg   900000 raw-fsync-ns/msg	   1000000 raw-group-ns/msg	   14840 B/op	      85 allocs/op
BenchmarkDurable/alternate/1-2         	     100	   9000000 ns/op	   2000000 herald-ns/msg	   4000000 jetstream-ns/msg	      5000 memory-ns/msg   1800000 raw-fsync-ns/msg	   1000000 raw-group-ns/msg	   14840 B/op	      85 allocs/op
BenchmarkDurable/alternate/1-2         	     100	   9000000 ns/op	   1500000 herald-ns/msg	   3000000 jetstream-ns/msg	      5000 memory-ns/msg   600000 raw-fsync-ns/msg	   1000000 raw-group-ns/msg	   14840 B/op	      85 allocs/op
BenchmarkDurable/alternate/4-2         	     100	   9000000 ns/op	    400000 jetstream-ns/msg	      5000 memory-ns/msg	   1000000 raw-fsync-ns/msg	    500000 raw-group-ns/msg	         2.200 raw-group-rec/fsync	   14840 B/op	      85 allocs/op
BenchmarkDurable/jetstream-wq/4
    durable_jetstream_test.go:80: consumer: boom
--- FAIL: BenchmarkDurable/jetstream-wq/4
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
		// medians of each side's ns/msg; herald's column says how to get it
		"| producers | raw-fsync | raw-group | jetstream | memory | herald |",
		"| 1 | 900,000 (1,111/s) | 1,000,000 (1,000/s) | 3,000,000 (333/s) | 5,000 (200,000/s) | 1,500,000 (667/s) |",
		"| 4 | 1,000,000 (1,000/s) | 500,000 (2,000/s), 2.20 rec/fsync | 400,000 (2,500/s) | 5,000 (200,000/s) | n/a |",
		// the median of the ratios within each run (0.9, 0.9, 0.4), not
		// the ratio of the medians (900,000 / 1,500,000)
		"| 1 | herald / raw-fsync | 90% ✓ (target ≥ 80%) |",
		"| 1 | herald / jetstream | 2.00× |",
		"| 4 | herald / jetstream | n/a |",
		"| 4 | jetstream / raw-group | 1.25× |",
		"| 4 | raw-group / raw-fsync | 2.00× |",
		// the sides timed alone
		"| 1 | 2,000,000 (500/s) | n/a | n/a | n/a | n/a |",
		"| 4 | n/a | 500,000 (2,000/s), 2.00 rec/fsync | n/a | n/a | n/a |",
		"- BenchmarkDurable/jetstream-wq/4 (fail)",
		"GOMAXPROCS 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRatioTarget(t *testing.T) {
	r, err := parse(strings.NewReader(`BenchmarkDurable/alternate/1-2 10 1 ns/op 1000 herald-ns/msg 700 raw-fsync-ns/msg
BenchmarkDurable/alternate/4-2 10 1 ns/op 300 herald-ns/msg 1000 jetstream-ns/msg 100 raw-group-ns/msg
`))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	render(&b, r)
	for _, want := range []string{
		"| 1 | herald / raw-fsync | 70% ✗ (target ≥ 80%) |",
		"| 4 | herald / jetstream | 3.33× ✓ (target ≥ 3×) |",
		"| 4 | herald / raw-group | 33% ✗ (target ≥ 50%) |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
