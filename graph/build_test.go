package graph_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
	_ "github.com/weftfs/weft/graph/xlators/debug/error-gen"
)

func parse(t testing.TB, src string) *volfile.Volfile {
	t.Helper()
	vf, err := volfile.ParseString(src)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return vf
}

const diamond = `# a diamond: two leaves under a passthrough, shared by nothing else
volume a
    type test/leaf
end-volume
volume b
    type test/leaf
    option value from-b
end-volume
volume c
    type test/pass
    subvolumes a b
end-volume
volume top
    type test/pass
    subvolumes c
end-volume
`

// TestBuildActivateOrderAndEvents: Init runs bottom-up, PARENT_UP reaches every translator
// top-down, and a CHILD_UP sent by a leaf climbs to the graph's event handler.
func TestBuildActivateOrderAndEvents(t *testing.T) {
	resetJournal()
	g, err := graph.Build(parse(t, diamond), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range g.Xlators {
		names = append(names, x.Name())
	}
	if strings.Join(names, " ") != "a b c top" || g.Top.Name() != "top" {
		t.Fatalf("xlators %v top %s", names, g.Top.Name())
	}
	if b := g.Find("b"); b.Options().String("value") != "from-b" || !b.Options().IsGiven("value") || g.Find("a").Options().String("value") != "default" {
		t.Fatalf("options not applied")
	}
	if ps := g.Find("a").Parents(); len(ps) != 1 || ps[0].Name() != "c" {
		t.Fatalf("parents of a: %v", ps)
	}
	var mu sync.Mutex
	var got []string
	g.SetEventHandler(func(ctx context.Context, ev graph.Event, from graph.Xlator) {
		mu.Lock()
		got = append(got, ev.String()+" from "+from.Name())
		mu.Unlock()
	})
	if len(entries()) != 0 {
		t.Fatalf("Build initialised something: %v", entries())
	}
	if err := g.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"init a", "init b", "init c", "init top",
		"notify top PARENT_UP from -",
		"notify c PARENT_UP from top",
		"notify a PARENT_UP from c",
		"notify b PARENT_UP from c",
	}
	if e := entries(); !reflect.DeepEqual(e, want) {
		t.Fatalf("journal\n got %q\nwant %q", e, want)
	}
	resetJournal()
	g.Find("b").(*testXlator).ForwardEvent(context.Background(), graph.EventChildUp)
	if e := entries(); !reflect.DeepEqual(e, []string{"notify c CHILD_UP from b", "notify top CHILD_UP from c"}) {
		t.Fatalf("CHILD_UP path %q", e)
	}
	if !reflect.DeepEqual(got, []string{"CHILD_UP from top"}) {
		t.Fatalf("handler saw %q", got)
	}
	if err := g.Activate(context.Background()); err == nil {
		t.Fatal("second Activate accepted")
	}
	resetJournal()
	g.Fini()
	g.Fini() // idempotent
	want = []string{
		"notify top PARENT_DOWN from -", "notify c PARENT_DOWN from top", "notify a PARENT_DOWN from c", "notify b PARENT_DOWN from c",
		"fini top", "fini c", "fini b", "fini a",
	}
	if e := entries(); !reflect.DeepEqual(e, want) {
		t.Fatalf("fini journal\n got %q\nwant %q", e, want)
	}
}

