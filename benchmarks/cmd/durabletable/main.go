// Command durabletable runs the durable-queue benchmarks of this module and
// prints them as markdown tables: each side's ns/msg and msgs/s, and the
// ratios that DESIGN.md's "durable queue, sync always" target is about,
// herald's rate against the raw fsync'd appends and against embedded NATS
// JetStream.
//
//	go run ./cmd/durabletable                          # runs go test -bench itself
//	go test -run '^$' -bench Durable -v . | go run ./cmd/durabletable -stdin
//
// It runs, five times over,
//
//	go test -run '^$' -bench '^BenchmarkDurable$/^alternate$' -v -count 1 -benchtime 1000x github.com/heraldmq/herald/benchmarks
//
// copying go test's output to standard error as it goes. The
// BenchmarkDurable/alternate/<producers> benchmarks run every side in turns,
// so that a side is compared with the others within each run; a ratio is
// the median over the runs of the ratio in each run, which cancels the
// disk's drift from one run to the next better than a ratio of medians. The
// benchmarks that time one side alone (BenchmarkDurable/<side>/<producers>,
// -bench '^BenchmarkDurable$') are shown in a second table, for reference.
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

// order is the order of the sides' columns; sides not in it come after.
var order = []string{"raw-fsync", "raw-group", "jetstream", "jetstream-wq", "memory", "herald"}

func main() {
	stdin := flag.Bool("stdin", false, "read go test -bench -v output from standard input instead of running it")
	count := flag.Int("count", 5, "rounds of go test -count 1: runs of each benchmark, of which the median is kept")
	benchtime := flag.String("benchtime", "1000x", "go test -benchtime: 1000x moves 1,000 messages on every side")
	bench := flag.String("bench", "^BenchmarkDurable$/^alternate$", "go test -bench")
	tags := flag.String("tags", "", "go test -tags, passed on")
	flag.Parse()

	var in io.Reader = os.Stdin
	var runErr error
	if !*stdin {
		var out bytes.Buffer
		for round := 1; round <= *count && runErr == nil; round++ {
			args := []string{"test", "-run", "^$", "-bench", *bench, "-v", "-count", "1", "-benchtime", *benchtime}
			if *tags != "" {
				args = append(args, "-tags", *tags)
			}
			cmd := exec.Command("go", append(args, pkg)...)
			cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, os.Stderr), os.Stderr
			fmt.Fprintf(os.Stderr, "durabletable: round %d of %d: %s\n", round, *count, strings.Join(cmd.Args, " "))
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
	fmt.Fprintln(os.Stderr, "durabletable:", err)
	os.Exit(1)
}

// A run is one run of BenchmarkDurable/alternate/<producers>: each side's
// ns/msg, by side, and its records per fsync, by "<side>-rec/fsync", for
// the sides that report it.
type run map[string]float64

type results struct {
	cpu, goos, goarch, procs, setup string
	producers                       []string             // in the order first seen
	alternate                       map[string][]run     // by producers
	alone                           map[string][]float64 // "<side>/<producers>": ns/msg of each run
	perFsync                        map[string][]float64 // "<side>/<producers>": rec/fsync of each run
	sides                           []string             // every side seen, in column order
	failed                          []string             // benchmarks that failed or were skipped
}

var (
	benchLine = regexp.MustCompile(`^BenchmarkDurable/(\S+?)/(\d+)(?:-(\d+))?\s+\d+\s+(.*)$`)
	endLine   = regexp.MustCompile(`^\s*--- (SKIP|FAIL): BenchmarkDurable/(\S+)`)
)

func parse(in io.Reader) (*results, error) {
	r := &results{alternate: map[string][]run{}, alone: map[string][]float64{}, perFsync: map[string][]float64{}}
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
		if m := endLine.FindStringSubmatch(text); m != nil {
			r.failed = append(r.failed, fmt.Sprintf("BenchmarkDurable/%s (%s)", m[2], strings.ToLower(m[1])))
			continue
		}
		m := benchLine.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		name, prod := m[1], m[2]
		if m[3] != "" {
			r.procs = m[3]
		}
		if !slices.Contains(r.producers, prod) {
			r.producers = append(r.producers, prod)
		}
		metrics := map[string]float64{}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", text, err)
			}
			metrics[f[i+1]] = v
		}
		if name == "alternate" {
			ru := run{}
			for unit, v := range metrics {
				if side, ok := strings.CutSuffix(unit, "-ns/msg"); ok {
					ru[side] = v
					r.addSide(side)
				} else if strings.HasSuffix(unit, "-rec/fsync") {
					ru[unit] = v
				}
			}
			r.alternate[prod] = append(r.alternate[prod], ru)
			continue
		}
		r.addSide(name)
		ns, ok := metrics["ns/msg"]
		if !ok {
			ns = metrics["ns/op"]
		}
		r.alone[name+"/"+prod] = append(r.alone[name+"/"+prod], ns)
		if v, ok := metrics["rec/fsync"]; ok {
			r.perFsync[name+"/"+prod] = append(r.perFsync[name+"/"+prod], v)
		}
	}
	return r, sc.Err()
}

