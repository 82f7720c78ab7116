package store

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func applyLog(f *FSM, idx uint64, c *Command) *Result {
	b, _ := json.Marshal(c)
	return f.Apply(&raft.Log{Index: idx, Data: b}).(*Result)
}

func newTestFSM(t *testing.T) *FSM {
	f := NewFSM()
	for i, c := range []*Command{
		{Op: OpInit, ClusterID: "c", Secret: strings.Repeat("ab", 16), Peer: &Peer{ID: "a", Address: "127.0.0.1", MgmtPort: 24007}},
		{Op: OpPeerAdd, Peer: &Peer{ID: "b", Address: "127.0.0.2", MgmtPort: 24007}},
		{Op: OpPeerAdd, Peer: &Peer{ID: "c", Address: "127.0.0.3", MgmtPort: 24007}},
	} {
		if r := applyLog(f, uint64(i+1), c); r.Err != "" {
			t.Fatal(r.Err)
		}
	}
	return f
}

func bricks(specs ...string) []Brick {
	ids := map[string]string{"127.0.0.1": "a", "127.0.0.2": "b", "127.0.0.3": "c", "127.0.0.9": "zz"}
	var bs []Brick
	for _, s := range specs {
		h, p, _ := strings.Cut(s, ":")
		bs = append(bs, Brick{PeerID: ids[h], Host: h, Path: p})
	}
	return bs
}

func TestFSMVolumeLifecycleAndConflicts(t *testing.T) {
	f := newTestFSM(t)
	idx := uint64(10)
	run := func(c *Command) string {
		idx++
		return applyLog(f, idx, c).Err
	}
	create := func(name string, replica, arbiter int, bs ...string) *Command {
		return &Command{Op: OpVolumeCreate, Volume: &Volume{Name: name, ID: name + "-id", Replica: replica, Arbiter: arbiter, Bricks: bricks(bs...)}}
	}
	if e := run(create("v1", 3, 0, "127.0.0.1:/b/1", "127.0.0.2:/b/1", "127.0.0.3:/b/1")); e != "" {
		t.Fatal(e)
	}
	// The same command logged twice (two peers racing): exactly one wins.
	if e := run(create("v1", 3, 0, "127.0.0.1:/b/2", "127.0.0.2:/b/2", "127.0.0.3:/b/2")); !strings.Contains(e, "already exists") {
		t.Fatalf("duplicate create: %q", e)
	}
	for _, tc := range []struct {
		c    *Command
		want string
	}{
		{create("v2", 1, 0, "127.0.0.1:/b/1"), "already part of volume v1"},
		{create("v2", 1, 0, "127.0.0.1:/b/1/sub"), "nested"},
		{create("v2", 1, 0, "127.0.0.1:/b"), "nested"},
		{create("v2", 1, 0, "127.0.0.9:/b/x"), "not a peer"},
		{create("v2", 2, 0, "127.0.0.1:/c/1", "127.0.0.2:/c/1", "127.0.0.3:/c/1"), "not a multiple of replica count 2"},
		{create("v2", 2, 1, "127.0.0.1:/c/1", "127.0.0.2:/c/1"), "arbiter"},
		{create("v2", 1, 0, "127.0.0.1:/c/1", "127.0.0.1:/c/1"), "given twice"},
		{create("v2", 1, 0, "127.0.0.1:relative"), "absolute"},
		{create("bad name", 1, 0, "127.0.0.1:/c/1"), "invalid volume name"},
		{create("v2", 1, 0), "no bricks"},
		{&Command{Op: OpVolumeStop, Name: "v1"}, "not in the started state"},
		{&Command{Op: OpVolumeStart, Name: "nope"}, "does not exist"},
		{&Command{Op: "frobnicate"}, "unknown command"},
		{&Command{Op: OpPeerRemove, PeerID: "b"}, "holds brick"},
	} {
		if e := run(tc.c); !strings.Contains(e, tc.want) {
			t.Errorf("%s %+v: err %q, want %q", tc.c.Op, tc.c.Volume, e, tc.want)
		}
	}
	st, _ := f.State()
	if len(st.Volumes) != 1 {
		t.Fatalf("rejected commands left volumes behind: %v", st.VolumeNames())
	}
	v := st.Volumes["v1"]
	if v.Type() != TypeReplicate || v.Layout() != "1 x 3 = 3" || v.Status != StatusCreated {
		t.Fatalf("v1 = %s %s %s", v.Type(), v.Layout(), v.Status)
	}
	for _, b := range v.Bricks {
		if b.Port != DefaultBrickPortBase {
			t.Fatalf("brick %s port %d", b, b.Port)
		}
	}
	// A second volume on the same hosts gets the next ports.
	if e := run(create("v2", 1, 0, "127.0.0.1:/c/1", "127.0.0.1:/c/2")); e != "" {
		t.Fatal(e)
	}
	st, _ = f.State()
	if p := []int{st.Volumes["v2"].Bricks[0].Port, st.Volumes["v2"].Bricks[1].Port}; p[0] != DefaultBrickPortBase+1 || p[1] != DefaultBrickPortBase+2 {
		t.Fatalf("v2 ports %v", p)
	}
	// Start, stale version, set, reset, stop, delete.
	if e := run(&Command{Op: OpVolumeStart, Name: "v1"}); e != "" {
		t.Fatal(e)
	}
	if e := run(&Command{Op: OpVolumeStart, Name: "v1"}); !strings.Contains(e, "already started") {
		t.Fatalf("double start: %q", e)
	}
	if e := run(&Command{Op: OpVolumeSet, Name: "v1", ExpectVersion: 1, Options: map[string]string{"x": "y"}}); !strings.Contains(e, "changed by another operation") {
		t.Fatalf("stale set: %q", e)
	}
	if e := run(&Command{Op: OpVolumeSet, Name: "v1", ExpectVersion: 2, Options: map[string]string{"x": "y"}}); e != "" {
		t.Fatal(e)
	}
	if e := run(&Command{Op: OpVolumeDelete, Name: "v1"}); !strings.Contains(e, "stop it") {
		t.Fatalf("delete started: %q", e)
	}
	if e := run(&Command{Op: OpVolumeReset, Name: "v1", Keys: []string{"nope"}}); !strings.Contains(e, "not set") {
		t.Fatalf("reset unset: %q", e)
	}
	if e := run(&Command{Op: OpVolumeReset, Name: "v1", Keys: []string{"x"}}); e != "" {
		t.Fatal(e)
	}
	if e := run(&Command{Op: OpVolumeStop, Name: "v1"}); e != "" {
		t.Fatal(e)
	}
	if e := run(&Command{Op: OpVolumeDelete, Name: "v1"}); e != "" {
		t.Fatal(e)
	}
	// Its bricks are free again.
	if e := run(create("v3", 1, 0, "127.0.0.1:/b/1")); e != "" {
		t.Fatal(e)
	}
}

