package graph

import (
	"reflect"
	"sort"
	"testing"
)

// TestFopEnumMatchesInterface asserts the Fop enum and the Fops interface have the same members.
func TestFopEnumMatchesInterface(t *testing.T) {
	it := reflect.TypeOf((*Fops)(nil)).Elem()
	var methods, enum []string
	for i := 0; i < it.NumMethod(); i++ {
		methods = append(methods, it.Method(i).Name)
	}
	for f := Fop(0); f < NumFops; f++ {
		enum = append(enum, f.String())
		if g, ok := FopByName(f.String()); !ok || g != f {
			t.Errorf("FopByName(%q) = %v, %v", f.String(), g, ok)
		}
	}
	sort.Strings(methods)
	sort.Strings(enum)
	if !reflect.DeepEqual(methods, enum) {
		t.Fatalf("Fops methods and Fop enum differ:\nmethods %v\nenum    %v", methods, enum)
	}
	if len(methods) != 45 {
		t.Fatalf("expected the 45 GlusterFS fops, have %d", len(methods))
	}
}

// TestPassthroughForwardsEveryFop checks Passthrough implements Xlator and has every fop.
func TestPassthroughForwardsEveryFop(t *testing.T) {
	var _ Xlator = (*Passthrough)(nil)
	pt := reflect.TypeOf(&Passthrough{})
	for f := Fop(0); f < NumFops; f++ {
		if _, ok := pt.MethodByName(f.String()); !ok {
			t.Errorf("Passthrough lacks %s", f)
		}
	}
}

func TestGFIDRoundTrip(t *testing.T) {
	g := NewGFID()
	p, err := ParseGFID(g.String())
	if err != nil || p != g {
		t.Fatalf("round trip %s: %v %v", g, p, err)
	}
	if RootGFID.String() != "00000000-0000-0000-0000-000000000001" {
		t.Fatalf("root gfid %s", RootGFID)
	}
	for _, bad := range []string{"", "xyz", "00000000-0000-0000-0000-00000000000g", "00000000000000000000000000000001x"} {
		if _, err := ParseGFID(bad); err == nil {
			t.Errorf("ParseGFID(%q) accepted", bad)
		}
	}
}

func TestInodeTableLinkUnlinkLRU(t *testing.T) {
	tab := NewInodeTable(2)
	root := tab.Root()
	var ins []*Inode
	for i := 0; i < 4; i++ {
		st := &Iatt{GFID: NewGFID(), Mode: 0o100644}
		in := tab.Link(tab.NewInode(), root, string(rune('a'+i)), st)
		ins = append(ins, in)
	}
	if a, l := tab.Stats(); a != 4 || l != 0 {
		t.Fatalf("active %d lru %d, want 4 0", a, l)
	}
	got := tab.Grep(root, "b")
	if got != ins[1] {
		t.Fatalf("grep b: wrong inode")
	}
	got.Unref()
	for _, in := range ins {
		in.Unref() // the Link reference
		in.Unref() // the NewInode reference
	}
	if a, l := tab.Stats(); a != 0 || l != 2 {
		t.Fatalf("after unref active %d lru %d, want 0 2", a, l)
	}
	if tab.Grep(root, "a") != nil {
		t.Fatalf("oldest inode should have been purged from the LRU")
	}
	d := tab.Grep(root, "d")
	if d == nil || d.Path() != "/d" {
		t.Fatalf("d not cached or wrong path")
	}
	tab.Rename(d, root, "d", root, "e")
	if tab.Grep(root, "d") != nil || d.Path() != "/e" {
		t.Fatalf("rename not applied")
	}
	tab.Forget(d)
	if tab.Find(d.GFID()) != nil {
		t.Fatalf("forgotten inode still found")
	}
	d.Unref()
}

type releaseCounter struct{ n *int }

func (r releaseCounter) Release() { *r.n++ }

func TestFDReleasesContext(t *testing.T) {
	before := LiveFDs()
	tab := NewInodeTable(0)
	in := tab.Link(tab.NewInode(), tab.Root(), "f", &Iatt{GFID: NewGFID(), Mode: 0o100644})
	n := 0
	fd := NewFD(in, GFID{}, 0)
	if fd.GFID != in.GFID() {
		t.Fatalf("fd gfid not taken from inode")
	}
	fd.SetCtx("x", releaseCounter{&n})
	fd.Ref()
	fd.Unref()
	if n != 0 || LiveFDs() != before+1 {
		t.Fatalf("released early")
	}
	fd.Unref()
	fd.Unref() // over-release is ignored
	if n != 1 || LiveFDs() != before {
		t.Fatalf("release count %d live %d", n, LiveFDs()-before)
	}
}

func TestOptionsValidate(t *testing.T) {
	specs := []OptionSpec{
		{Key: "cache-size", Type: OptSize, Default: "32MB", Min: 0, Max: 1 << 40},
		{Key: "enable", Aliases: []string{"on"}, Type: OptBool, Default: "off"},
		{Key: "count", Type: OptInt, Min: 1, Max: 16, Default: "4"},
		{Key: "mode", Type: OptEnum, Enum: []string{"fast", "safe"}, Default: "safe"},
		{Key: "timeout", Type: OptDuration, Default: "42"},
	}
	o, err := ValidateOptions(specs, map[string]string{"on": "yes", "count": "16", "mode": "FAST"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Size("cache-size") != 32<<20 || !o.Bool("enable") || o.Int("count") != 16 || o.String("mode") != "fast" || o.Duration("timeout").Seconds() != 42 {
		t.Fatalf("bad values %v", o.values)
	}
	for _, bad := range []map[string]string{{"nope": "1"}, {"count": "17"}, {"count": "x"}, {"mode": "other"}, {"enable": "maybe"}, {"cache-size": "12QB"}} {
		if _, err := ValidateOptions(specs, bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}
