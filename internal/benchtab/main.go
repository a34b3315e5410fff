// Command benchtab turns `go test -bench` output on standard input into a
// markdown table comparing each benchmark's "herald" sub-benchmark with its
// "chan" baseline from the same run:
//
//	for i in 1 2 3 4 5; do go test -run '^$' -bench . -count 1 .; done | go run ./internal/benchtab
//
// It pairs the i-th herald result of a benchmark with its i-th chan result
// and reports the median of those ratios, with their range, beside the
// median ns/op of each side. Run rounds of -count 1, as above, rather than
// one -count 5: go test runs the five of one sub-benchmark back to back,
// so a chan result and its herald pair would be measured seconds apart,
// and a shared machine changes speed on that scale.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?`)

type result struct {
	ns     []float64
	allocs string
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtab:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	results := map[string]*result{}
	var order []string
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return err
		}
		r := results[m[1]]
		if r == nil {
			r = &result{}
			results[m[1]] = r
			order = append(order, m[1])
		}
		r.ns = append(r.ns, ns)
		r.allocs = m[4]
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintln(out, "| benchmark | chan ns/op | herald ns/op | herald / chan | ratio range | chan allocs/op | herald allocs/op |")
	fmt.Fprintln(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, name := range order {
		base, ok := strings.CutSuffix(name, "/herald")
		if !ok {
			continue
		}
		h, c := results[name], results[base+"/chan"]
		if c == nil {
			continue
		}
		var ratios []float64
		for i := range min(len(h.ns), len(c.ns)) {
			ratios = append(ratios, h.ns[i]/c.ns[i])
		}
		sort.Float64s(ratios)
		fmt.Fprintf(out, "| %s | %.0f | %.0f | %.2f× | %.2f–%.2f | %s | %s |\n",
			strings.TrimPrefix(base, "Benchmark"), median(c.ns), median(h.ns),
			median(ratios), ratios[0], ratios[len(ratios)-1], c.allocs, h.allocs)
	}
	return nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
