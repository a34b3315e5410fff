package console

import (
	"cmp"
	"slices"
	"strings"
)

// graphView is the exchange graph laid out for the page, which draws it
// as SVG: exchanges in columns by how deep they are bound, each queue or
// topic in the column after the deepest exchange bound to it, one edge per
// bound pair.
type graphView struct {
	Width  int         `json:"width"`
	Height int         `json:"height"`
	Nodes  []graphNode `json:"nodes"`
	Edges  []graphEdge `json:"edges"`
}

type graphNode struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "exchange", "queue", "topic", or "missing"
	X    int    `json:"x"`
	Y    int    `json:"y"`
	W    int    `json:"w"`
	H    int    `json:"h"`
}

// graphEdge goes from the right side of one node to the left side of
// another.
type graphEdge struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Label     string `json:"label"`     // the binding keys, or "alternate"
	Alternate bool   `json:"alternate"` // drawn dashed
	X1        int    `json:"x1"`
	Y1        int    `json:"y1"`
	X2        int    `json:"x2"`
	Y2        int    `json:"y2"`
}

// Layout sizes, in SVG user units.
const (
	nodeW  = 180
	nodeH  = 30
	colGap = 140
	rowGap = 14
	pad    = 10
)

// layout lays out the graph of xs' bindings and alternates.
func layout(xs []exchangeView) graphView {
	g := graphView{Nodes: []graphNode{}, Edges: []graphEdge{}}
	if len(xs) == 0 {
		return g
	}
	kind := map[string]string{}
	for _, x := range xs {
		kind[x.Name] = "exchange"
	}
	type pair struct{ from, to string }
	var pairs []pair
	labels := map[pair][]string{}
	alternate := map[pair]bool{}
	add := func(p pair, label string, alt bool) {
		if _, ok := labels[p]; !ok {
			pairs = append(pairs, p)
		}
		labels[p] = append(labels[p], label)
		alternate[p] = alternate[p] || alt
	}
	for _, x := range xs {
		for _, b := range x.Bindings {
			if kind[b.Dest] == "" {
				kind[b.Dest] = cmp.Or(b.DestKind, "missing")
			}
			label := b.Key
			if x.Kind == "fanout" {
				label = "" // the key means nothing there
			}
			add(pair{x.Name, b.Dest}, label, false)
		}
		if x.Alternate != "" {
			if kind[x.Alternate] == "" {
				kind[x.Alternate] = "missing"
			}
			add(pair{x.Name, x.Alternate}, "alternate", true)
		}
	}

	// An exchange's column is the longest chain of exchanges bound to it,
	// capped so that a cycle ends; everything else goes after them.
	col := map[string]int{}
	for i := 0; i < len(xs); i++ {
		changed := false
		for _, p := range pairs {
			if kind[p.to] == "exchange" && col[p.to] < col[p.from]+1 && col[p.from]+1 < len(xs) {
				col[p.to] = col[p.from] + 1
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	// A queue or topic goes just after the deepest exchange bound to it.
	for _, p := range pairs {
		if kind[p.to] != "exchange" {
			col[p.to] = max(col[p.to], col[p.from]+1)
		}
	}
	last := 0
	names := make([]string, 0, len(kind))
	for name := range kind {
		names = append(names, name)
		last = max(last, col[name])
	}
	slices.Sort(names)

	// Within a column, nodes follow the mean row of what points at them,
	// which keeps edges from crossing much; then by name.
	row := map[string]float64{}
	columns := make([][]string, last+1)
	for _, name := range names {
		columns[col[name]] = append(columns[col[name]], name)
	}
	for c := range columns {
		key := map[string]float64{}
		for _, name := range columns[c] {
			sum, n := 0.0, 0
			for _, p := range pairs {
				if p.to == name && col[p.from] < c {
					sum += row[p.from]
					n++
				}
			}
			if n > 0 {
				key[name] = sum / float64(n)
			}
		}
		slices.SortStableFunc(columns[c], func(a, b string) int { return cmp.Compare(key[a], key[b]) })
		for r, name := range columns[c] {
			row[name] = float64(r)
		}
	}

	pos := map[string]graphNode{}
	rows := 0
	for c, names := range columns {
		rows = max(rows, len(names))
		for r, name := range names {
			n := graphNode{Name: name, Kind: kind[name], X: pad + c*(nodeW+colGap), Y: pad + r*(nodeH+rowGap), W: nodeW, H: nodeH}
			pos[name] = n
			g.Nodes = append(g.Nodes, n)
		}
	}
	for _, p := range pairs {
		a, b := pos[p.from], pos[p.to]
		g.Edges = append(g.Edges, graphEdge{
			From: p.from, To: p.to, Label: strings.Join(slices.DeleteFunc(labels[p], func(s string) bool { return s == "" }), ", "),
			Alternate: alternate[p], X1: a.X + a.W, Y1: a.Y + a.H/2, X2: b.X, Y2: b.Y + b.H/2,
		})
	}
	cols := len(columns)
	g.Width = 2*pad + cols*nodeW + (cols-1)*colGap
	g.Height = 2*pad + rows*(nodeH+rowGap) - rowGap
	return g
}
