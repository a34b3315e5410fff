package heraldprom

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/heraldmq/herald"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a prometheus.Collector for one herald broker. Create it
// with [New], give its [Collector.Observer] to herald.New and the broker
// to [Collector.Watch]. It is safe for concurrent use.
type Collector struct {
	broker atomic.Pointer[herald.Broker]

	mu      sync.Mutex          // serialises Collect, which updates carried
	carried map[string]*carried // by kind and name: "queue/orders"

	events events
}

// carried keeps one destination's counters monotonic: what earlier
// incarnations of the name counted (base), and what the current one had
// counted at the last scrape (last).
type carried struct {
	obj        any // the *herald.Queue or *herald.Topic last read
	base, last []uint64
}

// New returns a collector that watches no broker yet: it reports only
// the broker-wide counters until [Collector.Watch] gives it one.
func New() *Collector {
	c := &Collector{carried: map[string]*carried{}}
	c.events.init()
	return c
}

// Watch makes Collect read b's queues and topics; nil stops it. Given
// another broker later, the per-destination counters of names both have
// go on from where the first left them.
func (c *Collector) Watch(b *herald.Broker) { c.broker.Store(b) }

var (
	queueLabels = []string{"queue"}
	topicLabels = []string{"topic"}
	subLabels   = []string{"topic", "group"}
)

func desc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// Per-queue gauges, read from QueueStats.
var (
	queueReady     = desc("herald_queue_messages_ready", "Messages ready to be delivered to consumers.", queueLabels)
	queueUnacked   = desc("herald_queue_messages_unacked", "Messages delivered to consumers and not yet settled.", queueLabels)
	queueDelayed   = desc("herald_queue_messages_delayed", "Nacked messages waiting out their back-off before redelivery.", queueLabels)
	queueScheduled = desc("herald_queue_messages_scheduled", "Messages published with a Delay that has not passed.", queueLabels)
	queueMessages  = desc("herald_queue_messages", "Messages in the queue: ready, unacked, delayed and scheduled.", queueLabels)
)

// Per-queue counters, read from QueueStats, in the order of queueCounts.
var queueCounters = []*prometheus.Desc{
	desc("herald_queue_messages_published_total", "Messages published to the queue.", queueLabels),
	desc("herald_queue_messages_delivered_total", "Deliveries to consumers, redeliveries included.", queueLabels),
	desc("herald_queue_messages_acked_total", "Messages acknowledged by consumers.", queueLabels),
	desc("herald_queue_messages_nacked_total", "Deliveries that failed (nack, handler error, ack timeout).", queueLabels),
	desc("herald_queue_messages_rejected_total", "Messages rejected, or failed at the max deliveries.", queueLabels),
	desc("herald_queue_messages_expired_total", "Messages that expired before delivery.", queueLabels),
	desc("herald_queue_messages_dropped_total", "Messages dropped by the overflow policy.", queueLabels),
	desc("herald_queue_messages_dead_lettered_total", "Messages published to the queue's dead-letter destination.", queueLabels),
	desc("herald_queue_messages_dead_letter_failed_total", "Messages whose dead letter could not be published.", queueLabels),
	desc("herald_queue_messages_duplicates_total", "Publishes refused as duplicates.", queueLabels),
}

func queueCounts(s herald.QueueStats) []uint64 {
	return []uint64{s.Published, s.Delivered, s.Acked, s.Nacked, s.Rejected, s.Expired, s.Dropped,
		s.DeadLettered, s.DeadLetterFailed, s.Duplicates}
}

// Per-topic metrics, read from TopicStats and SubscriptionStats.
var (
	topicRetained = desc("herald_topic_messages_retained", "Messages in the topic's ring, readable by a new subscription.", topicLabels)
	topicSubs     = desc("herald_topic_subscriptions", "Plain subscriptions of the topic.", topicLabels)
	topicGroups   = desc("herald_topic_groups", "Subscription groups of the topic.", topicLabels)
	subLag        = desc("herald_subscription_lag", "Messages published to the topic and not yet read: a group's, or the largest among plain subscriptions (group \"\").", subLabels)
	subUnacked    = desc("herald_subscription_messages_unacked", "Messages delivered and not yet settled: a group's, or the sum over plain subscriptions (group \"\").", subLabels)
)

