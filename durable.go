package herald

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/wal"
	"github.com/heraldmq/herald/internal/wal/walfs"
)

// Open returns a broker, as [New] does, whose destinations declared
// [Durable] are also written to a write-ahead log in dir, so that their
// messages survive Close, a crash of the process (kill -9) and, under
// [SyncAlways], a crash of the machine. It creates dir if missing and
// recovers what an earlier broker left there: the recovered messages wait
// until their destination is declared Durable again, which brings them
// back (see [Broker.DurableStats] for those still waiting).
//
// One broker holds dir at a time, by a lock file: Open fails with an error
// wrapping ErrExists while another broker, in this process or another, has
// it open. A torn tail, which a crash leaves, is cut, logged and counted in
// DurableStats; a damaged record anywhere else makes Open fail with an
// error wrapping [ErrCorrupt] that names the file and offset, unless
// [WithSkipCorrupt] is given. An empty dir, a dir that is a file and bad
// options return errors wrapping ErrInvalid; an error of the file system
// (such as a directory without permission) is returned wrapped, naming
// dir. Open blocks while it reads the log: its time grows with the
// bytes in dir.
//
// Close on an Opened broker also waits for the publishes to durable
// queues and topics in flight: a queue's fails with ErrClosed, and its
// record is settled, so that it does not come back; a topic's whose
// record was written succeeds, and its groups get it after a restart.
// Close then writes and fsyncs what the log holds and releases dir; it
// returns the error of that last fsync, if any.
func Open(dir string, opts ...Option) (*Broker, error) {
	if dir == "" {
		return nil, invalidf("Open: empty directory name")
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, invalidf("Open %s: not a directory", dir)
	}
	b := New(opts...)
	s, err := openStore(b, dir)
	if err != nil {
		b.Close()
		return nil, err
	}
	b.dur = s
	return b, nil
}

// Durable makes a queue keep its messages in the write-ahead log of a
// broker made with [Open]: ready, unacked, backing-off and delayed
// messages, with their attempts, due times and absolute expiry times,
// survive a restart, and declaring the queue Durable again brings them
// back. Publish then returns only once the message is durable under the
// broker's sync policy (see [WithSync]). A delivery that was handed out
// before a crash comes back with its Attempt, so the next one is a
// redelivery.
//
// On a broker made with New, declaring with Durable fails with an error
// wrapping ErrInvalid. A durable queue cannot have [WithTransform] (the
// log holds what was published; ErrInvalid). Declaring a name again with
// and without Durable is ErrExists.
//
// On a topic, Durable keeps the messages the ring retains, with their
// sequence numbers (FromSequence and FromEarliest work across restarts;
// new publishes continue the sequence), and each subscription group's
// unended messages, with their attempts and back-offs: a member that
// joins the group after a restart gets them. Plain subscriptions are not
// kept: they are made again by the code that reads. A topic publish is
// visible to subscriptions as soon as the ring has it; Publish returns
// once it is durable too. One that fails on I/O after the ring took it
// keeps its sequence number: no other message gets it, after a restart
// either.
func Durable() QueueTopicOption { return durableOption{} }

type durableOption struct{}

func (durableOption) applyQueue(c *queueConfig) { c.durable = true }
func (durableOption) applyTopic(c *topicConfig) { c.durable = true }

// SyncPolicy says when a durable publish is on disk; make one with
// [SyncAlways], [SyncInterval] or [SyncNever] and give it to [WithSync].
type SyncPolicy struct{ p wal.SyncPolicy }

// SyncAlways is the default: Publish to a durable destination returns only
// once its record is written and fsynced. Publishes that arrive while an
// fsync is in flight share the next one (group commit), so N producers
// pay about one fsync per batch, not one each. What Publish confirmed
// survives a crash of the process and of the machine.
func SyncAlways() SyncPolicy { return SyncPolicy{wal.SyncAlways()} }

// SyncInterval makes Publish return once its record is written to the OS,
// and fsyncs at most d after a write: a confirmed publish survives a crash
// of the process at once, and a crash of the machine once the next fsync
// is done (up to d later). d must be positive, or Open fails with
// ErrInvalid. NATS JetStream's default is this policy with d = 2 minutes.
func SyncInterval(d time.Duration) SyncPolicy { return SyncPolicy{wal.SyncInterval(d)} }

// SyncNever makes Publish return once its record is written to the OS and
// leaves flushing to the OS: a confirmed publish survives a crash of the
// process, not necessarily of the machine. The log still fsyncs on Close.
func SyncNever() SyncPolicy { return SyncPolicy{wal.SyncNever()} }

// String names the policy: "always", "never" or "every 1s".
func (p SyncPolicy) String() string { return p.p.String() }

