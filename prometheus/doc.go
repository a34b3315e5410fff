// Package heraldprom exports a herald broker's metrics to Prometheus.
//
// A [Collector] has two sources. Per queue, topic and subscription, it
// reads Stats at each scrape (found through Broker.Names and the Lookup
// functions): gauges such as herald_queue_messages_ready and counters such
// as herald_queue_messages_published_total{queue="orders"}. Broker-wide,
// it counts events through a herald.Observer: herald_messages_published_total,
// herald_messages_dead_lettered_total{reason="expired"} and the other
// herald_messages_*_total counters, exact and never reset.
//
// Names follow Prometheus conventions and mirror RabbitMQ's
// rabbitmq_prometheus plugin where the concept is the same:
// herald_queue_messages_ready is rabbitmq_queue_messages_ready, and the
// broker-wide counters are its rabbitmq_global_messages_*_total ones.
//
// Setup: the Observer goes to herald.New, so the collector comes first.
//
//	c := heraldprom.New()
//	b := herald.New(herald.WithObserver(c.Observer()))
//	c.Watch(b)
//	prometheus.MustRegister(c)
//	http.Handle("/metrics", promhttp.Handler())
//
// Every counter is monotonic for the life of the process. A queue or
// topic that disappears (or a broker that Watch replaces) keeps its
// counters' last values, and one declared again under the same name
// continues from them rather than from zero. What a destination counted
// between the last scrape and its disappearance is not seen by its own
// counters; the broker-wide ones, counted as events happen, miss nothing.
package heraldprom
