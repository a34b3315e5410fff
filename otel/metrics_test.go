package heraldotel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald"
)

// TestMetrics drives sends, deliveries, expiries, drops and dead letters,
// and checks every counter, histogram and gauge against what happened.
func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		b := r.b
		reg, err := r.tel.ObserveStats(b)
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Unregister()
		ctx := context.Background()

		b.Queue("dlq")
		work, _ := b.Queue("work", herald.WithDeadLetter("dlq"), herald.WithMaxDeliveries(1))
		b.Queue("small", herald.WithCapacity(1), herald.WithOverflow(herald.OverflowDropNewest), herald.WithDeadLetter("dlq"))
		b.Queue("stale", herald.WithTTL(time.Second), herald.WithDeadLetter("dlq"))
		b.Queue("later")
		lost, _ := b.Queue("lost", herald.WithDeadLetter("nowhere"))
		news, _ := b.Topic("news")
		reader, _ := news.Subscribe()
		news.Subscribe() // never reads
		group, _ := news.Subscribe(herald.WithGroup("archive"))

		workCtx, stopWork := context.WithCancel(ctx)
		defer stopWork()
		go work.Consume(workCtx, func(ctx context.Context, d *herald.Delivery) error {
			if d.Body == "bad" {
				return errors.New("bad")
			}
			return nil
		})
		mustPublish(t, ctx, b, "work", herald.NewMessage("good"))
		mustPublish(t, ctx, b, "work", herald.NewMessage("bad")) // dead-lettered at the delivery limit
		mustPublish(t, ctx, b, "small", herald.NewMessage(1))
		mustPublish(t, ctx, b, "small", herald.NewMessage(2)) // dropped, dead-lettered
		mustPublish(t, ctx, b, "stale", herald.NewMessage(1))
		time.Sleep(2 * time.Second) // expired, dead-lettered
		mustPublish(t, ctx, b, "later", &herald.Message{Body: 1, Delay: time.Hour})
		mustPublish(t, ctx, b, "lost", herald.NewMessage(1))
		d, _ := lost.Receive(ctx)
		d.Reject() // its dead letter fails: "nowhere" is not declared
		for i := range 3 {
			mustPublish(t, ctx, b, "news", herald.NewMessage(i))
		}
		d, _ = reader.Receive(ctx)
		d.Ack()
		d, _ = group.Receive(ctx) // unacked
		synctest.Wait()

		const send = "messaging.operation.name=send"
		ms := r.metrics(t)
		wantPoints(t, ms, "messaging.client.sent.messages",
			"{messaging.destination.name=work,"+send+"} = 2", "{messaging.destination.name=small,"+send+"} = 2",
			"{messaging.destination.name=stale,"+send+"} = 1", "{messaging.destination.name=later,"+send+"} = 1",
			"{messaging.destination.name=lost,"+send+"} = 1", "{messaging.destination.name=news,"+send+"} = 3")
		wantPoints(t, ms, "messaging.client.operation.duration",
			"{messaging.destination.name=work,"+send+",messaging.operation.type=send} count 2",
			"{messaging.destination.name=small,"+send+",messaging.operation.type=send} count 2",
			"{messaging.destination.name=stale,"+send+",messaging.operation.type=send} count 1",
			"{messaging.destination.name=later,"+send+",messaging.operation.type=send} count 1",
			"{messaging.destination.name=lost,"+send+",messaging.operation.type=send} count 1",
			"{messaging.destination.name=news,"+send+",messaging.operation.type=send} count 3")
		wantPoints(t, ms, "messaging.client.consumed.messages",
			"{messaging.destination.name=work,messaging.operation.name=process} = 2",
			"{messaging.destination.name=lost,messaging.operation.name=receive} = 1",
			"{messaging.destination.name=news,messaging.operation.name=receive} = 1",
			"{messaging.consumer.group.name=archive,messaging.destination.name=news,messaging.operation.name=receive} = 1")
		wantPoints(t, ms, "messaging.process.duration",
			"{messaging.destination.name=work,messaging.operation.name=process} count 1",
			"{error.type=*errors.errorString,messaging.destination.name=work,messaging.operation.name=process} count 1")
		wantPoints(t, ms, "herald.messages.dropped", "{messaging.destination.name=small} = 1")
		wantPoints(t, ms, "herald.messages.expired", "{messaging.destination.name=stale} = 1")
		wantPoints(t, ms, "herald.messages.dead_lettered",
			"{herald.dead_letter.reason=delivery-limit,messaging.destination.name=work} = 1",
			"{herald.dead_letter.reason=maxlen,messaging.destination.name=small} = 1",
			"{herald.dead_letter.reason=expired,messaging.destination.name=stale} = 1")
		wantPoints(t, ms, "herald.messages.dead_letter_failed",
			"{error.type=not_found,herald.dead_letter.reason=rejected,messaging.destination.name=lost} = 1")
		queues := func(dlq, work, small, stale, later, lost int) []string {
			var out []string
			for i, n := range []int{dlq, work, small, stale, later, lost} {
				name := []string{"dlq", "work", "small", "stale", "later", "lost"}[i]
				out = append(out, fmt.Sprintf("{messaging.destination.name=%s} = %d", name, n))
			}
			return out
		}
		wantPoints(t, ms, "herald.queue.messages.ready", queues(3, 0, 1, 0, 0, 0)...)
		wantPoints(t, ms, "herald.queue.messages.unacked", queues(0, 0, 0, 0, 0, 0)...)
		wantPoints(t, ms, "herald.queue.messages.delayed", queues(0, 0, 0, 0, 0, 0)...)
		wantPoints(t, ms, "herald.queue.messages.scheduled", queues(0, 0, 0, 0, 1, 0)...)
		wantPoints(t, ms, "herald.topic.messages.retained", "{messaging.destination.name=news} = 3")
		wantPoints(t, ms, "herald.subscription.lag",
			"{messaging.destination.name=news} = 3",
			"{messaging.consumer.group.name=archive,messaging.destination.name=news} = 2")
		d.Ack()
	})
}
