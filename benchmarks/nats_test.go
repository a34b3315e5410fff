package benchmarks

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATS: a server embedded in the process with no listener, and clients
// connected to it in-process (nats.InProcessServer), no TCP. Core NATS,
// at most once: no acks, and a subscriber that falls too far behind is a
// slow consumer whose messages are dropped, which skips the run as
// "dropped:". Each producer and each consumer has its own connection, as
// separate components of a program would.

// natsServer starts an embedded server and returns it with a channel that
// gets a message when any client of it loses messages.
type natsServer struct {
	*server.Server
	drops chan string
}

func startNATS(b *testing.B) *natsServer {
	b.Helper()
	ns, err := server.NewServer(&server.Options{DontListen: true, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats: server not ready")
	}
	return &natsServer{Server: ns, drops: make(chan string, 1)}
}

func (ns *natsServer) dropped(why string) {
	select {
	case ns.drops <- why:
	default:
	}
}

// connect returns a new in-process client connection, closed with the
// benchmark.
func (ns *natsServer) connect(b *testing.B) *nats.Conn {
	b.Helper()
	nc, err := nats.Connect(nats.DefaultURL,
		nats.InProcessServer(ns),
		nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				ns.dropped("core NATS slow consumer (client pending limit)")
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				ns.dropped("nats connection lost: " + err.Error())
			}
		}),
	)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return nc
}

// checkDrops skips the benchmark as "dropped:" if the server saw a slow
// consumer, which core NATS handles by dropping its messages.
func (ns *natsServer) checkDrops(b *testing.B) {
	b.Helper()
	if n := ns.NumSlowConsumers(); n > 0 {
		b.Skipf("dropped: core NATS server marked %d slow consumer(s)", n)
	}
}

func flush(b *testing.B, nc *nats.Conn) {
	b.Helper()
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
}

func nats1to1(b *testing.B) {
	ns := startNATS(b)
	defer ns.Shutdown()
	pub, sub := ns.connect(b), ns.connect(b)
	c := newCounter(b.N)
	if _, err := sub.Subscribe("bench", func(*nats.Msg) { c.add() }); err != nil {
		b.Fatal(err)
	}
	flush(b, sub)
	b.ResetTimer()
	for range b.N {
		if err := pub.Publish("bench", payload); err != nil {
			b.Fatal(err)
		}
	}
	c.wait(b, ns.drops)
	b.StopTimer()
	ns.checkDrops(b)
	sub.Close()
	c.check(b, "subscriber")
}

// nats4to4: four publishing connections, four subscribers in one queue
// group.
func nats4to4(b *testing.B) {
	ns := startNATS(b)
	defer ns.Shutdown()
	c := newCounter(b.N)
	subs := make([]*nats.Conn, consumers)
	for i := range subs {
		subs[i] = ns.connect(b)
		if _, err := subs[i].QueueSubscribe("bench", "workers", func(*nats.Msg) { c.add() }); err != nil {
			b.Fatal(err)
		}
		flush(b, subs[i])
	}
	pubs := make([]*nats.Conn, producers)
	for i := range pubs {
		pubs[i] = ns.connect(b)
	}
	b.ResetTimer()
	errs := make(chan error, producers)
	for p, pub := range pubs {
		go func() {
			for range share(b.N, p) {
				if err := pub.Publish("bench", payload); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range producers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	c.wait(b, ns.drops)
	b.StopTimer()
	ns.checkDrops(b)
	for _, sub := range subs {
		sub.Close()
	}
	c.check(b, "queue group")
}

// natsFanout: eight subscribers on eight connections to one subject.
func natsFanout(b *testing.B) {
	ns := startNATS(b)
	defer ns.Shutdown()
	cs := make([]*counter, subscribers)
	subs := make([]*nats.Conn, subscribers)
	for i := range cs {
		cs[i] = newCounter(b.N)
		subs[i] = ns.connect(b)
		c := cs[i]
		if _, err := subs[i].Subscribe("bench", func(*nats.Msg) { c.add() }); err != nil {
			b.Fatal(err)
		}
		flush(b, subs[i])
	}
	pub := ns.connect(b)
	b.ResetTimer()
	for range b.N {
		if err := pub.Publish("bench", payload); err != nil {
			b.Fatal(err)
		}
	}
	waitAll(b, cs, ns.drops)
	b.StopTimer()
	ns.checkDrops(b)
	for _, sub := range subs {
		sub.Close()
	}
	checkAll(b, cs)
}

// natsReqReply: Conn.Request answered with Msg.Respond.
func natsReqReply(b *testing.B) {
	ns := startNATS(b)
	defer ns.Shutdown()
	srv, cli := ns.connect(b), ns.connect(b)
	if _, err := srv.Subscribe("rpc", func(m *nats.Msg) {
		if err := m.Respond(m.Data); err != nil {
			ns.dropped("respond: " + err.Error())
		}
	}); err != nil {
		b.Fatal(err)
	}
	flush(b, srv)
	b.ResetTimer()
	for range b.N {
		m, err := cli.Request("rpc", payload, timeout)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Data) != len(payload) {
			b.Fatal("wrong reply")
		}
	}
	b.StopTimer()
}

// natsRoute: 100 wildcard subscriptions on one connection, of which
// routeKey matches one.
func natsRoute(b *testing.B) {
	ns := startNATS(b)
	defer ns.Shutdown()
	sub := ns.connect(b)
	c := newCounter(b.N)
	var wrong counter
	for i := range 100 {
		p := routePattern(i, true)
		h := func(*nats.Msg) { wrong.n.Add(1) }
		if p == routeKey {
			h = func(*nats.Msg) { c.add() }
		}
		if _, err := sub.Subscribe(p, h); err != nil {
			b.Fatal(err)
		}
	}
	flush(b, sub)
	pub := ns.connect(b)
	b.ResetTimer()
	for range b.N {
		if err := pub.Publish(routeKey, payload); err != nil {
			b.Fatal(err)
		}
	}
	c.wait(b, ns.drops)
	b.StopTimer()
	ns.checkDrops(b)
	sub.Close()
	c.check(b, "subscriber")
	if n := wrong.n.Load(); n != 0 {
		b.Fatalf("%d messages reached subscriptions %q does not match", n, routeKey)
	}
}
