// Command benchtab turns `go test -bench` output on standard input into a
// markdown table comparing each benchmark's "herald" sub-benchmark with its
// "chan" baseline from the same run:
//
//	go test -run '^$' -bench . -count 5 . | go run ./internal/benchtab
//
// With -count above 1 it keeps the median ns/op of each.
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
	fmt.Fprintln(out, "| benchmark | chan ns/op | herald ns/op | herald / chan | chan allocs/op | herald allocs/op |")
	fmt.Fprintln(out, "| --- | ---: | ---: | ---: | ---: | ---: |")
	for _, name := range order {
		base, ok := strings.CutSuffix(name, "/herald")
		if !ok {
			continue
		}
		h, c := results[name], results[base+"/chan"]
		if c == nil {
			continue
		}
		hn, cn := median(h.ns), median(c.ns)
		fmt.Fprintf(out, "| %s | %.0f | %.0f | %.2f× | %s | %s |\n",
			strings.TrimPrefix(base, "Benchmark"), cn, hn, hn/cn, c.allocs, h.allocs)
	}
	return nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
