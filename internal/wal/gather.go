package wal

import "time"

// Under SyncAlways, producers that each wait for their append split into
// cohorts that take turns: while the leader fsyncs one batch, the appenders
// it will release cannot join the next batch, which the appenders that
// arrived meanwhile already lead. With 4 producers the log then shares each
// fsync between about 2 records instead of 4. So an Append caller about to
// lead first gathers: if fewer appenders wait in the pending batch than the
// last fsync released plus those that waited for it, they are likely to be
// coming back, and it waits for them, for at most half the last fsync's
// duration (and never more than maxGather), before it writes. This is
// PostgreSQL's commit_delay with commit_siblings, with the siblings counted
// and the delay ended as soon as they are in.
//
// A lone producer never waits: the last batch held only its own record.
// When producers stop, one gather times out and the next batch, smaller,
// lowers the expectation. Go's timers may fire up to about 1 ms late when
// the process is otherwise idle (the poller sleeps in whole milliseconds on
// Linux), so a gather that times out can cost about that much. A gather
// that succeeds ends when the last appender arrives, not on the timer.

// maxGather bounds the wait of a gathering leader.
const maxGather = time.Millisecond

// gatherLocked waits, dropping l.mu, until the pending batch holds the
// records of l.expect Append callers or the gather's time is up. Called by
// an Append caller that has set l.busy to lead, with l.mu held; returns
// with l.mu held.
func (l *Log) gatherLocked() {
	b := l.pending
	if !l.opts.Sync.always() || b.pinned == 0 || b.pinned >= l.expect || l.closed || l.err != nil {
		return
	}
	d := min(l.syncTime/2, maxGather)
	if d <= 0 {
		return
	}
	l.gatherWant = l.expect
	l.mu.Unlock()
	l.gatherTimer.Reset(d)
	select {
	case <-l.gathered:
	case <-l.gatherTimer.C:
	}
	l.gatherTimer.Stop()
	l.mu.Lock()
	if l.gatherWant > 0 {
		l.gatherWant = 0
		l.gatherMisses++
	}
	select { // a wake-up sent after the timer fired
	case <-l.gathered:
	default:
	}
}

// wakeGathererLocked ends the gather in progress, if any.
func (l *Log) wakeGathererLocked() {
	if l.gatherWant == 0 {
		return
	}
	l.gatherWant = 0
	select {
	case l.gathered <- struct{}{}:
	default:
	}
}