func TestFSMBrickOps(t *testing.T) {
	f := newTestFSM(t)
	idx := uint64(10)
	run := func(c *Command) string {
		idx++
		return applyLog(f, idx, c).Err
	}
	if e := run(&Command{Op: OpVolumeCreate, Volume: &Volume{Name: "v", ID: "i", Replica: 2, Bricks: bricks("127.0.0.1:/a", "127.0.0.2:/a")}}); e != "" {
		t.Fatal(e)
	}
	if e := run(&Command{Op: OpAddBrick, Name: "v", Bricks: bricks("127.0.0.1:/b")}); !strings.Contains(e, "multiple") {
		t.Fatalf("add one brick to replica 2: %q", e)
	}
	if e := run(&Command{Op: OpAddBrick, Name: "v", Bricks: bricks("127.0.0.1:/b", "127.0.0.3:/b")}); e != "" {
		t.Fatal(e)
	}
	st, _ := f.State()
	if v := st.Volumes["v"]; v.Type() != TypeDistributedReplicate || v.Layout() != "2 x 2 = 4" {
		t.Fatalf("after add-brick: %s %s", v.Type(), v.Layout())
	}
	if e := run(&Command{Op: OpRemoveBrickStart, Name: "v", Bricks: bricks("127.0.0.1:/b")}); !strings.Contains(e, "whole replica sets") {
		t.Fatalf("partial set: %q", e)
	}
	if e := run(&Command{Op: OpRemoveBrickStart, Name: "v", Bricks: bricks("127.0.0.1:/a", "127.0.0.3:/b")}); !strings.Contains(e, "partly") {
		t.Fatalf("mixed sets: %q", e)
	}
	if e := run(&Command{Op: OpRemoveBrickCommit, Name: "v"}); !strings.Contains(e, "no remove-brick started") {
		t.Fatalf("commit before start: %q", e)
	}
	if e := run(&Command{Op: OpRemoveBrickStart, Name: "v", Bricks: bricks("127.0.0.1:/b", "127.0.0.3:/b")}); e != "" {
		t.Fatal(e)
	}
	if e := run(&Command{Op: OpRemoveBrickCommit, Name: "v"}); e != "" {
		t.Fatal(e)
	}
	if e := run(&Command{Op: OpReplaceBrick, Name: "v", Old: &bricks("127.0.0.2:/a")[0], New: &bricks("127.0.0.3:/a")[0]}); e != "" {
		t.Fatal(e)
	}
	st, _ = f.State()
	v := st.Volumes["v"]
	if got := v.Bricks[0].String() + " " + v.Bricks[1].String(); got != "127.0.0.1:/a 127.0.0.3:/a" {
		t.Fatalf("bricks after remove+replace: %s", got)
	}
}