func (r *results) addSide(side string) {
	if slices.Contains(r.sides, side) {
		return
	}
	r.sides = append(r.sides, side)
	slices.SortStableFunc(r.sides, func(a, b string) int { return cmp.Compare(rank(a), rank(b)) })
}

func rank(side string) int {
	if i := slices.Index(order, side); i >= 0 {
		return i
	}
	return len(order)
}

// column is the values of key in the alternate runs of producers that
// have it.
func (r *results) column(producers, key string) []float64 {
	var xs []float64
	for _, ru := range r.alternate[producers] {
		if v, ok := ru[key]; ok {
			xs = append(xs, v)
		}
	}
	return xs
}

// rate is a's throughput over b's in the runs of producers that have both:
// the median of b's ns/msg over a's in each run. ok is false if none has.
func (r *results) rate(producers, a, b string) (x float64, runs int, ok bool) {
	var xs []float64
	for _, ru := range r.alternate[producers] {
		if na, nb := ru[a], ru[b]; na > 0 && nb > 0 {
			xs = append(xs, nb/na)
		}
	}
	if len(xs) == 0 {
		return 0, 0, false
	}
	return figures.Median(xs), len(xs), true
}

// A comparison is a cell of the ratio table: a's rate over b's, and the
// least that DESIGN.md asks for (0: none).
type comparison struct {
	a, b   string
	target float64
}

// comparisons for each number of producers: DESIGN.md's targets are for
// herald at 1 producer against the raw fsync'd appends, and at 4 against
// JetStream and the raw rate, which for 4 producers is group commit's.
var comparisons = map[string][]comparison{
	"1": {
		{"herald", "raw-fsync", 0.8},
		{"herald", "jetstream", 0},
		{"herald", "jetstream-wq", 0},
		{"jetstream", "raw-fsync", 0},
		{"jetstream-wq", "raw-fsync", 0},
		{"raw-group", "raw-fsync", 0},
	},
	"4": {
		{"herald", "raw-group", 0.5},
		{"herald", "jetstream", 3},
		{"herald", "jetstream-wq", 0},
		{"herald", "raw-fsync", 0},
		{"jetstream", "raw-group", 0},
		{"jetstream-wq", "raw-group", 0},
		{"raw-group", "raw-fsync", 0},
	},
}

// ratio formats a rate ratio: a percentage below 1, a multiple above.
func ratio(x float64) string {
	if x < 1 {
		return strconv.FormatFloat(100*x, 'f', 0, 64) + "%"
	}
	if x < 10 {
		return strconv.FormatFloat(x, 'f', 2, 64) + "×"
	}
	return strconv.FormatFloat(x, 'f', 0, 64) + "×"
}

