package herald

import "iter"

// SubscriptionStats returns an iterator over a snapshot of the stats of
// the topic's subscriptions: each plain subscription's, under the group
// name "", then each group's once (as its members' Stats report it), under
// its name. It is for monitoring, such as a gauge of each one's Lag; the
// iterator takes no lock while the loop body runs.
func (t *Topic) SubscriptionStats() iter.Seq2[string, SubscriptionStats] {
	subs, groups := *t.subs.Load(), *t.groups.Load()
	return func(yield func(string, SubscriptionStats) bool) {
		for _, s := range subs {
			if !yield("", s.Stats()) {
				return
			}
		}
		for _, g := range groups {
			if !yield(g.name, groupStats(g.q.Stats())) {
				return
			}
		}
	}
}
