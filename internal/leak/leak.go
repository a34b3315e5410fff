// Package leak finds goroutines that herald started and left running.
//
// herald labels the goroutines that run for a broker (its handler
// goroutines, a Consume call's own, its scheduler) with the pprof label
// glabel.Key, so that a check can look at one broker's goroutines while
// other brokers run in parallel tests.
package leak

import (
	"bytes"
	"fmt"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/glabel"
)

// Marker is the import-path prefix whose frames mark a goroutine as herald's.
const Marker = "github.com/heraldmq/herald"

// Scope says which goroutines running herald's code a check looks at.
type Scope struct {
	// Broker, if not empty, limits the check to the goroutines labeled
	// as this broker's (glabel.Of), and unlabeled ones with Unlabeled.
	Broker string
	// Unlabeled adds the goroutines that run herald's code but carry no
	// broker label: calls in progress on goroutines herald did not start.
	Unlabeled bool
}

// All is the scope of every goroutine running herald's code.
var All = Scope{Unlabeled: true}

// Find returns the stacks of running goroutines, other than the caller's,
// whose stack has a frame of herald's (excluding test functions of the
// package under test, which only the caller runs). It waits up to timeout
// for goroutines that are on their way out, as a stopped broker's are.
func Find(timeout time.Duration) []string { return FindIn(All, timeout) }

// FindIn is Find limited to the goroutines in scope.
func FindIn(scope Scope, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		leaked := scan(scope)
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		// Exiting goroutines need the scheduler to run; polling is the
		// only way to observe that from outside them.
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Report formats leaked stacks for a test failure.
func Report(leaked []string) string {
	return fmt.Sprintf("%d goroutine(s) of herald still running:\n\n%s", count(leaked), strings.Join(leaked, "\n\n"))
}

// count adds up the goroutines of records, which start with their number.
func count(records []string) int {
	n := 0
	for _, r := range records {
		k, _, _ := strings.Cut(r, " ")
		c, err := strconv.Atoi(k)
		if err != nil {
			c = 1
		}
		n += c
	}
	return n
}

// scan reads the goroutine profile, in which goroutines with the same stack
// and labels make one record: a count line, an optional labels line, then
// one line per frame.
func scan(scope Scope) []string {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 1)
	label := fmt.Sprintf("%q:%q", glabel.Key, scope.Broker)
	var leaked []string
	records := strings.Split(buf.String(), "\n\n")
	for _, r := range records {
		if !strings.Contains(r, " @ ") {
			continue // the profile's header
		}
		r = strings.TrimPrefix(r, "goroutine profile: ")
		if _, rest, ok := strings.Cut(r, "\n"); ok && strings.HasPrefix(r, "total ") {
			r = rest
		}
		labels := ""
		if _, rest, ok := strings.Cut(r, "\n# labels: "); ok {
			labels, _, _ = strings.Cut(rest, "\n")
		}
		labeled := strings.Contains(labels, fmt.Sprintf("%q:", glabel.Key))
		switch {
		case !isHeralds(r):
		case !labeled && !scope.Unlabeled:
		case labeled && scope.Broker != "" && !strings.Contains(labels, label):
		default:
			leaked = append(leaked, r)
		}
	}
	return leaked
}

// isHeralds reports whether a profile record is of a goroutine running
// herald's code, other than the checker's.
func isHeralds(record string) bool {
	heralds := false
	for _, line := range strings.Split(record, "\n") {
		// A frame: "#\t0x4ec184\tpkg.Func+0x4e4\tfile:line".
		f := strings.Split(line, "\t")
		if len(f) < 3 || f[0] != "#" {
			continue
		}
		fn := f[2]
		if strings.HasPrefix(fn, Marker+"/internal/leak.") {
			return false // the caller's own goroutine
		}
		if !strings.HasPrefix(fn, Marker) {
			continue
		}
		// Test code is the test's, not herald's.
		name := fn[strings.LastIndex(fn, "/")+1:]
		if strings.Contains(name, ".Test") || strings.Contains(name, ".Benchmark") ||
			strings.Contains(name, ".Example") || strings.Contains(name, ".Fuzz") {
			continue
		}
		heralds = true
	}
	return heralds
}
