//go:build unix

package wal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test runs its own test binary as a child that appends from
// several goroutines and prints each record's id once Append has returned,
// kills it with SIGKILL at a random moment, reopens the log and checks that
// every acknowledged record is there and nothing else is.
const (
	crashChildEnv  = "HERALD_WAL_CRASH_CHILD" // the child's directory and round, "dir:round"
	crashRoundsEnv = "HERALD_CRASH_ROUNDS"    // rounds to run; 20 by default
	crashProducers = 4
	crashSegment   = 16 << 10 // small, so that crashes land in rotations too
)

// crashID identifies a record: the round of the child that appended it,
// the goroutine, and the goroutine's sequence number.
type crashID struct{ round, g, seq int }

func (id crashID) String() string { return fmt.Sprintf("%d.%d.%d", id.round, id.g, id.seq) }

// released says whether the child releases the record once it is written.
func (id crashID) released() bool { return id.seq%3 == 0 }

// payload is the record's payload. Goroutine 0 appends records of up to
// 12 KB, so that batches span pages and a kill can tear a write.
func (id crashID) payload() []byte {
	n := id.seq * 7 % 300
	if id.g == 0 {
		n = id.seq * 997 % 12000
	}
	return []byte(id.String() + "|" + strings.Repeat(string(rune('a'+id.seq%26)), n))
}

func parseCrashPayload(p []byte) (crashID, bool) {
	s, _, ok := strings.Cut(string(p), "|")
	if !ok {
		return crashID{}, false
	}
	var id crashID
	if _, err := fmt.Sscanf(s, "%d.%d.%d", &id.round, &id.g, &id.seq); err != nil {
		return crashID{}, false
	}
	return id, string(id.payload()) == string(p)
}

func TestCrash(t *testing.T) {
	if arg := os.Getenv(crashChildEnv); arg != "" {
		dir, round, _ := strings.Cut(arg, ":")
		r, _ := strconv.Atoi(round)
		crashChild(dir, r)
		return
	}
	rounds := 20
	if s := os.Getenv(crashRoundsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", crashRoundsEnv, s)
		}
		rounds = n
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
	acked := map[crashID]bool{}
	gone := map[crashID]bool{} // released: may or may not come back
	lastAck := map[[2]int]int{}
	var torn, tornBytes int64
	for round := range rounds {
		// Kill after a random number of acknowledged appends, or, every
		// fourth round, a random time after the start, which may fall
		// while the child is still recovering.
		killAfter, killAt := 1+rng.IntN(200), time.Duration(0)
		if round%4 == 3 {
			killAfter, killAt = -1, time.Duration(rng.IntN(int(150*time.Millisecond)))
		}
		out := runCrashChild(t, dir, round, killAfter, killAt)
		for _, line := range out {
			kind, s, _ := strings.Cut(line, " ")
			var id crashID
			if _, err := fmt.Sscanf(s, "%d.%d.%d", &id.round, &id.g, &id.seq); err != nil {
				t.Fatalf("round %d: child printed %q", round, line)
			}
			switch kind {
			case "A":
				acked[id] = true
				lastAck[[2]int{id.round, id.g}] = max(lastAck[[2]int{id.round, id.g}], id.seq+1)
			case "R":
				gone[id] = true
			}
		}
		l, err := Open(dir, Options{SegmentSize: crashSegment})
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL: %v", round, err)
		}
		rc := l.Recovery()
		if rc.Torn.Bytes > 0 {
			torn++
			tornBytes += rc.Torn.Bytes
		}
		found := map[crashID]bool{}
		err = l.Replay(func(pos Pos, typ byte, p []byte) error {
			id, ok := parseCrashPayload(p)
			switch {
			case !ok:
				return fmt.Errorf("record at %+v: payload %q was never appended", pos, p)
			case typ == 2:
				return nil // a note: AppendNoWait promises nothing
			case found[id]:
				return fmt.Errorf("record %v recovered twice", id)
			case id.seq > lastAck[[2]int{id.round, id.g}]:
				// Appends are sequential per goroutine: at most one
				// past the last acknowledged can have been in flight.
				return fmt.Errorf("record %v recovered, but goroutine %d.%d had only %d acknowledged", id, id.round, id.g, lastAck[[2]int{id.round, id.g}])
			}
			found[id] = true
			return nil
		})
		l.Close()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for id := range acked {
			if !gone[id] && !found[id] {
				t.Fatalf("round %d: record %v was acknowledged and not released, but is not recovered", round, id)
			}
		}
	}
	t.Logf("%d rounds of SIGKILL: %d acknowledged records, %d released; %d recoveries cut a torn tail (%d bytes in all)",
		rounds, len(acked), len(gone), torn, tornBytes)
}

// runCrashChild starts a child on dir, kills it once it has acknowledged
// killAfter appends or killAt has passed, and returns every line it printed.
func runCrashChild(t *testing.T, dir string, round, killAfter int, killAt time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d", crashChildEnv, dir, round))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() { cmd.Process.Signal(syscall.SIGKILL) }
	if killAfter < 0 {
		timer := time.AfterFunc(killAt, kill)
		defer timer.Stop()
	}
	var lines []string
	acks := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "A ") {
			if acks++; acks == killAfter {
				kill()
			}
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child ended with %v before it was killed:\n%s", round, err, stderr.String())
	}
	return lines
}

// crashChild appends until it is killed, printing "A id" once a record's
// Append has returned and "R id" before it calls Release: from then on the
// record may be gone, with its segment.
func crashChild(dir string, round int) {
	l, err := Open(dir, Options{SegmentSize: crashSegment})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	say := func(kind string, id crashID) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf("%s %v\n", kind, id) // one write: whole lines or nothing
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	// Records are live again after Open. The parent has checked those of
	// earlier rounds: release them all (and the notes), so that segments
	// are deleted, and crashes land in deletions too.
	var release []Pos
	var ids []crashID // the zero crashID for a note
	err = l.Replay(func(pos Pos, typ byte, p []byte) error {
		id, _ := parseCrashPayload(p)
		if typ == 2 || id.round < round || id.released() {
			release = append(release, pos)
			if typ == 2 {
				id = crashID{round: -1}
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		fail(err)
	}
	for i, pos := range release {
		if ids[i].round >= 0 {
			say("R", ids[i])
		}
		if err := l.Release(pos); err != nil {
			fail(err)
		}
	}
	var wg sync.WaitGroup
	for g := range crashProducers {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				id := crashID{round, g, seq}
				pos, err := l.Append(1, id.payload())
				if err != nil {
					fail(err)
				}
				say("A", id)
				if seq%5 == 4 {
					if err := l.AppendNoWait(2, id.payload()); err != nil {
						fail(err)
					}
				}
				if id.released() {
					say("R", id)
					if err := l.Release(pos); err != nil {
						fail(err)
					}
				}
			}
		})
	}
	wg.Wait()
}