var topicCounters = []*prometheus.Desc{
	desc("herald_topic_messages_published_total", "Messages written to the topic.", topicLabels),
	desc("herald_topic_messages_dropped_total", "Publishes dropped by OverflowDropNewest.", topicLabels),
	desc("herald_topic_messages_duplicates_total", "Publishes refused as duplicates.", topicLabels),
}

func topicCounts(s herald.TopicStats) []uint64 { return []uint64{s.Published, s.Dropped, s.Duplicates} }

// Describe sends the descriptors of every metric the collector can report.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueReady, queueUnacked, queueDelayed, queueScheduled, queueMessages,
		topicRetained, topicSubs, topicGroups, subLag, subUnacked} {
		ch <- d
	}
	for _, d := range append(append([]*prometheus.Desc(nil), queueCounters...), topicCounters...) {
		ch <- d
	}
	c.events.describe(ch)
}

// Collect reads the watched broker's Stats and the event counters. It
// takes no lock of the broker's for longer than each Stats call does.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.events.collect(ch)
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	if b := c.broker.Load(); b != nil {
		for _, name := range b.Names() {
			if q, err := b.LookupQueue(name); err == nil {
				c.collectQueue(ch, name, q)
				seen["queue/"+name] = true
			} else if t, err := b.LookupTopic(name); err == nil {
				c.collectTopic(ch, name, t)
				seen["topic/"+name] = true
			}
		}
	}
	// A destination that is gone still reports its counters, so that they
	// stay monotonic if its name comes back; it has no gauges.
	for key, cr := range c.carried {
		if seen[key] {
			continue
		}
		kind, name, _ := strings.Cut(key, "/")
		descs := queueCounters
		if kind == "topic" {
			descs = topicCounters
		}
		emitCounters(ch, descs, cr, name)
	}
}

func (c *Collector) collectQueue(ch chan<- prometheus.Metric, name string, q *herald.Queue) {
	s := q.Stats()
	gauge(ch, queueReady, s.Ready, name)
	gauge(ch, queueUnacked, s.Unacked, name)
	gauge(ch, queueDelayed, s.Delayed, name)
	gauge(ch, queueScheduled, s.Scheduled, name)
	gauge(ch, queueMessages, s.Ready+s.Unacked+s.Delayed+s.Scheduled, name)
	emitCounters(ch, queueCounters, c.carry("queue/"+name, q, queueCounts(s)), name)
}

func (c *Collector) collectTopic(ch chan<- prometheus.Metric, name string, t *herald.Topic) {
	s := t.Stats()
	gauge(ch, topicRetained, s.Retained, name)
	gauge(ch, topicSubs, s.Subscriptions, name)
	gauge(ch, topicGroups, s.Groups, name)
	var lag uint64
	unacked, plain := 0, false
	for group, ss := range t.SubscriptionStats() {
		if group == "" {
			lag, unacked, plain = max(lag, ss.Lag), unacked+ss.Unacked, true
			continue
		}
		gauge(ch, subLag, int(ss.Lag), name, group)
		gauge(ch, subUnacked, ss.Unacked, name, group)
	}
	if plain {
		gauge(ch, subLag, int(lag), name, "")
		gauge(ch, subUnacked, unacked, name, "")
	}
	emitCounters(ch, topicCounters, c.carry("topic/"+name, t, topicCounts(s)), name)
}

// carry records counts read from obj as the current values of key, and
// returns its entry. A new obj under a known key adds the old one's last
// counts to the base. c.mu is held.
func (c *Collector) carry(key string, obj any, counts []uint64) *carried {
	cr := c.carried[key]
	if cr == nil {
		cr = &carried{obj: obj, base: make([]uint64, len(counts)), last: make([]uint64, len(counts))}
		c.carried[key] = cr
	}
	if cr.obj != obj {
		for i, n := range cr.last {
			cr.base[i] += n
		}
		clear(cr.last)
		cr.obj = obj
	}
	// One object's counters never go down; max makes the export sure of it.
	for i, n := range counts {
		cr.last[i] = max(cr.last[i], n)
	}
	return cr
}

func emitCounters(ch chan<- prometheus.Metric, descs []*prometheus.Desc, cr *carried, labels ...string) {
	for i, d := range descs {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(cr.base[i]+cr.last[i]), labels...)
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v int, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}
