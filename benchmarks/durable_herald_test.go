package benchmarks

import "github.com/heraldmq/herald"

func init() {
	durableSides = append(durableSides, durableSide{"herald", openHerald})
}

// openHerald is a durable queue of a broker opened on dir with the
// default options, sync always, consumed as the memory side's queue is.
func openHerald(r durableRun, dir string, producers int) durableSession {
	br, err := herald.Open(dir)
	if err != nil {
		r.Fatal(err)
	}
	r.Cleanup(func() { br.Close() })
	q, err := br.Queue("bench", herald.Durable(), herald.WithCapacity(capacity))
	if err != nil {
		r.Fatal(err)
	}
	return startHerald(r, q, producers)
}
