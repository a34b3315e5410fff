// Package leak finds goroutines that herald started and left running.
package leak

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Marker is the import-path prefix whose frames mark a goroutine as herald's.
const Marker = "github.com/heraldmq/herald"

// Find returns the stacks of running goroutines, other than the caller's,
// whose stack has a frame of herald's (excluding test functions of the
// package under test, which only the caller runs). It waits up to timeout
// for goroutines that are on their way out, as a stopped broker's are.
func Find(timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		leaked := scan()
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
	return fmt.Sprintf("%d goroutine(s) of herald still running:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
}

func scan() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var leaked []string
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the caller's own goroutine is always listed first
		}
		if isHeralds(string(g)) {
			leaked = append(leaked, string(g))
		}
	}
	return leaked
}

func isHeralds(stack string) bool {
	for _, line := range strings.Split(stack, "\n") {
		if !strings.HasPrefix(line, Marker) {
			continue
		}
		// Test code (and the leak checker itself) is the test's, not herald's.
		fn := line[strings.LastIndex(line, "/")+1:]
		if strings.Contains(fn, ".Test") || strings.Contains(fn, ".Benchmark") ||
			strings.Contains(fn, ".Example") || strings.Contains(fn, ".Fuzz") ||
			strings.HasPrefix(fn, "leak.") {
			continue
		}
		return true
	}
	return false
}
