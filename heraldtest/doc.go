// Package heraldtest provides helpers for testing code that uses herald,
// as net/http/httptest does for net/http. It uses only herald's public API.
//
// A test of an event flow has four steps: start a broker, tap what you
// want to observe, drive the flow, then wait for it to settle and assert:
//
//	func TestCheckout(t *testing.T) {
//		b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled())
//		app := shop.Wire(t.Context(), b)             // your code declares and consumes
//		payments := heraldtest.Tap(t, b, "payments") // a topic: records without stealing
//
//		app.PlaceOrder(t.Context(), 42)
//
//		heraldtest.Settle(t, b) // every hop has run to its end
//		heraldtest.AssertKeys(t, payments, "payment.authorized", "payment.captured")
//	}
//
// [NewBroker] returns a broker that is closed when the test ends, after
// which the test fails if a goroutine of herald is still running; with
// [FailOnUnsettled] it also fails if a message was left unsettled.
//
// [Tap] records every message that passes a topic or an exchange, without
// taking it from the real consumers; a queue hands each message to one
// consumer only, so it is recorded by wrapping its handler with
// [Recorder.Handler] instead. A [Recorder] waits for what it records with
// [Recorder.WaitFor] and [Recorder.WaitUntil], on channels and never by
// polling.
//
// [Settle] waits until the whole broker is idle: nothing ready, unacked,
// backing off or unread anywhere, so a flow of any number of hops has
// finished. It replaces the sleeps and retry loops that make such tests
// flaky. [AssertBodies], [AssertKeys] and their unordered variants compare
// what a recorder saw with reflect.DeepEqual and print a line-by-line diff.
//
// Everything here works inside a testing/synctest bubble, where herald's
// back-offs, ack timeouts and TTLs take no real time. Call the helpers
// that take a testing.TB from the test's goroutine, as t.Fatal requires.
//
// heraldtest declares names of its own on the brokers it is given, all
// starting with "heraldtest.": leave that prefix to it.
package heraldtest
