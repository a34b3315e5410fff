package console

import (
	"time"

	"github.com/heraldmq/herald"
)

// The JSON the API answers with. Durations are strings such as "1m30s",
// "" for none.

type stateView struct {
	Time      time.Time      `json:"time"`
	Actions   bool           `json:"actions"`
	Overview  overviewView   `json:"overview"`
	Queues    []queueView    `json:"queues"`
	Topics    []topicView    `json:"topics"`
	Exchanges []exchangeView `json:"exchanges"`
	Graph     graphView      `json:"graph"`
}

type overviewView struct {
	Queues    int `json:"queues"`
	Topics    int `json:"topics"`
	Exchanges int `json:"exchanges"`

	Ready     int `json:"ready"`
	Unacked   int `json:"unacked"`
	Delayed   int `json:"delayed"` // backing off or scheduled
	Retained  int `json:"retained"`
	Consumers int `json:"consumers"`

	Published    uint64 `json:"published"`
	Delivered    uint64 `json:"delivered"`
	Acked        uint64 `json:"acked"`
	DeadLettered uint64 `json:"deadLettered"`
	Expired      uint64 `json:"expired"`
	Dropped      uint64 `json:"dropped"`
	Purged       uint64 `json:"purged"`

	// Rates are per second over RateWindow seconds (0: not yet known,
	// until the page has been open for a second).
	Rates      rates   `json:"rates"`
	RateWindow float64 `json:"rateWindow"`
	Series     []point `json:"series"`
}

type queueView struct {
	Name      string `json:"name"`
	Ready     int    `json:"ready"`
	Unacked   int    `json:"unacked"`
	Delayed   int    `json:"delayed"`
	Scheduled int    `json:"scheduled"`
	Consumers int    `json:"consumers"`

	Published        uint64 `json:"published"`
	Delivered        uint64 `json:"delivered"`
	Acked            uint64 `json:"acked"`
	Nacked           uint64 `json:"nacked"`
	Rejected         uint64 `json:"rejected"`
	Expired          uint64 `json:"expired"`
	Dropped          uint64 `json:"dropped"`
	Purged           uint64 `json:"purged"`
	DeadLettered     uint64 `json:"deadLettered"`
	DeadLetterFailed uint64 `json:"deadLetterFailed"`
	Duplicates       uint64 `json:"duplicates"`

	Rates   rates            `json:"rates"`
	Options queueOptionsView `json:"options"`
	// DeadLetterTarget is set when a queue or group dead-letters here, so
	// its messages may be moved back.
	DeadLetterTarget bool `json:"deadLetterTarget"`
}

type queueOptionsView struct {
	Capacity   int    `json:"capacity"`
	Overflow   string `json:"overflow"`
	TTL        string `json:"ttl"`
	Priorities int    `json:"priorities"`
	Dedup      string `json:"dedup"`
	redeliveryView
	Transform bool `json:"transform"`
}

type redeliveryView struct {
	MaxDeliveries int    `json:"maxDeliveries"`
	DeadLetter    string `json:"deadLetter"`
	// DeadLetterKey is nil when dead letters keep their key.
	DeadLetterKey *string `json:"deadLetterKey"`
	AckTimeout    string  `json:"ackTimeout"`
	Backoff       string  `json:"backoff"`
}

type topicView struct {
	Name          string           `json:"name"`
	Published     uint64           `json:"published"`
	Dropped       uint64           `json:"dropped"`
	Duplicates    uint64           `json:"duplicates"`
	Retained      int              `json:"retained"`
	Subscriptions int              `json:"subscriptions"`
	Groups        int              `json:"groups"`
	Rates         rates            `json:"rates"`
	Options       topicOptionsView `json:"options"`
	Readers       []readerView     `json:"readers"`
}

type topicOptionsView struct {
	Capacity int    `json:"capacity"`
	Overflow string `json:"overflow"`
	MaxAge   string `json:"maxAge"`
	Dedup    string `json:"dedup"`
}

