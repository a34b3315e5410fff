package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jsSession is a JetStream side of BenchmarkDurable: nats-server embedded
// in the process with JetStream on, its store in the run's directory and
// SyncAlways set, which is what `jetstream { sync_interval: always }` sets
// in a config file: the file store fsyncs after every write. No listener:
// clients connect in-process (nats.InProcessServer), as in the peer
// benchmarks, so no TCP cost is counted against JetStream.
//
// The stream BENCH stores the subject "bench" in a file, one replica, with
// the retention of the side: "jetstream" has JetStream's default, limits,
// under which an acked message stays in the stream and the consumer's state
// records the ack (one fsync per message, for its publish); "jetstream-wq"
// has work-queue retention, which removes a message once acked, as a
// queue does, and writes a tombstone for it (a second fsync per message).
// Each producer has its own connection and publishes with
// jetstream.Publish, which returns once the server's PubAck has come, that
// is once the message is fsynced. One pull consumer (Consumer.Consume, a
// durable consumer with explicit acks) on its own connection acks each
// message with Msg.Ack, as a client normally does, without waiting for the
// server to confirm the ack; only the last message of a move waits
// (Msg.DoubleAck).
type jsSession struct {
	pubs  []jetstream.JetStream // one connection per producer
	cc    jetstream.ConsumeContext
	got   tally
	errs  jsErrors
	moved int
}

func openJetStream(r durableRun, dir string, producers int) durableSession {
	return startJetStreamSide(r, dir, producers, jetstream.LimitsPolicy)
}

func openJetStreamWorkQueue(r durableRun, dir string, producers int) durableSession {
	return startJetStreamSide(r, dir, producers, jetstream.WorkQueuePolicy)
}

func startJetStreamSide(r durableRun, dir string, producers int, retention jetstream.RetentionPolicy) durableSession {
	ns := startJetStream(r, dir)
	ctx := context.Background()
	s := &jsSession{}
	s.got.expect(0)

	sub := jsConnect(r, ns)
	if _, err := sub.CreateStream(ctx, jetstream.StreamConfig{
		Name:      "BENCH",
		Subjects:  []string{"bench"},
		Storage:   jetstream.FileStorage,
		Retention: retention,
		Replicas:  1,
	}); err != nil {
		r.Fatal(err)
	}
	cons, err := sub.CreateOrUpdateConsumer(ctx, "BENCH", jetstream.ConsumerConfig{
		Durable:   "bench",
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		r.Fatal(err)
	}
	s.cc, err = cons.Consume(func(m jetstream.Msg) {
		if md, err := m.Metadata(); err != nil {
			s.errs.add(err)
		} else if md.NumDelivered != 1 {
			s.errs.add(fmt.Errorf("stream sequence %d delivered %d times", md.Sequence.Stream, md.NumDelivered))
		}
		// The last message of a move waits for the server to have
		// taken its ack, and those before it, so that the acks' work
		// is not left to run into the next side's turn.
		ack := m.Ack
		if s.got.last() {
			ack = func() error {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				return m.DoubleAck(ctx)
			}
		}
		if err := ack(); err != nil {
			s.errs.add(err)
		}
		s.got.add()
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { s.errs.add(err) }))
	if err != nil {
		r.Fatal(err)
	}
	r.Cleanup(s.stop)

	for range producers {
		s.pubs = append(s.pubs, jsConnect(r, ns))
	}
	return s
}

func (s *jsSession) move(r durableRun, n int) {
	c := s.got.expect(n)
	ctx := context.Background()
	runProducers(r, n, len(s.pubs), func(p, _ int) error {
		ack, err := s.pubs[p].Publish(ctx, "bench", durableBody)
		if err == nil && (ack.Stream != "BENCH" || ack.Duplicate) {
			err = fmt.Errorf("unexpected PubAck %+v", ack)
		}
		return err
	})
	c.wait(r, nil)
	s.moved += n
}

// stop stops the consumer and returns once its callback has.
func (s *jsSession) stop() {
	s.cc.Stop()
	<-s.cc.Closed()
}

func (s *jsSession) close(r durableRun) {
	s.stop()
	s.got.check(r, s.moved)
	if err := s.errs.err(); err != nil {
		r.Fatalf("consumer: %v", err)
	}
}

// startJetStream starts an embedded server with JetStream storing in dir
// and fsyncing every write, shut down by r's cleanup.
func startJetStream(r durableRun, dir string) *server.Server {
	ns, err := server.NewServer(&server.Options{
		DontListen: true, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: dir, SyncAlways: true,
	})
	if err != nil {
		r.Fatal(err)
	}
	ns.Start()
	r.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		r.Fatal("nats: server not ready")
	}
	if !ns.JetStreamEnabled() {
		r.Fatal("nats: JetStream not enabled")
	}
	return ns
}

// jsConnect returns a JetStream context on a new in-process connection,
// closed by r's cleanup.
func jsConnect(r durableRun, ns *server.Server) jetstream.JetStream {
	nc, err := nats.Connect(nats.DefaultURL, nats.InProcessServer(ns), nats.NoReconnect())
	if err != nil {
		r.Fatal(err)
	}
	r.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		r.Fatal(err)
	}
	return js
}

// jsErrors collects errors from the consumer's callbacks, which run on
// nats.go's goroutines, for the benchmark to report once they have stopped.
type jsErrors struct {
	mu   sync.Mutex
	errs []error
}

func (e *jsErrors) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

func (e *jsErrors) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return errors.Join(e.errs...)
}