func target(x float64) string {
	if x < 1 {
		return "≥ " + strconv.FormatFloat(100*x, 'f', 0, 64) + "%"
	}
	return "≥ " + strconv.FormatFloat(x, 'f', -1, 64) + "×"
}

// cell is a side's median ns/msg and the rate it makes.
func cell(xs []float64) string {
	v := figures.Median(xs)
	return fmt.Sprintf("%s (%s/s)", figures.Number(v), figures.Number(1e9/v))
}

func render(w io.Writer, r *results) {
	r.addSide("herald") // its column says how to get it
	fmt.Fprintf(w, "%s/%s, %s, GOMAXPROCS %s, %s", r.goos, r.goarch, cmp.Or(r.cpu, "unknown cpu"), cmp.Or(r.procs, "1"), runtime.Version())
	if r.setup != "" {
		fmt.Fprintf(w, ", %s", r.setup)
	}
	fmt.Fprintln(w, "; medians of the runs.")
	header := func(title string) {
		fmt.Fprintln(w)
		fmt.Fprintln(w, title)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| producers | "+strings.Join(r.sides, " | ")+" |")
		fmt.Fprintln(w, "| ---"+strings.Repeat(" | ---:", len(r.sides))+" |")
	}

	if len(r.alternate) > 0 {
		header("ns/msg (msgs/s), every side in turns (BenchmarkDurable/alternate/<producers>):")
		for _, p := range r.producers {
			if len(r.alternate[p]) == 0 {
				continue
			}
			row := []string{p}
			for _, s := range r.sides {
				xs := r.column(p, s)
				if len(xs) == 0 {
					row = append(row, "n/a")
					continue
				}
				c := cell(xs)
				if f := r.column(p, s+"-rec/fsync"); len(f) > 0 {
					c += fmt.Sprintf(", %.2f rec/fsync", figures.Median(f))
				}
				row = append(row, c)
			}
			fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Throughput ratios, each the median over the runs of the ratio within a run (N% or N×: the first side's msgs/s over the second's; ✓/✗: DESIGN.md's target):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| producers | sides | ratio |")
		fmt.Fprintln(w, "| --- | --- | ---: |")
		for _, p := range r.producers {
			if len(r.alternate[p]) == 0 {
				continue
			}
			for _, c := range comparisons[p] {
				x, runs, ok := r.rate(p, c.a, c.b)
				var v string
				switch {
				case !ok && (c.a == "herald" || c.b == "herald"):
					v = "n/a"
				case !ok:
					v = "n/a"
				default:
					v = ratio(x)
					if c.target > 0 {
						mark := "✗"
						if x >= c.target {
							mark = "✓"
						}
						v += fmt.Sprintf(" %s (target %s)", mark, target(c.target))
					}
					if runs < len(r.alternate[p]) {
						v += fmt.Sprintf(", %d of %d runs", runs, len(r.alternate[p]))
					}
				}
				fmt.Fprintf(w, "| %s | %s / %s | %s |\n", p, c.a, c.b, v)
			}
		}
	}

	if len(r.alone) > 0 {
		header("ns/msg (msgs/s), each side timed alone (BenchmarkDurable/<side>/<producers>), for reference:")
		for _, p := range r.producers {
			row := []string{p}
			seen := false
			for _, s := range r.sides {
				xs := r.alone[s+"/"+p]
				if len(xs) == 0 {
					row = append(row, "n/a")
					continue
				}
				seen = true
				c := cell(xs)
				if f := r.perFsync[s+"/"+p]; len(f) > 0 {
					c += fmt.Sprintf(", %.2f rec/fsync", figures.Median(f))
				}
				row = append(row, c)
			}
			if seen {
				fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
			}
		}
	}

	if len(r.failed) > 0 {
		fmt.Fprintln(w)
		for _, f := range r.failed {
			fmt.Fprintln(w, "- "+f)
		}
	}
}
