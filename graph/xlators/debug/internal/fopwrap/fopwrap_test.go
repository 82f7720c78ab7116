package fopwrap

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// methodsOf returns the names of the methods declared on *recv in file.
func methodsOf(t *testing.T, file, recv string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ms := map[string]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv == nil {
			continue
		}
		if st, ok := fd.Recv.List[0].Type.(*ast.StarExpr); ok {
			if id, ok := st.X.(*ast.Ident); ok && id.Name == recv {
				ms[fd.Name.Name] = true
			}
		}
	}
	return ms
}

// TestGeneratedCodeIsCurrent: the Wrapper and the test Leaf declare every fop themselves (a
// fop added to graph.Fops without re-running go generate would otherwise be silently passed
// through by the embedded Passthrough), and CallAll calls every fop.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	wrap := methodsOf(t, "wrap_gen.go", "Wrapper")
	leaf := methodsOf(t, "../foptest/foptest_gen.go", "Leaf")
	src, err := os.ReadFile("../foptest/foptest_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		if !wrap[f.String()] {
			t.Errorf("Wrapper does not declare %s: run go generate", f)
		}
		if !leaf[f.String()] {
			t.Errorf("foptest.Leaf does not declare %s: run go generate", f)
		}
		if strings.Count(string(src), "errs[graph.Fop"+f.String()+"] = x."+f.String()+"(") != 1 {
			t.Errorf("CallAll does not call %s exactly once", f)
		}
	}
	if len(wrap) != int(graph.NumFops) || len(leaf) != int(graph.NumFops) {
		t.Errorf("Wrapper has %d fops, Leaf %d, want %d", len(wrap), len(leaf), graph.NumFops)
	}
}

func TestParseFop(t *testing.T) {
	for in, want := range map[string]graph.Fop{"lookup": graph.FopLookup, "WRITEV": graph.FopWritev, "write": graph.FopWritev, "Read": graph.FopReadv, "rchecksum": graph.FopRchecksum} {
		if f, ok := ParseFop(in); !ok || f != want {
			t.Errorf("ParseFop(%q) = %v %v", in, f, ok)
		}
	}
	if _, ok := ParseFop("nope"); ok {
		t.Error("ParseFop accepted nope")
	}
	opts, err := graph.ValidateOptions([]graph.OptionSpec{{Key: "l", Type: graph.OptList}, {Key: "e", Type: graph.OptList}}, map[string]string{"l": "all"})
	if err != nil {
		t.Fatal(err)
	}
	if set, given, err := ParseFopList(opts, "l"); err != nil || !given || set != AllFops() {
		t.Errorf("all: %v %v", given, err)
	}
	if set, given, err := ParseFopList(opts, "e"); err != nil || given || set != (FopSet{}) {
		t.Errorf("empty: %v %v", given, err)
	}
}

func TestErrnoByName(t *testing.T) {
	for in, want := range map[string]unix.Errno{"EIO": unix.EIO, "enospc": unix.ENOSPC, " EACCES ": unix.EACCES, "ESTALE": unix.ESTALE} {
		if e, ok := ErrnoByName(in); !ok || e != want {
			t.Errorf("ErrnoByName(%q) = %v %v", in, e, ok)
		}
	}
	if _, ok := ErrnoByName("EFOO"); ok {
		t.Error("EFOO accepted")
	}
}

func TestSpreader(t *testing.T) {
	for _, c := range []struct {
		p    float64
		n    int
		want int
	}{{0, 100, 0}, {100, 100, 100}, {50, 100, 50}, {25, 100, 25}, {2.5, 1000, 25}, {33, 300, 99}} {
		var s Spreader
		hits := 0
		for i := 0; i < c.n; i++ {
			if s.Hit(c.p) {
				hits++
			}
		}
		if hits != c.want {
			t.Errorf("%v%% of %d: %d hits, want %d", c.p, c.n, hits, c.want)
		}
	}
}
