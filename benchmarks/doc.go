// Package benchmarks compares herald with what a Go program could use
// instead: for in-process messaging (BenchmarkPeers), a plain buffered
// channel, Watermill's GoChannel, a NATS server embedded in the process and
// asaskevich/EventBus; for durable queues (BenchmarkDurable), raw fsync'd
// appends to a file and NATS JetStream embedded with a file store. It holds
// only benchmarks; it is a separate module so that herald itself keeps no
// dependency on its peers.
//
// Run each comparison and print it as markdown tables with
//
//	go run ./cmd/peertable
//	go run ./cmd/durabletable
//
// from this directory; see README.md.
package benchmarks
