package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"testing"

	"github.com/weftfs/weft/graph"
)

// TestRoutedTopOverridesEveryFop: routedTop embeds graph.Passthrough only for its identity; a
// fop it did not override would go to a child it does not have (ENOTCONN) instead of the route.
func TestRoutedTopOverridesEveryFop(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "router_fops.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
			continue
		}
		if st, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
			if id, ok := st.X.(*ast.Ident); ok && id.Name == "routedTop" {
				have[fn.Name.Name] = true
			}
		}
	}
	fops := reflect.TypeOf((*graph.Fops)(nil)).Elem()
	for i := 0; i < fops.NumMethod(); i++ {
		if m := fops.Method(i).Name; !have[m] {
			t.Errorf("routedTop does not override %s", m)
		}
	}
	if len(have) != fops.NumMethod() {
		t.Errorf("router_fops.go has %d routedTop methods, graph.Fops %d", len(have), fops.NumMethod())
	}
}
