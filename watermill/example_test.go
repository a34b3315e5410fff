package heraldwm_test

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/heraldmq/herald"
	heraldwm "github.com/heraldmq/herald/watermill"
)

func Example() {
	b := herald.New()
	defer b.Close()

	pub, _ := heraldwm.NewPublisher(b, heraldwm.PublisherConfig{}, nil)
	defer pub.Close()
	sub, _ := heraldwm.NewSubscriber(b, heraldwm.SubscriberConfig{
		ConsumerGroup: "billing",
		Redelivery:    []herald.RedeliveryOption{herald.WithMaxDeliveries(5), herald.WithDeadLetter("orders.dead")},
	}, nil)
	defer sub.Close()

	messages, _ := sub.Subscribe(context.Background(), "orders")
	_ = pub.Publish("orders", message.NewMessage("order-42", []byte(`{"id":42}`)))

	msg := <-messages
	fmt.Println(msg.UUID, string(msg.Payload))
	msg.Ack()
	// Output: order-42 {"id":42}
}
