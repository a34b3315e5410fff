package heraldtest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

// Tests that use heraldtest.NewBroker may run in parallel: each one's leak
// check looks at its own broker's goroutines, not at the consumers the
// others still run. The subtests run in a child process with -parallel 40
// (go test's default is GOMAXPROCS), so that all 40 run at once.
func TestLeakCheckUnderParallel(t *testing.T) {
	if os.Getenv(parallelChild) != "" {
		t.Skip("the child process runs leakCheckUnderParallel")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLeakCheckUnderParallelChild$", "-test.parallel=40", "-test.count=1")
	cmd.Env = append(os.Environ(), parallelChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the 40 parallel subtests failed (%v):\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("the child process ran no test:\n%s", out)
	}
}

const parallelChild = "HERALDTEST_PARALLEL_CHILD"

// Half of the subtests (the "long" ones) keep their consumers running
// until every "short" one has finished its cleanup, leak check included,
// so those checks certainly see the long ones' goroutines.
func TestLeakCheckUnderParallelChild(t *testing.T) {
	if os.Getenv(parallelChild) == "" {
		t.Skip("run by TestLeakCheckUnderParallel, in a process with -parallel 40")
	}
	const n = 40
	var shortDone sync.WaitGroup
	shortDone.Add(n / 2)
	for i := range n {
		long := i%2 == 0
		t.Run(fmt.Sprint("broker", i), func(t *testing.T) {
			t.Parallel()
			if !long {
				// Registered before NewBroker, so it runs after its cleanup.
				t.Cleanup(shortDone.Done)
			}
			b := heraldtest.NewBroker(t)
			q, err := b.Queue("orders")
			if err != nil {
				t.Fatal(err)
			}
			rec := heraldtest.NewRecorder("orders")
			// Not t.Context(): the consumer runs until the broker closes.
			go q.Consume(context.Background(), rec.Handler(func(context.Context, *herald.Delivery) error { return nil }),
				herald.WithConcurrency(2))
			for j := range 3 {
				if err := q.Publish(t.Context(), herald.NewMessage(j)); err != nil {
					t.Fatal(err)
				}
			}
			if err := rec.WaitFor(t.Context(), 3); err != nil {
				t.Fatal(err)
			}
			if long {
				shortDone.Wait()
			}
		})
	}
}

// A goroutine a test leaves running is still reported while other tests
// run brokers in parallel, and only to the test whose broker it serves.
func TestLeakReportedToItsOwnTest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		other := heraldtest.NewBroker(t) // another test's, still running
		oq := must[*herald.Queue](t)(other.Queue("q"))
		go oq.Consume(context.Background(), func(context.Context, *herald.Delivery) error { return nil })

		f := runFake(t, func(ft testing.TB) {
			b := heraldtest.NewBroker(ft)
			q := must[*herald.Queue](t)(b.Queue("q"))
			started := make(chan struct{})
			go q.Consume(context.Background(), func(context.Context, *herald.Delivery) error {
				close(started)
				<-release
				return nil
			})
			mustOK(t, q.Publish(context.Background(), herald.NewMessage(1)))
			<-started
		})
		close(release)
		got := f.output()
		if !strings.Contains(got, "1 goroutine(s) of herald still running") {
			t.Errorf("the leaked handler goroutine not reported alone; reported:\n%s", got)
		}
		if strings.Contains(got, "NoLeakCheck") {
			t.Errorf("the report points at NoLeakCheck though every goroutine it names is the broker's own:\n%s", got)
		}
	})
}

// A goroutine left inside herald's code that carries no broker's label is
// counted while the test's broker is the only one open, and the report
// says how to turn the check off if it is another test's.
func TestLeakReportNamesEscapeHatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		waiting := make(chan struct{})
		f := runFake(t, func(ft testing.TB) {
			heraldtest.NewBroker(ft)
			rec := heraldtest.NewRecorder("nothing")
			go func() {
				close(waiting)
				rec.WaitFor(ctx, 1) // never recorded: waits until cancel
			}()
			<-waiting
		})
		got := f.output()
		if !strings.Contains(got, "1 goroutine(s) of herald still running") || !strings.Contains(got, "heraldtest.NoLeakCheck()") {
			t.Errorf("report of an unlabeled goroutine:\n%s\nwant it counted, and NoLeakCheck named", got)
		}
	})
}
