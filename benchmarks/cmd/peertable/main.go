// Command peertable runs the peer benchmarks of this module and prints them
// as a markdown table: for each workload, herald's ns/msg and allocs/msg,
// and each peer's with its ratio to herald's.
//
//	go run ./cmd/peertable                  # runs go test -bench itself
//	go test -run '^$' -bench . -v . | go run ./cmd/peertable -stdin
//
// It runs, three times over,
//
//	go test -run '^$' -bench '^Benchmark(Peers|EventBusSync)$' -v -count 1 -benchtime 1s github.com/heraldmq/herald/benchmarks
//
// copying go test's output to standard error as it goes, and keeps the
// median of each benchmark's runs. Rounds of -count 1, rather than one
// -count 3, put the runs of herald and of its peers close together in
// time: a shared machine changes speed from one minute to the next, and
// go test -count runs the repeats of one benchmark back to back. -v makes go test print why a peer was
// skipped ("n/a: ...", "dropped: ..."); without it a missing peer shows as
// n/a.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"github.com/heraldmq/herald/benchmarks/internal/figures"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

const pkg = "github.com/heraldmq/herald/benchmarks"

// peers in the order of the table's columns, after herald.
var peers = []string{"chan", "watermill", "nats", "eventbus"}

// targets are DESIGN.md's: how many times slower than herald each peer
// should be on every workload it shares.
var targets = map[string]float64{"watermill": 50, "nats": 10, "eventbus": 20}

func main() {
	stdin := flag.Bool("stdin", false, "read go test -bench output from standard input instead of running it")
	count := flag.Int("count", 3, "rounds of go test -count 1: runs of each benchmark, of which the median is kept")
	benchtime := flag.String("benchtime", "1s", "go test -benchtime")
	bench := flag.String("bench", "^Benchmark(Peers|EventBusSync)$", "go test -bench")
	flag.Parse()

	var in io.Reader = os.Stdin
	var runErr error
	if !*stdin {
		var out bytes.Buffer
		for round := 1; round <= *count && runErr == nil; round++ {
			cmd := exec.Command("go", "test", "-run", "^$", "-bench", *bench, "-v",
				"-count", "1", "-benchtime", *benchtime, pkg)
			cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, os.Stderr), os.Stderr
			fmt.Fprintf(os.Stderr, "peertable: round %d of %d: %s\n", round, *count, strings.Join(cmd.Args, " "))
			if err := cmd.Run(); err != nil {
				runErr = fmt.Errorf("go test: %w", err)
			}
		}
		in = &out
	}
	res, err := parse(in)
	if err != nil {
		fatal(err)
	}
	if !*stdin {
		res.setup = fmt.Sprintf("%d rounds of -count 1 -benchtime %s", *count, *benchtime)
	}
	render(os.Stdout, res)
	if runErr != nil {
		fatal(runErr)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "peertable:", err)
	os.Exit(1)
}

// A result is what the runs of one benchmark gave.
type result struct {
	ns, allocs []float64
	skipped    []string // the reasons given by the runs that skipped
	failed     bool
}

type results struct {
	cpu, goos, goarch, procs, setup string
	byName                          map[string]*result // "1to1/herald", "EventBusSync/1to1"
	workloads                       []string           // in the order first seen
	others                          []string           // benchmarks outside BenchmarkPeers
}

func (r *results) get(name string) *result {
	res := r.byName[name]
	if res == nil {
		res = &result{}
		r.byName[name] = res
		if w, _, ok := strings.Cut(name, "/"); ok && !strings.HasPrefix(name, "~") {
			if !slices.Contains(r.workloads, w) {
				r.workloads = append(r.workloads, w)
			}
		}
	}
	return res
}