func TestFSMSnapshotRestore(t *testing.T) {
	f := newTestFSM(t)
	applyLog(f, 10, &Command{Op: OpVolumeCreate, Volume: &Volume{Name: "v", ID: "i", Replica: 1, Bricks: bricks("127.0.0.1:/a")}})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	g := NewFSM()
	w := g.Watch()
	if err := g.Restore(sink); err != nil {
		t.Fatal(err)
	}
	<-w
	st, _ := g.State()
	if len(st.Peers) != 3 || st.Volumes["v"] == nil || st.Secret == "" {
		t.Fatalf("restored state %+v", st)
	}
	if err := NewFSM().Restore(&memSink{}); err == nil {
		t.Fatal("empty snapshot restored without error")
	}
}

type memSink struct{ strings.Builder }

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { return nil }
func (m *memSink) Read(p []byte) (int, error) {
	s := m.String()
	if len(s) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s)
	rest := s[n:]
	m.Reset()
	m.WriteString(rest)
	return n, nil
}

func TestFSMDeduplicatesRetries(t *testing.T) {
	f := newTestFSM(t)
	c := &Command{Op: OpVolumeCreate, ReqID: "r1", Volume: &Volume{Name: "v", ID: "i", Replica: 1, Bricks: bricks("127.0.0.1:/a")}}
	if r := applyLog(f, 10, c); r.Err != "" {
		t.Fatal(r.Err)
	}
	// The same request logged again (a retry after a lost leadership that had committed):
	// the first outcome, not "already exists".
	if r := applyLog(f, 11, c); r.Err != "" || r.Volume == nil || r.Volume.Name != "v" {
		t.Fatalf("retry: %+v", r)
	}
	// A different request for the same thing is rejected.
	c2 := *c
	c2.ReqID = "r2"
	if r := applyLog(f, 12, &c2); !strings.Contains(r.Err, "already exists") {
		t.Fatalf("second request: %+v", r)
	}
	if r := applyLog(f, 13, &c2); !strings.Contains(r.Err, "already exists") {
		t.Fatalf("retry of a rejected request: %+v", r)
	}
}

