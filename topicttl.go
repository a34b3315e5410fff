package herald

// A topic expires messages two ways. WithMaxAge is retention: a plain
// subscription skips what is older, and a replay starts after it. A
// message's own TTL is expiry, as on a queue: a plain subscription skips
// a message whose TTL has passed, counted in its Stats().Expired like one
// past the max age; a group expires it as the queue it is, dead letter
// included. Both count from the publish to the topic.

// expired reports whether m, written to the ring at at on the broker
// clock, is past the topic's max age or its own TTL. now caches the clock
// across calls: pass a pointer to a negative value first.
func (t *Topic) expired(m *Message, at int64, now *int64) bool {
	return t.keepsTime(m) && t.aged(m, at, now) // the common case inline
}

func (t *Topic) aged(m *Message, at int64, now *int64) bool {
	if *now < 0 {
		*now = t.b.clock()
	}
	if t.cfg.maxAge > 0 && *now-at > int64(t.cfg.maxAge) {
		return true
	}
	exp := deadline(at, m.TTL)
	return m.TTL > 0 && exp != 0 && *now >= exp
}

// keepsTime reports whether the ring must keep m's publish time: for the
// max age, or for its TTL.
func (t *Topic) keepsTime(m *Message) bool { return t.cfg.maxAge > 0 || m.TTL > 0 }
