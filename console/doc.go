// Package console serves a management console for a herald broker: one
// web page and the JSON API it polls, both from the [http.Handler] that
// [Handler] returns, with no asset from outside (no CDN, no font, no
// script but its own).
//
// One line mounts it:
//
//	mux.Handle("/herald/", console.Handler(b))
//
// The page shows the broker's totals and its publish, deliver and ack
// rates over the last minute; every queue with its gauges, counters, rates
// and options; every topic with its subscriptions and groups and how far
// behind each is; every exchange with its bindings and a graph of where
// they route; and, for a queue or topic, its messages, without consuming
// them, dead letters with their x-death headers. It refreshes itself every
// second while it is open.
//
// The console is read-only unless [AllowActions] turns on its actions:
// purge a queue, move dead letters back to the queue they died in, publish
// a test message. Actions are POST requests, refused when they come from
// another origin (see [http.CrossOriginProtection]) and logged with
// log/slog. The console has no authentication of its own: mount it behind
// the application's, for example
//
//	mux.Handle("/herald/", requireAdmin(console.Handler(b, console.AllowActions())))
//
// # JSON API
//
// Paths are relative to where the handler is mounted. Every response is
// JSON; an error is {"error": "..."} with status 400 (malformed input, a
// request body over 64 KiB), 403 (actions off, or a cross-origin request),
// 404 (no such name), 405 (wrong method), 409 (a publish the destination
// refused) or 503 (the broker is closed).
//
//	GET  api/state              everything the page shows, in one response
//	GET  api/overview           totals and rates
//	GET  api/names              every declared name and its kind
//	GET  api/queues             every queue          GET api/queues/NAME
//	GET  api/topics             every topic          GET api/topics/NAME
//	GET  api/exchanges          every exchange       GET api/exchanges/NAME
//	GET  api/graph              the exchange graph, laid out
//	GET  api/messages/NAME?n=50&from=SEQ   a queue's first n ready messages,
//	                            or n of a topic's retained ones from SEQ
//	                            (without from: its last n)
//	POST api/purge/NAME         purge a queue
//	POST api/move/NAME          move the dead letters in queue NAME back
//	POST api/publish/NAME       publish {"key", "headers", "body"} to NAME
//
// Rates are computed from samples of the broker's Stats that the console
// takes when the API is read, at most one a second; it keeps them for a
// minute, and drops them all once nobody has read the API for
// [IdleAfter], so a console nobody looks at costs nothing.
package console
