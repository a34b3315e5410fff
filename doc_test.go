package herald

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The package doc links every exported sentinel error (a var named Err*)
// and every exported error type (one with an Error method) that the
// package declares, in whichever file, and links no error that does not
// exist, so that the list can neither fall behind nor go stale.
func TestPackageDocListsEveryError(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := exportedErrors(t)
	for name, file := range declared {
		if !strings.Contains(string(doc), "["+name+"]") {
			t.Errorf("doc.go does not link [%s] (declared in %s)", name, file)
		}
	}
	for _, m := range regexp.MustCompile(`\[(Err[A-Za-z]*|[A-Za-z]*Error)\]`).FindAllStringSubmatch(string(doc), -1) {
		if _, ok := declared[m[1]]; !ok {
			t.Errorf("doc.go links [%s], which the package does not declare as an error", m[1])
		}
	}
	// What the test must find, so that a change in how errors are
	// declared cannot make it pass by finding nothing.
	for _, name := range []string{"ErrClosed", "ErrAckTimeout", "ErrBadPattern", "LagError", "RouteError", "BodyTypeError"} {
		if _, ok := declared[name]; !ok {
			t.Errorf("%s not found among the declared errors %v", name, declared)
		}
	}
}

// exportedErrors returns the exported sentinel errors and error types
// that the package's non-test files declare, each with its file.
func exportedErrors(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return strings.HasSuffix(f, "_test.go") })
	fset := token.NewFileSet()
	types := map[string]string{}   // exported type name: file
	withError := map[string]bool{} // type names with an Error method
	found := map[string]string{}
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv != nil && d.Name.Name == "Error" && len(d.Recv.List) == 1 {
					withError[receiverType(d.Recv.List[0].Type)] = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if d.Tok == token.VAR && n.IsExported() && strings.HasPrefix(n.Name, "Err") {
								found[n.Name] = file
							}
						}
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							types[s.Name.Name] = file
						}
					}
				}
			}
		}
	}
	for name, file := range types {
		if withError[name] {
			found[name] = file
		}
	}
	return found
}

// receiverType returns the name of a method's receiver type, T for T or *T.
func receiverType(e ast.Expr) string {
	if star, ok := e.(*ast.StarExpr); ok {
		e = star.X
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}
