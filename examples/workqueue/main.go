// Workqueue: a queue of jobs shared by competing consumers.
//
// Two workers, each running two handler goroutines, take jobs from the
// "jobs" queue; each job goes to exactly one of them. A flaky dependency
// makes some jobs fail on their first attempt: the handler returns an
// error, so herald nacks the job and redelivers it after a short back-off.
// One poison job fails every time: after WithMaxDeliveries attempts herald
// dead-letters it to "jobs.dead", whose consumer prints the x-death
// headers saying where, why and after how many attempts it died. Shutdown
// then waits for every job to be settled, and the queues' Stats account
// for every message.
//
//	go run ./examples/workqueue
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/heraldmq/herald"
)

type job struct {
	ID     int
	Poison bool // a job no retry can fix
}

// results collects what the workers did, to print it in job order once
// the concurrent handlers are done.
type results struct {
	mu    sync.Mutex
	lines map[int]string
}

func (r *results) set(id int, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[id] = line
}

func main() {
	b := herald.New()
	jobs, err := b.Queue("jobs",
		herald.WithMaxDeliveries(3),
		herald.WithBackoff(5*time.Millisecond, 20*time.Millisecond),
		herald.WithDeadLetter("jobs.dead"),
	)
	if err != nil {
		log.Fatal(err)
	}
	dead, err := b.Queue("jobs.dead")
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	done := results{lines: map[int]string{}}
	work := herald.TypedDelivery(func(ctx context.Context, j job, d *herald.Delivery) error {
		switch {
		case j.Poison:
			return fmt.Errorf("job %d: cannot parse its input", j.ID)
		case j.ID%4 == 0 && d.Attempt == 1:
			return errors.New("image service: connection reset") // nack: retried after the back-off
		}
		done.set(j.ID, fmt.Sprintf("job %2d: done on attempt %d", j.ID, d.Attempt))
		return nil // ack
	})

	var consumers sync.WaitGroup
	for range 2 { // two competing workers, two handler goroutines each
		consumers.Go(func() {
			if err := jobs.Consume(ctx, work, herald.WithConcurrency(2)); err != nil {
				log.Print(err)
			}
		})
	}
	consumers.Go(func() {
		err := dead.Consume(ctx, func(_ context.Context, d *herald.Delivery) error {
			j := d.Body.(job)
			fmt.Printf("dead letter: job %d from %q, reason %q after %s attempts, last error %q\n",
				j.ID, d.Headers[herald.HeaderDeathQueue], d.Headers[herald.HeaderDeathReason],
				d.Headers[herald.HeaderDeathAttempts], d.Headers[herald.HeaderDeathError])
			return nil
		})
		if err != nil {
			log.Print(err)
		}
	})

	for id := 1; id <= 12; id++ {
		if err := b.Publish(ctx, "jobs", herald.NewMessage(job{ID: id, Poison: id == 7})); err != nil {
			log.Fatal(err)
		}
	}

	// Shutdown refuses new jobs, waits until every job is acked or dead
	// and the dead letter handled, then stops the consumers.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		log.Fatal(err)
	}
	consumers.Wait()

	for _, id := range slices.Sorted(maps.Keys(done.lines)) {
		fmt.Println(done.lines[id])
	}
	s := jobs.Stats()
	fmt.Printf("jobs: published %d, delivered %d, acked %d, nacked %d, rejected %d, dead-lettered %d\n",
		s.Published, s.Delivered, s.Acked, s.Nacked, s.Rejected, s.DeadLettered)
	ds := dead.Stats()
	fmt.Printf("jobs.dead: published %d, acked %d\n", ds.Published, ds.Acked)
}
