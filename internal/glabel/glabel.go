// Package glabel names the pprof label with which herald marks the
// goroutines that run for a broker, so that profiles show which broker a
// goroutine serves and a leak check can tell one broker's goroutines from
// another's.
package glabel

import "fmt"

// Key is the pprof label herald sets on a broker's goroutines: its
// handler goroutines, a Consume call's own while it runs, its scheduler.
const Key = "herald.broker"

// Of returns the value of Key on the goroutines of broker b (a
// *herald.Broker): its address, unique among the brokers alive.
func Of(b any) string { return fmt.Sprintf("%p", b) }
