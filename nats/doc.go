// Package heraldnats bridges herald and NATS JetStream.
package heraldnats

import (
	_ "github.com/heraldmq/herald"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/nats-io/nats-server/v2/server"
)
