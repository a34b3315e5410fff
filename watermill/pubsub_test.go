package heraldwm_test

import (
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/heraldmq/herald"
	heraldwm "github.com/heraldmq/herald/watermill"
)

// suiteCapacity makes the topics retain every message the universal tests
// publish before they subscribe (10,000 at most).
const suiteCapacity = 16384

// brokers gives each test one broker, shared by every publisher and
// subscriber the test constructs (the broker plays the server the adapters
// are clients of), and closes them all when the test ends.
var brokers sync.Map // *testing.T -> *herald.Broker

func brokerFor(t *testing.T) *herald.Broker {
	if b, ok := brokers.Load(t); ok {
		return b.(*herald.Broker)
	}
	b, loaded := brokers.LoadOrStore(t, herald.New())
	if !loaded {
		t.Cleanup(func() {
			brokers.Delete(t)
			if err := b.(*herald.Broker).Close(); err != nil {
				t.Error(err)
			}
		})
	}
	return b.(*herald.Broker)
}

func constructor(t *testing.T, group string) (message.Publisher, message.Subscriber) {
	t.Helper()
	b := brokerFor(t)
	topicOpts := []herald.TopicOption{herald.WithCapacity(suiteCapacity)}
	pub, err := heraldwm.NewPublisher(b, heraldwm.PublisherConfig{TopicOptions: topicOpts}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := heraldwm.NewSubscriber(b, heraldwm.SubscriberConfig{
		ConsumerGroup: group,
		FromEarliest:  true,
		TopicOptions:  topicOpts,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The suite leaves some subscribers open; close them with the test.
	t.Cleanup(func() {
		_ = pub.Close()
		_ = sub.Close()
	})
	return pub, sub
}

// features are what herald honestly supports; see README.md.
var features = tests.Features{
	ConsumerGroups:                   true,
	ExactlyOnceDelivery:              false,
	GuaranteedOrder:                  true,
	Persistent:                       true,
	RequireSingleInstance:            false,
	NewSubscriberReceivesOldMessages: true,
	ContextPreserved:                 false,
}

func TestUniversalPubSub(t *testing.T) {
	tests.TestPubSub(t, features,
		func(t *testing.T) (message.Publisher, message.Subscriber) { return constructor(t, "") },
		constructor,
	)
}