// TestInitFailureFinalises: when one Init fails, those already initialised are finalised (in
// reverse order) and the rest are never initialised.
func TestInitFailureFinalises(t *testing.T) {
	resetJournal()
	src := strings.Replace(diamond, "option value from-b", "option fail-init on", 1)
	g, err := graph.Build(parse(t, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = g.Activate(context.Background())
	if err == nil || err.Error() != "volume b (test/leaf): init: refusing to init" {
		t.Fatalf("activate: %v", err)
	}
	if e := entries(); !reflect.DeepEqual(e, []string{"init a", "init b", "fini a"}) {
		t.Fatalf("journal %q", e)
	}
	g.Fini() // nothing more
	if e := entries(); len(e) != 3 {
		t.Fatalf("Fini after failed Activate did more: %q", e)
	}
}

func TestBuildErrors(t *testing.T) {
	leaf := "volume a\n    type test/leaf\nend-volume\n" // lines 1-3
	for _, c := range []struct{ name, src, want string }{
		{"unknown type", leaf + "volume b\n    type cluster/nonesuch\n    subvolumes a\nend-volume\n",
			`volfile:5: volume b: unknown translator type "cluster/nonesuch"`},
		{"unknown option", leaf + "volume b\n    type test/pass\n    option value x\n    option colour blue\n    subvolumes a\nend-volume\n",
			`volfile:7: volume b (test/pass): option "colour": unknown option`},
		{"bad bool", leaf + "volume b\n    type test/pass\n    option flag maybe\n    subvolumes a\nend-volume\n",
			`volfile:6: volume b (test/pass): option flag "maybe": not a boolean (on/off)`},
		{"out of range", leaf + "volume b\n    type test/pass\n    option size 2GB\n    subvolumes a\nend-volume\n",
			`volfile:6: volume b (test/pass): option size "2GB": out of range [0, 1.073741824e+09]`},
		{"first bad option in file order", leaf + "volume b\n    type test/pass\n    option size x\n    option flag y\n    subvolumes a\nend-volume\n",
			`volfile:6: volume b (test/pass): option size "x": not a size`},
		{"alias twice", leaf + "volume b\n    type test/pass\n    option value x\n    option val y\n    subvolumes a\nend-volume\n",
			`volfile:7: volume b (test/pass): option val repeats option value (the same option under another name)`},
		{"leaf with children", leaf + "volume b\n    type test/leaf\n    subvolumes a\nend-volume\n",
			`volfile:6: volume b (test/leaf): takes at most 0 subvolume(s), has 1`},
		{"no children", "volume b\n    type test/pass\nend-volume\n",
			`volfile:1: volume b (test/pass): needs at least 1 subvolume(s), has 0`},
		{"check options", leaf + "volume b\n    type test/checked\n    option flag on\n    option val bad\n    subvolumes a\nend-volume\n",
			`volfile:7: volume b (test/checked): option value "bad": bad is not allowed`},
		{"error-gen errno", leaf + "volume b\n    type debug/error-gen\n    option error-no EWHAT\n    subvolumes a\nend-volume\n",
			`volfile:6: volume b (debug/error-gen): option error-no "EWHAT": not an errno name (like EIO or ENOSPC)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := graph.Build(parse(t, c.src), nil)
			if err == nil {
				t.Fatalf("built %v", g.Xlators)
			}
			var be *graph.BuildError
			if !errors.As(err, &be) || err.Error() != c.want {
				t.Fatalf("got  %v\nwant %s", err, c.want)
			}
		})
	}
	// The unknown-option error still wraps graph.ErrUnknownOption.
	_, err := graph.Build(parse(t, leaf+"volume b\n type test/pass\n option x 1\n subvolumes a\nend-volume\n"), nil)
	if !errors.Is(err, graph.ErrUnknownOption) {
		t.Fatalf("%v does not wrap ErrUnknownOption", err)
	}
	// A Volfile built in Go is validated too.
	if _, err := graph.Build(&volfile.Volfile{}, nil); err == nil {
		t.Fatal("empty volfile built")
	}
	if _, err := graph.Build(&volfile.Volfile{Volumes: []*volfile.Volume{{Name: "x", Type: "test/nope"}}}, nil); err == nil || err.Error() != `volfile: volume x: unknown translator type "test/nope"` {
		t.Fatalf("go-built: %v", err)
	}
}

func TestBuildFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.vol")
	if err := os.WriteFile(good, []byte(diamond), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := graph.BuildFile(good, nil)
	if err != nil || g.Top.Name() != "top" || len(g.Xlators) != 4 {
		t.Fatalf("BuildFile: %v", err)
	}
	bad := filepath.Join(dir, "bad.vol")
	os.WriteFile(bad, []byte(strings.Replace(diamond, "test/pass\n    subvolumes c", "test/pass\n    option flag perhaps\n    subvolumes c", 1)), 0o644)
	if _, err := graph.BuildFile(bad, nil); err == nil || err.Error() != bad+`: volfile:15: volume top (test/pass): option flag "perhaps": not a boolean (on/off)` {
		t.Fatalf("bad: %v", err)
	}
	syn := filepath.Join(dir, "syntax.vol")
	os.WriteFile(syn, []byte("volume a\n  type test/leaf\n"), 0o644)
	var se *volfile.SyntaxError
	if _, err := graph.BuildFile(syn, nil); !errors.As(err, &se) || se.Line != 2 || !strings.HasPrefix(err.Error(), syn+": volfile:2:") {
		t.Fatalf("syntax: %v", err)
	}
	if _, err := graph.BuildFile(filepath.Join(dir, "missing.vol"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

func TestSameTopologyAndReconfigure(t *testing.T) {
	resetJournal()
	g, err := graph.Build(parse(t, diamond), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer g.Fini()
	if !g.SameTopology(parse(t, diamond)) {
		t.Fatal("same volfile is not the same topology")
	}
	for name, src := range map[string]string{
		"type":     strings.Replace(diamond, "volume a\n    type test/leaf", "volume a\n    type test/checked", 1),
		"order":    strings.Replace(diamond, "subvolumes a b", "subvolumes b a", 1),
		"children": strings.Replace(diamond, "subvolumes a b", "subvolumes a", 1) + "volume top2\n type test/pass\n subvolumes top b\nend-volume\n",
		"renamed":  strings.ReplaceAll(diamond, "top", "summit"),
	} {
		if g.SameTopology(parse(t, src)) {
			t.Errorf("%s change not detected", name)
		}
		if err := g.Reconfigure(parse(t, src)); err == nil {
			t.Errorf("%s: Reconfigure accepted a different topology", name)
		}
	}

	// A live change of option values (options may be added and removed).
	resetJournal()
	newSrc := strings.Replace(diamond, "option value from-b", "option flag on", 1)
	newSrc = strings.Replace(newSrc, "volume a\n    type test/leaf", "volume a\n    type test/leaf\n    option value new-a", 1)
	if err := g.Reconfigure(parse(t, newSrc)); err != nil {
		t.Fatal(err)
	}
	a, b := g.Find("a").(*testXlator), g.Find("b").(*testXlator)
	if a.Value() != "new-a" || a.Options().String("value") != "new-a" || b.Value() != "default" || !b.Options().Bool("flag") {
		t.Fatalf("after reconfigure a=%q b=%q flag=%v", a.Value(), b.Value(), b.Options().Bool("flag"))
	}
	if e := entries(); len(e) != 4 || e[0] != "reconfigure a value=new-a" || e[3] != "reconfigure top value=default" {
		t.Fatalf("reconfigure order %q", e)
	}

	// All or nothing: a bad value in the last volume leaves the first unchanged.
	resetJournal()
	bad := strings.Replace(newSrc, "option value new-a", "option value newer-a", 1)
	bad = strings.Replace(bad, "type test/pass\n    subvolumes c", "type test/pass\n    option size lots\n    subvolumes c", 1)
	err = g.Reconfigure(parse(t, bad))
	if err == nil || !strings.HasPrefix(err.Error(), "volfile:16: volume top (test/pass): option size \"lots\"") {
		t.Fatalf("bad reconfigure: %v", err)
	}
	if a.Value() != "new-a" || a.Options().String("value") != "new-a" || len(entries()) != 0 {
		t.Fatalf("partially applied: a=%q journal %q", a.Value(), entries())
	}
}

// TestOptionsEdgeCases covers option parsing corners not in the contract's own test.
func TestOptionsEdgeCases(t *testing.T) {
	specs := []graph.OptionSpec{
		{Key: "p", Type: graph.OptPercent},
		{Key: "d", Type: graph.OptDuration, Min: 0, Max: 60},
		{Key: "s", Type: graph.OptSize},
		{Key: "l", Type: graph.OptList},
		{Key: "f", Type: graph.OptFloat, Min: -1, Max: 1},
		{Key: "i", Type: graph.OptInt},
		{Key: "path", Type: graph.OptPath},
	}
	o, err := graph.ValidateOptions(specs, map[string]string{"p": "12.5%", "d": "1500ms", "s": " 4 kb ", "l": "a, b  c,,d", "f": "-0.5", "i": "0x10", "path": "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Float("p") != 12.5 || o.Duration("d").Milliseconds() != 1500 || o.Size("s") != 4096 ||
		strings.Join(o.List("l"), "|") != "a|b|c|d" || o.Float("f") != -0.5 || o.Int("i") != 16 {
		t.Fatalf("values: %v %v %v %v %v %v", o.Float("p"), o.Duration("d"), o.Size("s"), o.List("l"), o.Float("f"), o.Int("i"))
	}
	if m := o.Map(); len(m) != 7 || m["p"] != "12.5%" {
		t.Fatalf("Map %v", m)
	}
	if o.IsSet("nope") || o.IsGiven("nope") {
		t.Fatal("unknown key reported set")
	}
	for _, bad := range []map[string]string{
		{"p": "101"}, {"p": "-1"}, {"p": "x%"}, {"d": "61"}, {"d": "-1s"}, {"d": "1 fortnight"},
		{"s": "18446744073709551615K"}, {"s": "-1"}, {"f": "1.5"}, {"f": "NaNx"}, {"path": "rel/x"}, {"i": "1.5"},
	} {
		if _, err := graph.ValidateOptions(specs, bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
	// An empty raw map yields defaults only; nil specs reject everything.
	if _, err := graph.ValidateOptions(nil, map[string]string{"x": "1"}); !errors.Is(err, graph.ErrUnknownOption) {
		t.Fatalf("nil specs: %v", err)
	}
}