var (
	benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-(\d+))?\s+\d+\s+(.*)$`)
	endLine   = regexp.MustCompile(`^\s*--- (SKIP|FAIL): Benchmark(\S+)`)
	logLine   = regexp.MustCompile(`^\s+\S+\.go:\d+: (.*)$`)
)

// name maps a benchmark's name to its key in results.byName: "1to1/nats"
// for BenchmarkPeers/1to1/nats, and "~EventBusSync/1to1" for others.
func name(full string) string {
	if rest, ok := strings.CutPrefix(full, "Peers/"); ok {
		return rest
	}
	return "~" + full
}

func parse(in io.Reader) (*results, error) {
	r := &results{byName: map[string]*result{}}
	var lastLog string
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		text := sc.Text()
		for _, p := range []struct {
			prefix string
			to     *string
		}{{"cpu: ", &r.cpu}, {"goos: ", &r.goos}, {"goarch: ", &r.goarch}} {
			if v, ok := strings.CutPrefix(text, p.prefix); ok {
				*p.to = v
			}
		}
		if m := logLine.FindStringSubmatch(text); m != nil {
			lastLog = m[1]
			continue
		}
		if m := endLine.FindStringSubmatch(text); m != nil {
			if !strings.Contains(m[2], "/") {
				continue // the parent of sub-benchmarks
			}
			res := r.get(name(m[2]))
			if m[1] == "FAIL" {
				res.failed = true
			} else {
				res.skipped = append(res.skipped, lastLog)
			}
			lastLog = ""
			continue
		}
		m := benchLine.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		if m[2] != "" {
			r.procs = m[2]
		}
		res := r.get(name(m[1]))
		var ns, nsOp, allocs float64 = -1, -1, -1
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", text, err)
			}
			switch f[i+1] {
			case "ns/msg":
				ns = v
			case "ns/op":
				nsOp = v
			case "allocs/op":
				allocs = v
			}
		}
		if ns < 0 {
			ns = nsOp
		}
		res.ns = append(res.ns, ns)
		if allocs >= 0 {
			res.allocs = append(res.allocs, allocs)
		}
	}
	for n := range r.byName {
		if strings.HasPrefix(n, "~") {
			r.others = append(r.others, n)
		}
	}
	slices.Sort(r.others)
	return r, sc.Err()
}

func ratio(x float64) string {
	if x < 10 {
		return strconv.FormatFloat(x, 'f', 2, 64) + "×"
	}
	return strconv.FormatFloat(x, 'f', 0, 64) + "×"
}

func allocs(xs []float64) string {
	if len(xs) == 0 {
		return ""
	}
	a := figures.Median(xs)
	return ", " + strconv.FormatFloat(a, 'f', -1, 64) + " allocs"
}

// status is the cell of a benchmark that gave no number, or "".
func status(res *result) string {
	switch {
	case res == nil:
		return "n/a"
	case res.failed:
		return "**FAIL**"
	case len(res.ns) > 0 && len(res.skipped) == 0:
		return ""
	}
	for _, why := range res.skipped {
		if strings.HasPrefix(why, "dropped:") {
			return fmt.Sprintf("dropped in %d of %d runs (%s)",
				countDropped(res.skipped), len(res.skipped)+len(res.ns), strings.TrimSpace(strings.TrimPrefix(why, "dropped:")))
		}
	}
	if len(res.skipped) > 0 && res.skipped[0] != "" {
		return res.skipped[0]
	}
	return "n/a"
}

func countDropped(reasons []string) int {
	n := 0
	for _, why := range reasons {
		if strings.HasPrefix(why, "dropped:") {
			n++
		}
	}
	return n
}

func render(w io.Writer, r *results) {
	fmt.Fprintf(w, "%s/%s, %s, GOMAXPROCS %s, %s", r.goos, r.goarch, cmp.Or(r.cpu, "unknown cpu"), cmp.Or(r.procs, "1"), runtime.Version())
	if r.setup != "" {
		fmt.Fprintf(w, ", %s", r.setup)
	}
	fmt.Fprintln(w, "; medians of the runs.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | herald ns/msg | chan | watermill | nats | eventbus |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: |")
	var notes []string
	for _, wl := range r.workloads {
		h := r.byName[wl+"/herald"]
		hs := status(h)
		row := []string{wl}
		var hns float64
		if hs == "" {
			hns = figures.Median(h.ns)
			row = append(row, figures.Number(hns)+allocs(h.allocs))
		} else {
			row = append(row, hs)
		}
		for _, p := range peers {
			res := r.byName[wl+"/"+p]
			if s := status(res); s != "" {
				if strings.HasPrefix(s, "n/a:") {
					notes = append(notes, fmt.Sprintf("%s/%s %s", wl, p, s))
					s = "n/a"
				}
				row = append(row, s)
				continue
			}
			v := figures.Median(res.ns)
			cell := figures.Number(v)
			if hns > 0 {
				x := v / hns
				cell += " (" + ratio(x)
				if t, ok := targets[p]; ok {
					if x >= t {
						cell += " ✓"
					} else {
						cell += " ✗"
					}
				}
				cell += ")"
			}
			row = append(row, cell+allocs(res.allocs))
		}
		fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ns/msg: one message published and received by every consumer it is for (all 8 in fanout8), or one request answered (reqreply); allocs are per msg too.")
	fmt.Fprintln(w, "(N×): the peer's ns/msg over herald's, so above 1× herald is faster; ✓/✗: whether DESIGN.md's target holds (watermill ≥ 50×, nats ≥ 10×, eventbus ≥ 20×).")
	for _, n := range notes {
		fmt.Fprintln(w, "- "+n)
	}
	for _, o := range r.others {
		res := r.byName[o]
		if status(res) != "" {
			continue
		}
		full := strings.TrimPrefix(o, "~")
		line := fmt.Sprintf("- reference, not a peer workload: %s %s ns/msg%s", full, figures.Number(figures.Median(res.ns)), allocs(res.allocs))
		if _, wl, ok := strings.Cut(full, "/"); ok {
			if h := r.byName[wl+"/herald"]; status(h) == "" {
				line += fmt.Sprintf(" (%s herald's)", ratio(figures.Median(res.ns)/figures.Median(h.ns)))
			}
		}
		fmt.Fprintln(w, line)
	}
}
