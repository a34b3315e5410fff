package herald

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// The package doc lists every sentinel error and error type errors.go and
// request.go declare, so that the list cannot fall behind.
func TestPackageDocListsEveryError(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, file := range []string{"errors.go", "request.go", "exchange.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range g.Specs {
				var name string
				switch s := spec.(type) {
				case *ast.ValueSpec:
					name = s.Names[0].Name
				case *ast.TypeSpec:
					name = s.Name.Name
				}
				isErr := strings.HasPrefix(name, "Err") || strings.HasSuffix(name, "Error") && name != "DestError" && !strings.HasPrefix(name, "Header")
				if ast.IsExported(name) && isErr && !strings.Contains(string(doc), "["+name+"]") {
					t.Errorf("doc.go does not list [%s] (declared in %s)", name, file)
				}
			}
		}
	}
}