// WithSync sets when a durable publish is on disk. Default [SyncAlways].
// Given twice, the last wins. It matters only to [Open]; [New] ignores it.
func WithSync(p SyncPolicy) Option { return syncOption{p} }

type syncOption struct{ p SyncPolicy }

func (o syncOption) applyBroker(c *brokerConfig) { c.durable.sync = o.p.p }

// WithSkipCorrupt makes [Open] skip damaged records in the middle of the
// log, which it otherwise refuses with [ErrCorrupt]: the messages in them
// are lost. Each skipped region is logged as an error and counted in
// DurableStats().Skipped. Default: refuse. It matters only to Open; New
// ignores it.
func WithSkipCorrupt() Option { return skipCorruptOption{} }

type skipCorruptOption struct{}

func (skipCorruptOption) applyBroker(c *brokerConfig) { c.durable.skipCorrupt = true }

// WithDurableCodec sets the codec that stores bodies of durable messages
// that are neither []byte, json.RawMessage nor string (those are stored as
// they are). Default [JSONCodec]. A typed handler decodes a recovered body
// with the codec given to it by [WithCodec], so give both the same one.
// Given twice, the last wins; WithDurableCodec(nil) restores JSON. It
// matters only to [Open]; New ignores it.
func WithDurableCodec(c Codec) Option { return durableCodecOption{c} }

type durableCodecOption struct{ c Codec }

func (o durableCodecOption) applyBroker(c *brokerConfig) { c.durable.codec = o.c }

// durableConfig is what Open reads from the broker's options.
type durableConfig struct {
	sync        wal.SyncPolicy
	skipCorrupt bool
	codec       Codec
	segmentSize int64    // tests: small segments
	fs          walfs.FS // tests: fault injection
}

// DurableStats describes the write-ahead log of a broker made with [Open].
type DurableStats struct {
	Dir       string // the directory
	Segments  int    // segment files
	Bytes     int64  // bytes in them
	Live      int    // records that hold a message (or a topic's group) that has not ended
	Recovered int    // messages Open brought back from disk
	// Waiting counts recovered messages whose destination has not been
	// declared Durable since Open. They stay on disk (copied forward by
	// compaction) and come back when it is.
	Waiting int
	// TornBytes is the size of the torn tail Open cut from the newest
	// segment: a write a crash interrupted. Skipped counts the damaged
	// regions WithSkipCorrupt let Open skip.
	TornBytes int64
	Skipped   int
	Copied    uint64 // records compaction copied forward
	Syncs     uint64 // fsyncs since Open
}

// DurableStats returns the state of the broker's write-ahead log; the
// zero DurableStats for a broker made with New.
func (b *Broker) DurableStats() DurableStats {
	s := b.dur
	if s == nil {
		return DurableStats{}
	}
	ws := s.log.Stats()
	rec := s.log.Recovery()
	s.mu.Lock()
	waiting := 0
	for _, ms := range s.waiting {
		waiting += len(ms)
	}
	s.mu.Unlock()
	return DurableStats{
		Dir: s.dir, Segments: ws.Segments, Bytes: ws.Bytes, Live: ws.Live,
		Recovered: s.recovered, Waiting: waiting,
		TornBytes: rec.Torn.Bytes, Skipped: len(rec.Skipped),
		Copied: s.copied.Load(), Syncs: ws.Syncs,
	}
}

// durableStore is an Opened broker's log and what it recovered.
type durableStore struct {
	b     *Broker
	dir   string
	log   *wal.Log
	codec Codec

	rids      atomic.Uint64 // the last rid given
	recovered int
	copied    atomic.Uint64
	releases  atomic.Uint64 // since the last look for stragglers
	compact   sync.Mutex    // one compaction at a time

	puts putGate // publishes in flight, which close waits for

	mu      sync.Mutex
	waiting map[string][]*durableMsg // recovered, by destination, rid order; guarded by mu
	groups  groupStates              // recovered groups of topics not declared yet; guarded by mu
	marks   map[string]topicMark     // recovered recTopicSeq of topics not declared yet; guarded by mu
	queues  map[string]*durableQueue // guarded by mu
	topics  map[string]*durableTopic // guarded by mu
}

