package wal_test

import (
	"fmt"
	"os"

	"github.com/heraldmq/herald/internal/wal"
)

// A log survives a restart: records appended before Close come back, in
// order, when the directory is opened again.
func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	const published, settled = 1, 2
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		panic(err)
	}
	l.Append(published, []byte("order 17"))
	l.Append(published, []byte("order 18"))
	l.AppendNoWait(settled, []byte("order 17"))
	l.Close()

	l, err = wal.Open(dir, wal.Options{}) // after a restart, or a crash
	if err != nil {
		panic(err)
	}
	defer l.Close()
	fmt.Println("recovered", l.Recovery().Records, "records")
	l.Replay(func(pos wal.Pos, typ byte, payload []byte) error {
		fmt.Printf("segment %d: type %d: %s\n", pos.Segment, typ, payload)
		return nil
	})
	// Output:
	// recovered 3 records
	// segment 1: type 1: order 17
	// segment 1: type 1: order 18
	// segment 1: type 2: order 17
}
