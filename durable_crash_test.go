package herald

import (
	"bufio"
	"context"
	"errors"
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

// The crash test runs its own binary as a child that publishes, consumes
// and acks on a durable queue and a durable topic's group under the
// default policy (SyncAlways), and
// kills it with SIGKILL at a random moment; then it opens the directory
// and checks what came back. The child reports each publish before it
// starts ("T id"), each that returned nil ("P id"), each ack before it
// starts ("D id") and each that returned nil ("A id"). After each kill:
//
//   - every id published and not acked (no Ack called on it) is recovered;
//   - no id is recovered twice;
//   - no id is recovered that was never tried.
//
// An acked id may come back (its settle note was not on disk yet), which
// at-least-once allows. HERALD_CRASH_ROUNDS sets the rounds (default 20):
//
//	HERALD_CRASH_ROUNDS=1000 go test -run TestDurableCrash -timeout 1h .
func TestDurableCrash(t *testing.T) {
	if dir := os.Getenv("HERALD_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	rounds := 20
	if s := os.Getenv("HERALD_CRASH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("HERALD_CRASH_ROUNDS=%q", s)
		}
		rounds = n
	}
	dir := t.TempDir()
	var published, recovered int
	for round := range rounds {
		tried, confirmed, acked := crashRound(t, dir, round)
		got := recoverAll(t, dir)
		for id := range got {
			if !tried[id] {
				t.Fatalf("round %d: recovered %s, which was never published", round, id)
			}
		}
		for id := range confirmed {
			if !acked[id] && got[id] == 0 {
				t.Fatalf("round %d: %s was published and not acked, and is lost", round, id)
			}
		}
		for id, n := range got {
			if n > 1 {
				t.Fatalf("round %d: %s recovered %d times", round, id, n)
			}
		}
		published += len(confirmed)
		recovered += len(got)
	}
	t.Logf("%d rounds: %d publishes confirmed, %d messages recovered after SIGKILL", rounds, published, recovered)
}

// crashRound runs a child on dir, kills it, and returns the ids it tried,
// those whose publish returned nil and those whose ack did.
func crashRound(t *testing.T, dir string, round int) (tried, confirmed, acked map[string]bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurableCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HERALD_CRASH_CHILD="+dir, "HERALD_CRASH_ROUND="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tried, confirmed, acked = map[string]bool{}, map[string]bool{}, map[string]bool{}
	lines := bufio.NewScanner(out)
	ready := false
	for !ready && lines.Scan() {
		ready = lines.Text() == "READY"
	}
	if !ready {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("round %d: the child did not start", round)
	}
	// The kill comes at a random moment of the child's work: this sleep
	// picks the moment, it does not wait for anything.
	go func() {
		time.Sleep(time.Duration(rand.IntN(40)+5) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
	}()
	for lines.Scan() {
		kind, id, ok := strings.Cut(lines.Text(), " ")
		if !ok {
			continue
		}
		switch kind {
		case "T":
			tried[id] = true
		case "P":
			confirmed[id] = true
		case "A", "D":
			acked[id] = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child ended with %v, want killed", round, err)
	}
	return tried, confirmed, acked
}

// recoverAll opens dir, takes and acks every message of the queue, and
// returns how often each id came back.
func recoverAll(t *testing.T, dir string) map[string]int {
	t.Helper()
	b, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after SIGKILL: %v", err)
	}
	defer closeTest(t, b)
	q := mustQueue(t, b, "crash", Durable())
	got := map[string]int{}
	for q.Len() > 0 {
		d := receive(t, q)
		got[d.Body.(string)]++
		d.Ack()
	}
	tp, err := b.Topic("crash-topic", Durable())
	if err != nil {
		t.Fatal(err)
	}
	g := mustSubscribe(t, tp, WithGroup("g"))
	defer g.Close()
	for g.Stats().Lag > 0 {
		d := subReceive(t, g)
		got[d.Body.(string)]++
		d.Ack()
	}
	return got
}

// crashChild publishes from two goroutines and consumes with one until it
// is killed, reporting on stdout as TestDurableCrash reads it.
func crashChild(dir string) {
	b, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	q, err := b.Queue("crash", Durable())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	tp, err := b.Topic("crash-topic", Durable())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	g, err := tp.Subscribe(WithGroup("g"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	say := func(kind, id string) {
		mu.Lock()
		os.Stdout.WriteString(kind + " " + id + "\n") // unbuffered: the parent must see it before the kill
		mu.Unlock()
	}
	os.Stdout.WriteString("READY\n")
	round := os.Getenv("HERALD_CRASH_ROUND")
	for p := range 3 {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("%s-%d-%d", round, p, i)
				say("T", id)
				publish := q.Publish
				if p == 2 {
					publish = tp.Publish
				}
				if err := publish(context.Background(), NewMessage(id)); err != nil {
					fmt.Fprintln(os.Stderr, "child publish:", err)
					os.Exit(2)
				}
				say("P", id)
			}
		}()
	}
	consume := func(receive func(context.Context) (*Delivery, error)) {
		for {
			d, err := receive(context.Background())
			if err != nil {
				return
			}
			if rand.IntN(4) == 0 {
				continue // left unacked: recovered as a redelivery
			}
			say("D", d.Body.(string)) // about to ack: may be gone once killed
			if d.Ack() == nil {
				say("A", d.Body.(string))
			}
		}
	}
	go consume(q.Receive)
	go consume(g.Receive)
	time.Sleep(30 * time.Second) // the parent kills it long before
	os.Exit(3)
}
