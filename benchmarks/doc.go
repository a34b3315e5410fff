// Package benchmarks compares herald with the in-process messaging a Go
// program could use instead: a plain buffered channel, Watermill's
// GoChannel, a NATS server embedded in the process, and
// asaskevich/EventBus. It holds only benchmarks (BenchmarkPeers); it is a
// separate module so that herald itself keeps no dependency on its peers.
//
// Run the whole comparison and print it as a markdown table with
//
//	go run ./cmd/peertable
//
// from this directory; see README.md.
package benchmarks
