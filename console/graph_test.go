package console

import (
	"testing"
)

func nodeAt(g graphView) map[string]graphNode {
	m := map[string]graphNode{}
	for _, n := range g.Nodes {
		m[n.Name] = n
	}
	return m
}

func TestLayoutColumns(t *testing.T) {
	g := layout([]exchangeView{
		{Name: "shop", Kind: "topic", Alternate: "lost", Bindings: []bindingView{
			{Dest: "orders", DestKind: "queue", Key: "order.*"},
			{Dest: "orders", DestKind: "queue", Key: "refund.*"},
			{Dest: "billing", DestKind: "exchange", Key: "order.paid"},
		}},
		{Name: "billing", Kind: "fanout", Bindings: []bindingView{{Dest: "invoices", DestKind: "queue", Key: "x"}}},
	})
	at := nodeAt(g)
	col := func(name string) int { return (at[name].X - pad) / (nodeW + colGap) }
	for name, want := range map[string]int{"shop": 0, "orders": 1, "billing": 1, "lost": 1, "invoices": 2} {
		if got := col(name); got != want {
			t.Errorf("%s in column %d, want %d", name, got, want)
		}
	}
	if at["lost"].Kind != "missing" || at["orders"].Kind != "queue" || at["billing"].Kind != "exchange" {
		t.Errorf("kinds: %+v", at)
	}
	if len(g.Edges) != 4 {
		t.Fatalf("edges %+v, want one per bound pair and the alternate", g.Edges)
	}
	e := g.Edges[0]
	if e.From != "shop" || e.To != "orders" || e.Label != "order.*, refund.*" || e.Alternate ||
		e.X1 != at["shop"].X+nodeW || e.X2 != at["orders"].X || e.Y2 != at["orders"].Y+nodeH/2 {
		t.Errorf("edge shop→orders %+v", e)
	}
	if e := g.Edges[2]; e.To != "lost" || !e.Alternate || e.Label != "alternate" {
		t.Errorf("alternate edge %+v", e)
	}
	if e := g.Edges[3]; e.From != "billing" || e.Label != "" {
		t.Errorf("fanout edge %+v, want no label", e)
	}
	if g.Width != 2*pad+3*nodeW+2*colGap || g.Height != 2*pad+3*(nodeH+rowGap)-rowGap {
		t.Errorf("size %dx%d", g.Width, g.Height)
	}
	for _, n := range g.Nodes {
		if n.X+n.W > g.Width || n.Y+n.H > g.Height {
			t.Errorf("node %+v outside %dx%d", n, g.Width, g.Height)
		}
	}
}

func TestLayoutCycle(t *testing.T) {
	g := layout([]exchangeView{
		{Name: "a", Kind: "direct", Bindings: []bindingView{{Dest: "b", DestKind: "exchange", Key: "k"}}},
		{Name: "b", Kind: "direct", Alternate: "a", Bindings: []bindingView{{Dest: "q", DestKind: "queue", Key: "k"}}},
	})
	at := nodeAt(g)
	if len(at) != 3 || len(g.Edges) != 3 {
		t.Fatalf("graph %+v", g)
	}
	for _, n := range g.Nodes {
		if n.X < 0 || n.X+n.W > g.Width {
			t.Errorf("node %+v outside the width %d", n, g.Width)
		}
	}
	if at["q"].X <= at["b"].X {
		t.Errorf("q (%d) not after b (%d)", at["q"].X, at["b"].X)
	}
}

func TestLayoutEmpty(t *testing.T) {
	g := layout(nil)
	if g.Nodes == nil || g.Edges == nil || len(g.Nodes) != 0 {
		t.Fatalf("empty layout %+v", g)
	}
	g = layout([]exchangeView{{Name: "x", Kind: "topic"}})
	if len(g.Nodes) != 1 || g.Width != 2*pad+nodeW {
		t.Fatalf("one lone exchange: %+v", g)
	}
}