// readerView is a plain subscription (Group "") or a group.
type readerView struct {
	Group        string         `json:"group"`
	Members      int            `json:"members"`
	Lag          uint64         `json:"lag"`
	Unacked      int            `json:"unacked"`
	Delayed      int            `json:"delayed"`
	Delivered    uint64         `json:"delivered"`
	Acked        uint64         `json:"acked"`
	Nacked       uint64         `json:"nacked"`
	Rejected     uint64         `json:"rejected"`
	Expired      uint64         `json:"expired"`
	Missed       uint64         `json:"missed"`
	DeadLettered uint64         `json:"deadLettered"`
	Redelivery   redeliveryView `json:"redelivery"`
}

type exchangeView struct {
	Name      string        `json:"name"`
	Kind      string        `json:"kind"`
	Alternate string        `json:"alternate"`
	Bindings  []bindingView `json:"bindings"`
}

type bindingView struct {
	Dest      string         `json:"dest"`
	DestKind  string         `json:"destKind"`
	Key       string         `json:"key"`
	Headers   herald.Headers `json:"headers,omitempty"`
	MatchAny  bool           `json:"matchAny,omitempty"`
	Transform bool           `json:"transform,omitempty"`
}

type nameView struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

func dur(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func redelivery(o herald.RedeliveryOptions) redeliveryView {
	v := redeliveryView{
		MaxDeliveries: o.MaxDeliveries, DeadLetter: o.DeadLetter, AckTimeout: dur(o.AckTimeout),
		Backoff: o.BackoffMin.String() + "–" + o.BackoffMax.String(),
	}
	if o.ReplaceKey {
		k := o.DeadLetterKey
		v.DeadLetterKey = &k
	}
	return v
}

func newQueueView(q *herald.Queue) queueView {
	s, o := q.Stats(), q.Options()
	return queueView{
		Name: q.Name(), Ready: s.Ready, Unacked: s.Unacked, Delayed: s.Delayed, Scheduled: s.Scheduled,
		Consumers: s.Consumers,
		Published: s.Published, Delivered: s.Delivered, Acked: s.Acked, Nacked: s.Nacked,
		Rejected: s.Rejected, Expired: s.Expired, Dropped: s.Dropped, Purged: s.Purged,
		DeadLettered: s.DeadLettered, DeadLetterFailed: s.DeadLetterFailed, Duplicates: s.Duplicates,
		Options: queueOptionsView{
			Capacity: o.Capacity, Overflow: o.Overflow.String(), TTL: dur(o.TTL), Priorities: o.Priorities,
			Dedup: dur(o.Dedup), redeliveryView: redelivery(o.RedeliveryOptions), Transform: o.Transform,
		},
	}
}

func newTopicView(t *herald.Topic) topicView {
	s, o := t.Stats(), t.Options()
	v := topicView{
		Name: t.Name(), Published: s.Published, Dropped: s.Dropped, Duplicates: s.Duplicates,
		Retained: s.Retained, Subscriptions: s.Subscriptions, Groups: s.Groups,
		Options: topicOptionsView{Capacity: o.Capacity, Overflow: o.Overflow.String(), MaxAge: dur(o.MaxAge), Dedup: dur(o.Dedup)},
		Readers: []readerView{},
	}
	for _, r := range t.Readers() {
		rs := r.Stats
		v.Readers = append(v.Readers, readerView{
			Group: r.Group, Members: r.Members, Lag: rs.Lag, Unacked: rs.Unacked, Delayed: rs.Delayed,
			Delivered: rs.Delivered, Acked: rs.Acked, Nacked: rs.Nacked, Rejected: rs.Rejected,
			Expired: rs.Expired, Missed: rs.Missed, DeadLettered: rs.DeadLettered,
			Redelivery: redelivery(r.Redelivery),
		})
	}
	return v
}

func newExchangeView(b *herald.Broker, x *herald.Exchange) exchangeView {
	v := exchangeView{Name: x.Name(), Kind: x.Kind().String(), Alternate: x.Alternate(), Bindings: []bindingView{}}
	for _, bd := range x.Bindings() {
		v.Bindings = append(v.Bindings, bindingView{
			Dest: bd.Dest, DestKind: kindOf(b, bd.Dest), Key: bd.Key,
			Headers: bd.Headers, MatchAny: bd.MatchAny, Transform: bd.Transform,
		})
	}
	return v
}

// kindOf returns what name is declared as: "queue", "topic", "exchange",
// or "" if it is not declared.
func kindOf(b *herald.Broker, name string) string {
	if _, err := b.LookupQueue(name); err == nil {
		return "queue"
	}
	if _, err := b.LookupTopic(name); err == nil {
		return "topic"
	}
	if _, err := b.LookupExchange(name); err == nil {
		return "exchange"
	}
	return ""
}

// collect reads the whole broker, samples its counters and returns what
// the page shows.
func (h *handler) collect() stateView {
	st := stateView{
		Time: time.Now(), Actions: h.cfg.actions,
		Queues: []queueView{}, Topics: []topicView{}, Exchanges: []exchangeView{},
	}
	cur := sample{at: st.Time, each: map[string]counters{}}
	deadTargets := map[string]bool{}
	ov := &st.Overview
	for _, name := range h.b.Names() {
		if q, err := h.b.LookupQueue(name); err == nil {
			v := newQueueView(q)
			st.Queues = append(st.Queues, v)
			cur.each[name] = counters{v.Published, v.Delivered, v.Acked}
			deadTargets[v.Options.DeadLetter] = true
			ov.Ready += v.Ready
			ov.Unacked += v.Unacked
			ov.Delayed += v.Delayed + v.Scheduled
			ov.Consumers += v.Consumers
			ov.Published += v.Published
			ov.Delivered += v.Delivered
			ov.Acked += v.Acked
			ov.DeadLettered += v.DeadLettered
			ov.Expired += v.Expired
			ov.Dropped += v.Dropped
			ov.Purged += v.Purged
			continue
		}
		if t, err := h.b.LookupTopic(name); err == nil {
			v := newTopicView(t)
			st.Topics = append(st.Topics, v)
			c := counters{published: v.Published}
			ov.Retained += v.Retained
			ov.Published += v.Published
			ov.Dropped += v.Dropped
			for _, r := range v.Readers {
				c.delivered += r.Delivered
				c.acked += r.Acked
				deadTargets[r.Redelivery.DeadLetter] = true
				ov.Unacked += r.Unacked
				ov.Delayed += r.Delayed
				ov.DeadLettered += r.DeadLettered
				ov.Expired += r.Expired
			}
			cur.each[name] = c
			ov.Delivered += c.delivered
			ov.Acked += c.acked
			continue
		}
		if x, err := h.b.LookupExchange(name); err == nil {
			st.Exchanges = append(st.Exchanges, newExchangeView(h.b, x))
		}
	}
	ov.Queues, ov.Topics, ov.Exchanges = len(st.Queues), len(st.Topics), len(st.Exchanges)
	cur.total = counters{ov.Published, ov.Delivered, ov.Acked}

	rv := h.rates.observe(cur)
	ov.Rates, ov.RateWindow, ov.Series = rv.total, rv.window.Seconds(), rv.series
	if ov.Series == nil {
		ov.Series = []point{}
	}
	for i := range st.Queues {
		q := &st.Queues[i]
		q.Rates = rv.each[q.Name]
		q.DeadLetterTarget = deadTargets[q.Name]
	}
	for i := range st.Topics {
		st.Topics[i].Rates = rv.each[st.Topics[i].Name]
	}
	st.Graph = layout(st.Exchanges)
	return st
}
