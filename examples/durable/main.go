// Durable: a work queue that survives a restart.
//
// Each run opens the same directory, declares the durable queue "jobs",
// handles half of what it finds there, and publishes a few new jobs before
// it closes. The next run starts with the jobs the last one left: run it
// twice to see it resume.
//
//	go run ./examples/durable                 # keeps its state under the OS temp dir
//	go run ./examples/durable -dir ./state    # or where you say
//	go run ./examples/durable -reset          # starts from nothing
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/heraldmq/herald"
)

// Job is what the queue carries. After a restart its body comes back as
// JSON bytes, which a typed handler decodes into a Job again.
type Job struct {
	N    int
	What string
}

func main() {
	dir := flag.String("dir", filepath.Join(os.TempDir(), "herald-example-durable"), "where the broker keeps its log")
	reset := flag.Bool("reset", false, "delete the directory first")
	flag.Parse()
	if *reset {
		if err := os.RemoveAll(*dir); err != nil {
			log.Fatal(err)
		}
	}
	if err := run(*dir); err != nil {
		log.Fatal(err)
	}
}

func run(dir string) error {
	b, err := herald.Open(dir) // SyncAlways: Publish returns once the job is on disk
	if err != nil {
		return err
	}
	defer b.Close()
	st := b.DurableStats()
	fmt.Printf("opened %s: %d jobs recovered from the last run\n", dir, st.Recovered)

	jobs, err := b.Queue("jobs", herald.Durable())
	if err != nil {
		return err
	}
	left := jobs.Len()

	// Handle half of what the last run left; the rest waits for the next run.
	ctx := context.Background()
	for range (left + 1) / 2 {
		d, err := jobs.Receive(ctx)
		if err != nil {
			return err
		}
		job, err := herald.BodyAs[Job](d.Message)
		if err != nil {
			return err
		}
		fmt.Printf("  handled job %d (%s), attempt %d\n", job.N, job.What, d.Attempt)
		if err := d.Ack(); err != nil {
			return err
		}
	}

	// Publish three new jobs, named for this run.
	run := time.Now().Format("15:04:05.000")
	for i := range 3 {
		job := Job{N: i + 1, What: "published at " + run}
		if err := jobs.Publish(ctx, herald.NewMessage(job)); err != nil {
			return err
		}
	}
	fmt.Printf("published 3 jobs; %d wait for the next run (go run ./examples/durable -dir %s)\n", jobs.Len(), dir)
	return nil
}