func openStore(b *Broker, dir string) (*durableStore, error) {
	cfg := b.cfg.durable
	codec := cfg.codec
	if codec == nil {
		codec = jsonCodec{}
	}
	l, err := wal.Open(dir, wal.Options{Sync: cfg.sync, SegmentSize: cfg.segmentSize, SkipCorrupt: cfg.skipCorrupt, FS: cfg.fs})
	if err != nil {
		return nil, walError("Open "+dir, err)
	}
	s := &durableStore{b: b, dir: dir, log: l, codec: codec, waiting: map[string][]*durableMsg{}, queues: map[string]*durableQueue{}, topics: map[string]*durableTopic{}}
	s.puts.cond.L = &s.puts.mu
	if err := s.recover(); err != nil {
		l.Close()
		return nil, err
	}
	rec := l.Recovery()
	if rec.Torn.Bytes > 0 {
		b.log(slog.LevelWarn, "durable: cut a torn tail, which a crash leaves",
			"dir", dir, "file", rec.Torn.File, "offset", rec.Torn.Offset, "bytes", rec.Torn.Bytes)
	}
	for _, d := range rec.Skipped {
		b.log(slog.LevelError, "durable: skipped a corrupt region: the messages in it are lost",
			"dir", dir, "file", d.File, "offset", d.Offset, "bytes", d.Bytes)
	}
	return s, nil
}

// walError turns the log's errors into herald's sentinels, keeping the
// log's message (which names the file and offset).
func walError(op string, err error) error {
	switch {
	case errors.Is(err, wal.ErrCorrupt), errors.Is(err, wal.ErrVersion):
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, op, err)
	case errors.Is(err, wal.ErrLocked):
		return fmt.Errorf("%w: %s: %w", ErrExists, op, err)
	case errors.Is(err, wal.ErrInvalid):
		return fmt.Errorf("%w: %s: %w", ErrInvalid, op, err)
	case errors.Is(err, wal.ErrClosed):
		return fmt.Errorf("%w: %s", ErrClosed, op)
	}
	return fmt.Errorf("herald: %s: %w", op, err)
}

// recover replays the log: the last state of every message that has not
// ended, grouped by destination. Only those publish records stay live in
// the log; every other record is released.
func (s *durableStore) recover() error {
	msgs := map[uint64]*durableMsg{}
	pos := map[uint64]wal.Pos{}
	ended := map[uint64]bool{}
	groups := groupStates{}
	marks := map[string]topicMark{}
	var release []wal.Pos
	var maxRid uint64
	err := s.log.Replay(func(p wal.Pos, typ byte, payload []byte) error {
		switch typ {
		case recPublish:
			d, err := decodePublish(payload, s.codec)
			if err != nil {
				return s.corrupt(p, err)
			}
			maxRid = max(maxRid, d.rid)
			if ended[d.rid] {
				release = append(release, p)
				return nil
			}
			if old, ok := msgs[d.rid]; ok { // a copy made by compaction
				release = append(release, pos[d.rid])
				d.attempt = max(d.attempt, old.attempt)
			}
			msgs[d.rid], pos[d.rid] = d, p
			return nil
		case recGroup:
			rid, topic, group, start, err := decodeGroup(payload)
			if err != nil {
				return s.corrupt(p, err)
			}
			maxRid = max(maxRid, rid)
			g := groups.get(topic, group)
			if g.rid != 0 { // a copy made by compaction
				release = append(release, g.pos)
			}
			g.rid, g.pos, g.start = rid, p, start
			return nil
		case recTopicSeq:
			topic, seq, err := decodeTopicSeq(payload)
			if err != nil {
				return s.corrupt(p, err)
			}
			if old, ok := marks[topic]; ok {
				if old.seq >= seq {
					release = append(release, p)
					return nil
				}
				release = append(release, old.pos)
			}
			marks[topic] = topicMark{seq: seq, pos: p}
			return nil
		case recGDeliver, recGDone, recGNack, recGRelease:
			release = append(release, p)
			rid, attempt, due, group, err := decodeGroupMark(payload)
			if err != nil {
				return s.corrupt(p, err)
			}
			if d, ok := msgs[rid]; ok && d.seq != 0 {
				g := groups.get(d.dest, group)
				switch typ {
				case recGDone:
					g.done[rid] = true
				case recGNack:
					g.attempts[rid] = max(g.attempts[rid], attempt)
					g.dues[rid] = due
				case recGRelease: // written before its next delivery's note
					g.attempts[rid] = attempt
					delete(g.dues, rid)
				default: // a delivery ends a back-off
					g.attempts[rid] = max(g.attempts[rid], attempt)
					delete(g.dues, rid)
				}
			}
			return nil
		case recDeliver, recNack, recSettle, recRelease:
			release = append(release, p)
			rid, attempt, due, err := decodeMark(payload)
			if err != nil {
				return s.corrupt(p, err)
			}
			maxRid = max(maxRid, rid)
			d, ok := msgs[rid]
			if typ == recSettle {
				ended[rid] = true
				if ok {
					release = append(release, pos[rid])
					delete(msgs, rid)
				}
				return nil
			}
			switch {
			case !ok:
			case typ == recRelease: // written before its next delivery's note
				d.attempt, d.due = attempt, 0
			default:
				d.attempt = max(d.attempt, attempt)
				d.due = due // a deliver mark clears a delay that passed
			}
			return nil
		}
		return s.corrupt(p, fmt.Errorf("record type %d", typ))
	})
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return walError("recover "+s.dir, err)
	}
	for _, d := range msgs { // a later publish record outdates a mark
		if mk, ok := marks[d.dest]; ok && d.seq >= mk.seq {
			release = append(release, mk.pos)
			delete(marks, d.dest)
		}
	}
	for _, p := range release {
		if err := s.log.Release(p); err != nil {
			return walError("recover "+s.dir, err)
		}
	}
	s.rids.Store(maxRid)
	s.marks = marks
	for rid, d := range msgs {
		d.pos = pos[rid]
		s.waiting[d.dest] = append(s.waiting[d.dest], d)
	}
	s.groups = groups
	for _, ms := range s.waiting {
		slices.SortFunc(ms, func(a, b *durableMsg) int { return compareU64(a.rid, b.rid) })
	}
	s.recovered = len(msgs)
	return nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// corrupt reports a record whose frame is whole but whose contents herald
