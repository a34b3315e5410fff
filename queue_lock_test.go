package herald

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// cacheLine is the line size the Queue's padding is made for.
const cacheLine = 64

// span is the bytes [off, off+size) of a field within its struct.
type span struct {
	name      string
	off, size uintptr
}

// mayShareLine reports whether a and b can have bytes on one cache line.
// Go places a Queue at an address that is a multiple of 8, not
// necessarily of 64, so a line may start at any multiple of 8 within it:
// every such start is tried.
func mayShareLine(a, b span) bool {
	for start := uintptr(0); start < cacheLine; start += 8 {
		aFirst, aLast := (start+a.off)/cacheLine, (start+a.off+a.size-1)/cacheLine
		bFirst, bLast := (start+b.off)/cacheLine, (start+b.off+b.size-1)/cacheLine
		if aFirst <= bLast && bFirst <= aLast {
			return true
		}
	}
	return false
}

// The Queue's padding keeps apart what different goroutines write without
// the lock: the fields every publish reads (sleepers, held), occupied, on
// which every publish compare-and-swaps, and mu with the fields it guards,
// which consumers write. A field added between them, or a pad removed,
// would put two of them on one line again without any test noticing, and
// cost every publish a cache miss.
func TestQueueLayoutPadsHotFields(t *testing.T) {
	var q Queue
	field := func(name string, off, size uintptr) span { return span{name, off, size} }
	// sleepers and held are read together: one span, from the first to the
	// end of the second.
	readByPublish := field("sleepers..held", unsafe.Offsetof(q.sleepers),
		unsafe.Offsetof(q.held)+unsafe.Sizeof(q.held)-unsafe.Offsetof(q.sleepers))
	occupied := field("occupied", unsafe.Offsetof(q.occupied), unsafe.Sizeof(q.occupied))
	mu := field("mu", unsafe.Offsetof(q.mu), unsafe.Sizeof(q.mu))
	settles := field("settles", unsafe.Offsetof(q.settles), unsafe.Sizeof(q.settles.shared))
	intake := field("intake", unsafe.Offsetof(q.intake), unsafe.Sizeof(q.intake))

	for _, pair := range [][2]span{
		{readByPublish, occupied},
		{intake, occupied},
		{occupied, mu},
		// Every Receive's settle writes settles.shared without the lock.
		{mu, settles},
	} {
		if mayShareLine(pair[0], pair[1]) {
			t.Errorf("%s (offset %d, %d bytes) and %s (offset %d, %d bytes) can share a %d-byte cache line",
				pair[0].name, pair[0].off, pair[0].size, pair[1].name, pair[1].off, pair[1].size, cacheLine)
		}
	}
}

// mayShareLine itself: two 8-byte fields 64 bytes apart never share a
// line; 56 apart they can, and so can a 16-byte field 64 before.
func TestMayShareLine(t *testing.T) {
	for _, c := range []struct {
		a, b span
		want bool
	}{
		{span{"a", 0, 8}, span{"b", 64, 8}, false},
		{span{"a", 0, 8}, span{"b", 56, 8}, true},
		{span{"a", 0, 5}, span{"b", 64, 8}, false},
		{span{"a", 0, 16}, span{"b", 64, 8}, true},
		{span{"a", 0, 16}, span{"b", 72, 8}, false},
		{span{"a", 8, 8}, span{"b", 16, 8}, true},
	} {
		if got := mayShareLine(c.a, c.b); got != c.want {
			t.Errorf("mayShareLine(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// queueLockEntries are the only functions that take a Queue's mu
// directly; see Locking in queue.go.
var queueLockEntries = map[string]bool{"lock": true, "lockToTake": true, "lockSkipIntake": true}

// The names of the Queue's methods say what they do with q.mu (Locking in
// queue.go), and nothing takes q.mu but lock, lockToTake and
// lockSkipIntake. This reads the package's source, so that a new method
// cannot break the convention without a test failing:
//   - nothing calls q.mu.Lock (or g.q.mu.Lock, ...) but the entry points;
//   - an xLocked method neither lets go of q.mu nor takes it, directly or
//     through an xRelocking or xAndUnlock method or an entry point;
//   - an xRelocking or xAndUnlock method does let go of it.
func TestQueueLockProtocolNames(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			onQueue := isQueueMethod(fn)
			var unlocks, locks []string
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				at := fset.Position(call.Pos()).String()
				if mu, ok := sel.X.(*ast.SelectorExpr); ok && mu.Sel.Name == "mu" && isQueueExpr(mu.X) {
					switch sel.Sel.Name {
					case "Lock", "TryLock":
						if !(onQueue && queueLockEntries[fn.Name.Name]) {
							t.Errorf("%s: %s takes a Queue's mu directly; use lock, lockToTake or lockSkipIntake", at, fn.Name.Name)
						}
						locks = append(locks, at)
					case "Unlock":
						unlocks = append(unlocks, at)
					}
					return true
				}
				if !isQueueExpr(sel.X) {
					return true
				}
				switch m := sel.Sel.Name; {
				case queueLockEntries[m]:
					locks = append(locks, at)
				case strings.HasSuffix(m, "Relocking") || strings.HasSuffix(m, "AndUnlock"):
					unlocks = append(unlocks, at)
				}
				return true
			})
			if !onQueue {
				continue
			}
			checked++
			switch m := fn.Name.Name; {
			case strings.HasSuffix(m, "Locked"):
				if len(unlocks) > 0 || len(locks) > 0 {
					t.Errorf("%s: %s must hold q.mu throughout, but lets go of it at %v or takes it at %v; rename it xRelocking or xAndUnlock",
						fset.Position(fn.Pos()), m, unlocks, locks)
				}
			case strings.HasSuffix(m, "Relocking") || strings.HasSuffix(m, "AndUnlock"):
				if len(unlocks) == 0 {
					t.Errorf("%s: %s never lets go of q.mu; call it xLocked", fset.Position(fn.Pos()), m)
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("checked %d Queue methods, want the package's ~90: is the test reading the right directory?", checked)
	}
}

// isQueueMethod reports whether fn's receiver is a *Queue.
func isQueueMethod(fn *ast.FuncDecl) bool {
	if fn.Recv == nil || len(fn.Recv.List) != 1 {
		return false
	}
	star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := star.X.(*ast.Ident)
	return ok && id.Name == "Queue"
}

// isQueueExpr reports whether e names a Queue as the package's code does:
// q, or a field q (g.q, dq.q).
func isQueueExpr(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == "q"
	case *ast.SelectorExpr:
		return x.Sel.Name == "q"
	}
	return false
}