// TestFSMBrickIDsAreStable: a brick keeps its ID (its protocol/client name, which names the
// changelog xattrs its replicas keep about it) whatever is removed before it, a new brick never
// takes a name that was used, a replacement takes the name of the brick it replaces, and a
// volume stored before IDs existed keeps its positional names through its first brick change.
// Regression: remove-brick of the first replica set of a 2 × 2 volume renamed the second set's
// bricks VOL-client-0/1, so the changelogs they kept as VOL-client-2/3 blamed nobody.
func TestFSMBrickIDsAreStable(t *testing.T) {
	f := newTestFSM(t)
	idx := uint64(10)
	run := func(c *Command) {
		t.Helper()
		idx++
		if e := applyLog(f, idx, c).Err; e != "" {
			t.Fatal(e)
		}
	}
	ids := func(name string) string {
		st, _ := f.State()
		return strings.Join(st.Volumes[name].BrickIDs(), " ")
	}
	run(&Command{Op: OpVolumeCreate, Volume: &Volume{Name: "v", ID: "i", Replica: 2, Bricks: bricks("127.0.0.1:/a", "127.0.0.2:/a", "127.0.0.1:/b", "127.0.0.2:/b")}})
	if got := ids("v"); got != "v-client-0 v-client-1 v-client-2 v-client-3" {
		t.Fatalf("created: %s", got)
	}
	run(&Command{Op: OpRemoveBrickStart, Name: "v", Bricks: bricks("127.0.0.1:/a", "127.0.0.2:/a")})
	run(&Command{Op: OpRemoveBrickCommit, Name: "v"})
	if got := ids("v"); got != "v-client-2 v-client-3" {
		t.Fatalf("after removing the first set: %s, want v-client-2 v-client-3", got)
	}
	run(&Command{Op: OpAddBrick, Name: "v", Bricks: bricks("127.0.0.1:/c", "127.0.0.3:/c")})
	if got := ids("v"); got != "v-client-2 v-client-3 v-client-4 v-client-5" {
		t.Fatalf("after add-brick: %s", got)
	}
	run(&Command{Op: OpReplaceBrick, Name: "v", Old: &bricks("127.0.0.2:/b")[0], New: &bricks("127.0.0.3:/b")[0]})
	if got := ids("v"); got != "v-client-2 v-client-3 v-client-4 v-client-5" {
		t.Fatalf("after replace-brick: %s", got)
	}
	st, _ := f.State()
	if b := st.Volumes["v"].Bricks[1]; b.String() != "127.0.0.3:/b" || b.ID != "v-client-3" {
		t.Fatalf("the replacement is %s %s, want 127.0.0.3:/b v-client-3", b, b.ID)
	}

	// A volume stored before IDs existed (no IDs in its record): named by position, and those
	// names recorded before its first brick change.
	old := st.Volumes["v"].Clone()
	old.Name = "old"
	old.Bricks = bricks("127.0.0.1:/o1", "127.0.0.2:/o1", "127.0.0.1:/o2", "127.0.0.2:/o2")
	f.mu.Lock()
	f.state.Volumes["old"] = old
	f.mu.Unlock()
	if got := ids("old"); got != "old-client-0 old-client-1 old-client-2 old-client-3" {
		t.Fatalf("legacy volume: %s", got)
	}
	run(&Command{Op: OpRemoveBrickStart, Name: "old", Bricks: bricks("127.0.0.1:/o1", "127.0.0.2:/o1")})
	run(&Command{Op: OpRemoveBrickCommit, Name: "old"})
	if got := ids("old"); got != "old-client-2 old-client-3" {
		t.Fatalf("legacy volume after removing its first set: %s", got)
	}

	// IDs given at create (an imported GlusterFS volume's brick-ids, gaps and all) are kept;
	// malformed, partial or repeated ones are refused.
	run(&Command{Op: OpVolumeCreate, Volume: &Volume{Name: "g", ID: "gi", Replica: 2, Bricks: withIDs(bricks("127.0.0.1:/g1", "127.0.0.2:/g1", "127.0.0.1:/g2", "127.0.0.2:/g2"), "g-client-0", "g-client-1", "g-client-4", "g-client-5")}})
	if got := ids("g"); got != "g-client-0 g-client-1 g-client-4 g-client-5" {
		t.Fatalf("imported ids: %s", got)
	}
	run(&Command{Op: OpAddBrick, Name: "g", Bricks: bricks("127.0.0.1:/g3", "127.0.0.3:/g3")})
	if got := ids("g"); got != "g-client-0 g-client-1 g-client-4 g-client-5 g-client-6 g-client-7" {
		t.Fatalf("imported ids after add-brick: %s", got)
	}
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{[]string{"h-client-0", ""}, "give all or none"},
		{[]string{"h-client-0", "h-client-0"}, "given twice"},
		{[]string{"h-client-0", "g-client-1"}, "is not h-client-N"},
		{[]string{"h-client-0", "h-client-01"}, "is not h-client-N"},
	} {
		idx++
		c := &Command{Op: OpVolumeCreate, Volume: &Volume{Name: "h", ID: "hi", Replica: 2, Bricks: withIDs(bricks("127.0.0.1:/h", "127.0.0.2:/h"), tc.ids...)}}
		if e := applyLog(f, idx, c).Err; !strings.Contains(e, tc.want) {
			t.Errorf("ids %q: %q, want %q", tc.ids, e, tc.want)
		}
	}
}

func withIDs(bs []Brick, ids ...string) []Brick {
	for i := range bs {
		bs[i].ID = ids[i]
	}
	return bs
}
