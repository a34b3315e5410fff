package heraldwm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/heraldmq/herald"
)

// topics declares herald topics on first use and remembers them, so that
// the hot path is one map load.
type topics struct {
	b    *herald.Broker
	opts []herald.TopicOption
	m    sync.Map // name -> *herald.Topic
}

// get returns the topic called name, declaring it with t.opts when it is
// not declared yet. A topic already declared (by herald code or another
// adapter) with other options is used as it was declared.
func (t *topics) get(name string) (*herald.Topic, error) {
	if v, ok := t.m.Load(name); ok {
		return v.(*herald.Topic), nil
	}
	tp, err := t.b.Topic(name, t.opts...)
	if errors.Is(err, herald.ErrExists) {
		if existing, lerr := t.b.LookupTopic(name); lerr == nil {
			tp, err = existing, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("heraldwm: topic %q: %w", name, err)
	}
	t.m.Store(name, tp)
	return tp, nil
}
