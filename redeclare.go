package herald

import (
	"fmt"
	"time"
)

// Declaring a name again returns what is declared only when the options
// are the same. These name the first option that differs, as the With...
// option that sets it, so that an ErrExists says what to change.

// queueDiff names the first option in which now differs from was, the
// queue's declared options; "" if none does. A transform always differs:
// functions cannot be compared (two closures from one factory compare
// equal or not depending on inlining), so herald does not guess.
func queueDiff(was, now queueConfig) string {
	switch {
	case was.transform != nil || now.transform != nil:
		return "WithTransform: functions cannot be compared, so a queue declared with a transform, " +
			"or declared again with one, is never the same declaration"
	case was.capacity != now.capacity:
		return differ("WithCapacity", was.capacity, now.capacity)
	case was.overflow != now.overflow:
		return differ("WithOverflow", was.overflow, now.overflow)
	case was.ttl != now.ttl:
		return differ("WithTTL", was.ttl, now.ttl)
	case was.priorities != now.priorities:
		return differ("WithPriorities", was.priorities, now.priorities)
	case was.dedup != now.dedup:
		return differ("WithDedup", was.dedup, now.dedup)
	case was.durable != now.durable:
		return differ("Durable", was.durable, now.durable)
	case was.singleActive != now.singleActive:
		return differ("WithSingleActiveConsumer", onOff(was.singleActive), onOff(now.singleActive))
	}
	return redeliveryDiff(was.redeliveryConfig, now.redeliveryConfig)
}

func redeliveryDiff(was, now redeliveryConfig) string {
	switch {
	case was.maxDeliveries != now.maxDeliveries:
		return differ("WithMaxDeliveries", was.maxDeliveries, now.maxDeliveries)
	case was.deadLetter != now.deadLetter:
		return differ("WithDeadLetter", fmt.Sprintf("%q", was.deadLetter), fmt.Sprintf("%q", now.deadLetter))
	case was.replaceKey != now.replaceKey || was.deadLetterKey != now.deadLetterKey:
		return differ("WithDeadLetterKey", optionalString(was.deadLetterKey, was.replaceKey),
			optionalString(now.deadLetterKey, now.replaceKey))
	case was.ackTimeout != now.ackTimeout:
		return differ("WithAckTimeout", was.ackTimeout, now.ackTimeout)
	case was.backoffMin != now.backoffMin || was.backoffMax != now.backoffMax:
		return differ("WithBackoff", backoffRange(was.backoffMin, was.backoffMax), backoffRange(now.backoffMin, now.backoffMax))
	}
	return ""
}

func differ(option string, was, now any) string {
	return fmt.Sprintf("%s: declared with %v, now %v", option, was, now)
}

func optionalString(s string, set bool) string {
	if !set {
		return "none"
	}
	return fmt.Sprintf("%q", s)
}

func backoffRange(min, max time.Duration) string { return fmt.Sprintf("%v to %v", min, max) }

// existsError is the ErrExists of declaring name again as a kind with
// other options, diff naming the first that differs.
func existsError(kind, name, diff, lookup string) error {
	return fmt.Errorf("%w: %s %q: %s; to use the %s as declared, call b.%s(%q)",
		ErrExists, kind, name, diff, kind, lookup, name)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