// cannot read: an error wrapping ErrCorrupt, or, with WithSkipCorrupt, a
// logged skip.
func (s *durableStore) corrupt(p wal.Pos, err error) error {
	if s.b.cfg.durable.skipCorrupt {
		s.b.log(slog.LevelError, "durable: skipped an unreadable record: its message is lost",
			"dir", s.dir, "segment", p.Segment, "offset", p.Offset, "error", err)
		return nil
	}
	return fmt.Errorf("%w: %s: segment %d offset %d: %v", ErrCorrupt, s.dir, p.Segment, p.Offset, err)
}

// takeWaiting hands over the recovered messages of dest.
func (s *durableStore) takeWaiting(dest string) []*durableMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.waiting[dest]
	delete(s.waiting, dest)
	return ms
}

// nextRid returns a new message's rid.
func (s *durableStore) nextRid() uint64 { return s.rids.Add(1) }

// release ends a record and, now and then, looks for stragglers to copy
// forward (see durable_compact.go).
func (s *durableStore) release(p wal.Pos) {
	if err := s.log.Release(p); err != nil && !errors.Is(err, wal.ErrClosed) {
		s.b.log(slog.LevelWarn, "durable: release failed", "dir", s.dir, "error", err)
	}
	if s.releases.Add(1)%compactEvery == 0 {
		s.compactStragglers()
	}
}

// close closes the log: the broker's queues are closed, so no publish
// starts. It first waits for the publishes in flight, which fail now, so
// that the settle record of one whose record was written is written too:
// a Publish that returned an error must not come back. Settles that come
// later (a handler acking after Close) are lost, which costs a
// redelivery.
func (s *durableStore) close() error {
	s.puts.close()
	if err := s.log.Close(); err != nil && !errors.Is(err, wal.ErrClosed) {
		return walError("Close "+s.dir, err)
	}
	return nil
}

// putGate counts the publishes to durable destinations in flight, so
// that closing the log waits for them: a publish that wrote its record
// and then failed (the queue closed under it) must write the settle
// record before the log closes.
type putGate struct {
	mu      sync.Mutex
	cond    sync.Cond // on mu: n reached 0
	n       int       // guarded by mu
	closing bool      // guarded by mu
}

// enter notes a publish; false once the log is closing: the publish
// fails with ErrClosed and must not call exit.
func (g *putGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.n++
	return true
}

func (g *putGate) exit() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.closing {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// close refuses new publishes and waits for those in flight. The broker
// closed its queues and topics first, so a blocked publish has been woken.
func (g *putGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closing = true
	for g.n > 0 {
		g.cond.Wait()
	}
}

// checkDurable refuses Durable where it cannot work.
func (b *Broker) checkDurable(kind, name string) error {
	if b.dur == nil {
		return invalidf("%s %q: Durable needs a broker made with Open, not New", kind, name)
	}
	return nil
}

// unixNow is the wall clock the log's absolute times are in.
func unixNow() int64 { return time.Now().UnixNano() }

// clockAt returns the broker clock's reading at the absolute time abs:
// negative for a time before the broker was made. It suits a publish
// time, from which an age is counted; fromUnix suits a due or expiry time.
func (b *Broker) clockAt(abs int64) int64 { return b.clock() + (abs - unixNow()) }

// fromUnix turns an absolute time in the log into the broker clock; a time
// already past becomes 1, the clock's earliest: it has passed.
func (b *Broker) fromUnix(abs int64) int64 {
	if abs == 0 {
		return 0
	}
	return max(1, b.clock()+(abs-unixNow()))
}
