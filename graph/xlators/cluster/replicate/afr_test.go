package replicate

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	_ "github.com/weftfs/weft/graph/xlators/storage/memory"
)

func newAFR(t *testing.T, n int, opts map[string]string) (*AFR, []graph.Xlator) {
	t.Helper()
	var leaves []graph.Xlator
	for i := 0; i < n; i++ {
		l, err := graph.Construct("storage/memory", fmt.Sprintf("weftafr-client-%d", i), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, l)
	}
	top, err := graph.Construct(Type, "weftafr-replicate-0", opts, nil, leaves...)
	if err != nil {
		t.Fatal(err)
	}
	graphtest.ActivateUp(t, top, leaves...)
	return top.(*AFR), leaves
}

func pending(t *testing.T, leaf graph.Xlator, g graph.GFID, key string) [3]int32 {
	t.Helper()
	v, _, err := leaf.Getxattr(context.Background(), &graph.Loc{GFID: g}, key, nil)
	if err != nil && graph.Errno(err) != unix.ENODATA {
		t.Fatal(err)
	}
	c, err := DecodePending(v[key])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChangelogEncodingMatchesRecording(t *testing.T) {
	f, err := os.Open("testdata/glusterfs-afr-pending.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	rows := 0
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 4 || !strings.HasPrefix(c[2], XattrPrefix) {
			continue
		}
		b, _ := hex.DecodeString(c[3])
		v, err := DecodePending(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(EncodePending(v[0], v[1], v[2])); got != c[3] {
			t.Errorf("round trip %s: %s", c[3], got)
		}
		rows++
	}
	if rows < 10 {
		t.Fatalf("only %d rows", rows)
	}
}

func TestReplicaDownBlameQuorumSplitBrain(t *testing.T) {
	ctx := context.Background()
	// No background data heal: it could repair child 2 between the lookup and the read-child
	// checks below, which then rightly pick it (a flake seen under load).
	a, leaves := newAFR(t, 3, map[string]string{"afr-pending-xattr": "weftafr-client-0,weftafr-client-1,weftafr-client-2", "data-self-heal": "off"})
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	defer fd.Unref()
	r, err := a.Create(ctx, &graph.Loc{Path: "/f1", Name: "f1", ParentGFID: graph.RootGFID}, unix.O_CREAT|unix.O_RDWR, 0o644, 0, fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := r.Stat.GFID
	fd.GFID = g
	if _, err := a.Writev(ctx, fd, []byte("hello\n"), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	for _, l := range leaves {
		for _, k := range a.PendingKeys() {
			if c := pending(t, l, g, k); c != [3]int32{} {
				t.Fatalf("all up: %s on %s = %v, want zero", k, l.Name(), c)
			}
		}
	}
	// Child 2 goes down: the survivors blame it, like the GlusterFS recording (data 1).
	a.Notify(ctx, graph.EventChildDown, leaves[2])
	if _, err := a.Writev(ctx, fd, []byte("more\n"), 6, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Setattr(ctx, &graph.Loc{GFID: g}, &graph.Iatt{Mode: 0o600}, graph.SetAttrMode, nil); err != nil {
		t.Fatal(err)
	}
	for _, l := range leaves[:2] {
		if c := pending(t, l, g, XattrPrefix+"weftafr-client-2"); c != [3]int32{1, 1, 0} {
			t.Fatalf("%s blames client-2 with %v, GlusterFS recorded [1 1 0]", l.Name(), c)
		}
	}
	// New entry while down: data+metadata pending on the new file, entry pending on the parent.
	fd2 := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	r2, err := a.Create(ctx, &graph.Loc{Path: "/x", Name: "x", ParentGFID: graph.RootGFID}, unix.O_CREAT|unix.O_RDWR, 0o644, 0, fd2, nil)
	fd2.Unref()
	if err != nil {
		t.Fatal(err)
	}
	if c := pending(t, leaves[0], r2.Stat.GFID, XattrPrefix+"weftafr-client-2"); c != [3]int32{1, 1, 0} {
		t.Fatalf("new entry pending %v, want [1 1 0]", c)
	}
	if c := pending(t, leaves[0], graph.RootGFID, XattrPrefix+"weftafr-client-2"); c != [3]int32{0, 0, 1} {
		t.Fatalf("parent entry pending %v, want [0 0 1]", c)
	}
	// Child 2 returns: lookup notices the blame and reads avoid the stale copy.
	a.Notify(ctx, graph.EventChildUp, leaves[2])
	if _, err := a.Lookup(ctx, &graph.Loc{Name: "f1", ParentGFID: graph.RootGFID}, nil); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 5; k++ {
		i, err := a.readChild(ctx, g, IdxData)
		if err != nil || i == 2 {
			t.Fatalf("read child %d (%v): the stale copy must not be read", i, err)
		}
	}
	rr, err := a.Readv(ctx, fd, 100, 0, 0, nil)
	if err != nil || string(rr.Data) != "hello\nmore\n" {
		t.Fatalf("read %q %v", rr.Data, err)
	}
	// Quorum lost (auto, 1 of 3 up): EROFS and no change anywhere.
	a.Notify(ctx, graph.EventChildDown, leaves[1])
	a.Notify(ctx, graph.EventChildDown, leaves[2])
	if _, err := a.Writev(ctx, fd, []byte("lost"), 0, 0, nil); graph.Errno(err) != unix.EROFS {
		t.Fatalf("write without quorum: %v, want EROFS", err)
	}
	rr, _ = leaves[0].Readv(ctx, fd, 100, 0, 0, nil)
	if string(rr.Data) != "hello\nmore\n" {
		t.Fatalf("write without quorum changed data: %q", rr.Data)
	}
	a.Notify(ctx, graph.EventChildUp, leaves[1])
	a.Notify(ctx, graph.EventChildUp, leaves[2])
	// Manufactured split-brain: 0 and 1 blame each other and both blame 2 → EIO on read.
	k0, k1 := XattrPrefix+"weftafr-client-0", XattrPrefix+"weftafr-client-1"
	if _, err := leaves[0].Setxattr(ctx, &graph.Loc{GFID: g}, graph.Xdata{k1: EncodePending(3, 0, 0)}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := leaves[1].Setxattr(ctx, &graph.Loc{GFID: g}, graph.Xdata{k0: EncodePending(2, 0, 0)}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lookup(ctx, &graph.Loc{Name: "f1", ParentGFID: graph.RootGFID}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Readv(ctx, fd, 100, 0, 0, nil); graph.Errno(err) != unix.EIO {
		t.Fatalf("read in split-brain: %v, want EIO", err)
	}
	// Not overwritten: both copies keep their contents and blame.
	if c := pending(t, leaves[0], g, k1); c[0] != 3 {
		t.Fatalf("split-brain changelog altered: %v", c)
	}
}

func TestQuorumRules(t *testing.T) {
	a := &AFR{qType: "auto"}
	cases := []struct {
		set  []bool
		want bool
	}{
		{[]bool{true, true, false}, true},
		{[]bool{false, false, true}, false},
		{[]bool{true, false}, true},  // half, with the first child
		{[]bool{false, true}, false}, // half, without the first child
	}
	for _, c := range cases {
		if got := a.quorumMet(c.set); got != c.want {
			t.Errorf("auto %v: %v", c.set, got)
		}
	}
	a = &AFR{qType: "fixed", qCount: 2}
	if a.quorumMet([]bool{true, false, false}) || !a.quorumMet([]bool{false, true, true}) {
		t.Error("fixed quorum")
	}
}

func TestBadOptions(t *testing.T) {
	var leaves []graph.Xlator
	for i := 0; i < 2; i++ {
		l, _ := graph.Construct("storage/memory", fmt.Sprintf("c%d", i), nil, nil)
		leaves = append(leaves, l)
	}
	top, err := graph.Construct(Type, "r", map[string]string{"afr-pending-xattr": "only-one"}, nil, leaves...)
	if err != nil {
		t.Fatal(err)
	}
	if err := top.Init(context.Background()); err == nil {
		t.Fatal("mismatched afr-pending-xattr accepted")
	}
}
