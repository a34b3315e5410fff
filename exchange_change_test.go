package herald

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/match"
)

// Exchanges change their routing tables one binding at a time. Random
// binds and unbinds on every kind, each followed by publishes checked
// against a model rebuilt from the bindings left: the same destinations, in
// the order each was bound from (a destination unbound entirely and bound
// again counts from then).
func TestExchangeBindUnbindMatchesModel(t *testing.T) {
	dests := []string{"d0", "d1", "d2", "d3", "d4", "d5"}
	for _, kind := range []ExchangeKind{DirectExchange, FanoutExchange, TopicExchange, HeadersExchange} {
		t.Run(kind.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(kind)))
			b := newTestBroker(t)
			log := &orderLog{}
			addRecorders(b, log, dests...)
			x := mustExchange(t, b, "x", kind)
			type bnd struct {
				dest, key string
				h         Headers
			}
			var bound []bnd
			since := map[string]int{}
			keys := []string{"a", "b", "a.b", "b.a", "*", "#", "a.#", "*.a"}
			for step := range 400 {
				if len(bound) > 0 && r.IntN(3) == 0 {
					i := r.IntN(len(bound))
					if err := x.Unbind(bound[i].dest, bound[i].key); err != nil {
						t.Fatalf("step %d: Unbind(%q, %q): %v", step, bound[i].dest, bound[i].key, err)
					}
					dest := bound[i].dest
					bound = slices.Delete(bound, i, i+1)
					if !slices.ContainsFunc(bound, func(b bnd) bool { return b.dest == dest }) {
						delete(since, dest)
					}
				} else {
					nb := bnd{dest: dests[r.IntN(len(dests))], key: keys[r.IntN(len(keys))]}
					if kind == DirectExchange {
						nb.key = strings.ReplaceAll(strings.ReplaceAll(nb.key, "*", "c"), "#", "d")
					}
					var opts []BindOption
					if kind == HeadersExchange {
						nb.h = Headers{"k": fmt.Sprint(r.IntN(3))}
						opts = append(opts, MatchAll(nb.h))
					}
					if slices.ContainsFunc(bound, func(b bnd) bool { return b.dest == nb.dest && b.key == nb.key }) {
						continue
					}
					mustBind(t, x, nb.dest, nb.key, opts...)
					bound = append(bound, nb)
					if _, ok := since[nb.dest]; !ok {
						since[nb.dest] = step
					}
				}
				for _, key := range []string{"a", "b", "a.b", "b.a", "c"} {
					h := Headers{"k": fmt.Sprint(r.IntN(3))}
					var want []string
					for _, bd := range bound {
						var ok bool
						switch kind {
						case DirectExchange:
							ok = bd.key == key
						case FanoutExchange:
							ok = true
						case TopicExchange:
							ok = match.MatchPattern(bd.key, key)
						case HeadersExchange:
							ok = match.MatchHeadersAll(bd.h, h)
						}
						if ok && !slices.Contains(want, bd.dest) {
							want = append(want, bd.dest)
						}
					}
					slices.SortFunc(want, func(a, b string) int { return since[a] - since[b] })
					x.Publish(t.Context(), &Message{Key: key, Headers: h})
					if got := log.take(); !slices.Equal(got, want) {
						t.Fatalf("step %d: key %q headers %v reached %v, want %v\nbindings %v", step, key, h, got, want, bound)
					}
				}
			}
		})
	}
}

// The transform of a destination's earliest binding applies; when that
// binding goes, the next one's does.
func TestExchangeTransformOfEarliestBinding(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	x := mustExchange(t, b, "x", DirectExchange)
	tag := func(s string) Transform {
		return func(m *Message) (*Message, error) {
			c := *m
			c.Body = s
			return &c, nil
		}
	}
	mustBind(t, x, "q", "a", WithTransform(tag("first")))
	mustBind(t, x, "q", "b", WithTransform(tag("second")))
	mustBind(t, x, "q", "c")
	for _, c := range []struct{ unbind, want string }{{"", "first"}, {"a", "second"}, {"b", "<nil>"}} {
		if c.unbind != "" {
			if err := x.Unbind("q", c.unbind); err != nil {
				t.Fatal(err)
			}
		}
		publishKey(x, "c")
		if got := receiveAll(t, q); len(got) != 1 || fmt.Sprint(got[0].Body) != c.want {
			t.Fatalf("after unbinding %q: got %v, want one message with body %s", c.unbind, got, c.want)
		}
	}
}
