package heraldtest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"text/tabwriter"
)

// AssertBodies checks that rec has recorded exactly the bodies want, in
// this order, comparing each pair with reflect.DeepEqual. If not, it
// reports with t.Errorf a table of what was recorded and what was wanted,
// line by line, the lines that differ marked with "!", and returns false.
//
// It looks at what is recorded when it is called: call it after [Settle]
// or [Recorder.WaitFor].
func AssertBodies(t testing.TB, rec *Recorder, want ...any) bool {
	t.Helper()
	return assertOrdered(t, "bodies", rec, rec.Bodies(), want)
}

// AssertKeys checks that rec has recorded messages with exactly the
// routing keys want, in this order; see [AssertBodies].
func AssertKeys(t testing.TB, rec *Recorder, want ...string) bool {
	t.Helper()
	return assertOrdered(t, "keys", rec, toAny(rec.Keys()), toAny(want))
}

// AssertBodiesUnordered checks that rec has recorded exactly the bodies
// want, in any order, as many times each as in want, comparing with
// reflect.DeepEqual. If not, it reports with t.Errorf the bodies wanted
// and not recorded and those recorded and not wanted, and returns false.
// Use it for flows whose handlers run concurrently.
func AssertBodiesUnordered(t testing.TB, rec *Recorder, want ...any) bool {
	t.Helper()
	return assertUnordered(t, "bodies", rec, rec.Bodies(), want)
}

// AssertKeysUnordered checks that rec has recorded messages with exactly
// the routing keys want, in any order; see [AssertBodiesUnordered].
func AssertKeysUnordered(t testing.TB, rec *Recorder, want ...string) bool {
	t.Helper()
	return assertUnordered(t, "keys", rec, toAny(rec.Keys()), toAny(want))
}

func toAny[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func assertOrdered(t testing.TB, what string, rec *Recorder, got, want []any) bool {
	t.Helper()
	if len(got) == len(want) && equalAll(got, want) {
		return true
	}
	t.Errorf("heraldtest: %s recorded from %s differ (got %d, want %d):\n%s", what, rec, len(got), len(want), orderedDiff(got, want))
	return false
}

func equalAll(got, want []any) bool {
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			return false
		}
	}
	return true
}

// orderedDiff lays got and want side by side, one row per index, each
// line indented by a tab.
func orderedDiff(got, want []any) string {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, " \t#\tgot\twant")
	for i := range max(len(got), len(want)) {
		g, wv := "(none)", "(none)"
		var gv, wantv any
		if i < len(got) {
			gv, g = got[i], format(got[i])
		}
		if i < len(want) {
			wantv, wv = want[i], format(want[i])
		}
		mark := " "
		if i >= len(got) || i >= len(want) || !reflect.DeepEqual(gv, wantv) {
			mark = "!"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", mark, i, g, wv)
	}
	w.Flush()
	lines := strings.Split(strings.TrimSuffix(sb.String(), "\n"), "\n")
	for i, l := range lines {
		lines[i] = "\t" + strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func assertUnordered(t testing.TB, what string, rec *Recorder, got, want []any) bool {
	t.Helper()
	used := make([]bool, len(got))
	var missing []any
	for _, wv := range want {
		found := false
		for i, g := range got {
			if !used[i] && reflect.DeepEqual(g, wv) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			missing = append(missing, wv)
		}
	}
	var extra []any
	for i, g := range got {
		if !used[i] {
			extra = append(extra, g)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return true
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "heraldtest: %s recorded from %s differ, in any order (got %d, want %d):", what, rec, len(got), len(want))
	list := func(title string, vs []any) {
		if len(vs) == 0 {
			return
		}
		fmt.Fprintf(&sb, "\n\t%s:", title)
		for _, v := range vs {
			fmt.Fprintf(&sb, "\n\t\t%s", format(v))
		}
	}
	list("wanted, not recorded", missing)
	list("recorded, not wanted", extra)
	t.Errorf("%s", sb.String())
	return false
}

// format renders a value as Go syntax, so that 1 and "1" differ.
func format(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%#v", v)
}
