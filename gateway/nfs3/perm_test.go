package nfs3

import (
	"testing"

	"github.com/weftfs/weft/gateway/nfsstat"
	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

func iatt(typ, perm, uid, gid uint32) *graph.Iatt {
	return &graph.Iatt{GFID: graph.NewGFID(), Mode: typ | perm, UID: uid, GID: gid}
}

const all = AccessRead | AccessLookup | AccessModify | AccessExtend | AccessDelete | AccessExecute

// TestAccessBits checks ACCESS (RFC 1813 §3.3.4) against the POSIX permission rules: the owner,
// group (primary or supplementary) or other class decides, never a union of classes; root reads
// and writes anything and executes only what has an execute bit; read-only exports deny
// MODIFY/EXTEND/DELETE; the result never has bits that were not asked for.
func TestAccessBits(t *testing.T) {
	user := &graph.Creds{UID: 1000, GID: 100}
	member := &graph.Creds{UID: 1001, GID: 200, Groups: []uint32{300, 100}}
	other := &graph.Creds{UID: 1002, GID: 200}
	root := &graph.Creds{}
	reg := uint32(unix.S_IFREG)
	dir := uint32(unix.S_IFDIR)
	cases := []struct {
		name string
		a    *graph.Iatt
		c    *graph.Creds
		req  uint32
		ro   bool
		want uint32
	}{
		{"owner rw-", iatt(reg, 0o640, 1000, 100), user, all, false, AccessRead | AccessModify | AccessExtend},
		{"owner r-x", iatt(reg, 0o500, 1000, 100), user, all, false, AccessRead | AccessExecute},
		{"owner class wins over a wider group class", iatt(reg, 0o070, 1000, 100), user, all, false, 0},
		{"supplementary group r--", iatt(reg, 0o640, 1000, 100), member, all, false, AccessRead},
		{"group class wins over a wider other class", iatt(reg, 0o607, 1000, 100), member, all, false, 0},
		{"other ---", iatt(reg, 0o640, 1000, 100), other, all, false, 0},
		{"other rwx", iatt(reg, 0o007, 1000, 100), other, all, false, AccessRead | AccessModify | AccessExtend | AccessExecute},
		{"root reads and writes mode 000", iatt(reg, 0o000, 1000, 100), root, all, false, AccessRead | AccessModify | AccessExtend},
		{"root executes only with some x bit", iatt(reg, 0o001, 1000, 100), root, all, false, AccessRead | AccessModify | AccessExtend | AccessExecute},
		{"read-only export", iatt(reg, 0o666, 1000, 100), user, all, true, AccessRead},
		{"only the requested bits", iatt(reg, 0o777, 1000, 100), user, AccessRead | AccessExecute, false, AccessRead | AccessExecute},
		{"directory owner rwx", iatt(dir, 0o700, 1000, 100), user, all, false, AccessRead | AccessLookup | AccessModify | AccessExtend | AccessDelete},
		{"directory w without x: no modify", iatt(dir, 0o600, 1000, 100), user, all, false, AccessRead},
		{"directory x only: lookup", iatt(dir, 0o711, 1000, 100), other, all, false, AccessLookup},
		{"directory: root searches mode 000", iatt(dir, 0o000, 1000, 100), root, all, false, AccessRead | AccessLookup | AccessModify | AccessExtend | AccessDelete},
		{"directory on a read-only export", iatt(dir, 0o777, 1000, 100), other, all, true, AccessRead | AccessLookup},
		{"directories never report EXECUTE", iatt(dir, 0o777, 1000, 100), user, AccessExecute, false, 0},
	}
	for _, c := range cases {
		if got := accessBits(c.a, c.c, c.req, c.ro); got != c.want {
			t.Errorf("%s: access %#x, want %#x", c.name, got, c.want)
		}
	}
}

// TestMayDataAccess: the owner may READ and WRITE a file whatever its mode (Linux nfsd's owner
// override, for files chmodded after open); nobody else gets that, root included.
func TestMayDataAccess(t *testing.T) {
	a := iatt(unix.S_IFREG, 0o000, 1000, 100)
	if !mayDataAccess(a, &graph.Creds{UID: 1000, GID: 100}, permW) {
		t.Error("owner override missing")
	}
	if mayDataAccess(a, &graph.Creds{UID: 1001, GID: 100}, permR) {
		t.Error("group member reads a mode 000 file")
	}
	if !mayDataAccess(a, &graph.Creds{}, permR|permW) {
		t.Error("root cannot read/write a mode 000 file")
	}
}

// TestMayDelete: write and search permission on the directory; with the sticky bit, only the
// owner of the directory or of the entry (or root).
func TestMayDelete(t *testing.T) {
	tmp := iatt(unix.S_IFDIR, 0o1777, 0, 0)
	mine := iatt(unix.S_IFREG, 0o644, 1000, 100)
	theirs := iatt(unix.S_IFREG, 0o644, 1001, 100)
	u := &graph.Creds{UID: 1000, GID: 100}
	if !mayDelete(tmp, mine, u) {
		t.Error("sticky dir: own file not deletable")
	}
	if mayDelete(tmp, theirs, u) {
		t.Error("sticky dir: another user's file deletable")
	}
	if !mayDelete(tmp, theirs, &graph.Creds{}) {
		t.Error("sticky dir: root cannot delete")
	}
	if !mayDelete(iatt(unix.S_IFDIR, 0o1777, 1000, 100), theirs, u) {
		t.Error("sticky dir: the directory's owner cannot delete")
	}
	if mayDelete(iatt(unix.S_IFDIR, 0o755, 0, 0), mine, u) {
		t.Error("deleted from a directory without write permission")
	}
	if mayDelete(iatt(unix.S_IFDIR, 0o666, 1000, 100), mine, u) {
		t.Error("deleted from a directory without search permission")
	}
}

// TestCheckName covers the name rules of entry-creating and -removing procedures.
func TestCheckName(t *testing.T) {
	long := make([]byte, MaxName)
	for i := range long {
		long[i] = 'x'
	}
	cases := map[string]nfsstat.Status3{
		"a": statOK, "héllo": statOK, "\xff\xfe": statOK, ".": statOK, "..": statOK, " ": statOK,
		string(long): statOK, string(long) + "x": nfsstat.NFS3ERR_NAMETOOLONG,
		"": nfsstat.NFS3ERR_ACCES, "a/b": nfsstat.NFS3ERR_ACCES, "/": nfsstat.NFS3ERR_ACCES,
		"a\x00b": nfsstat.NFS3ERR_ACCES,
	}
	for name, want := range cases {
		if got := checkName(name); got != want {
			t.Errorf("checkName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestAccessOverWire checks ACCESS end to end: the attributes come from the leaf and the
// caller's AUTH_SYS credentials (owner, supplementary group, other) decide.
func TestAccessOverWire(t *testing.T) {
	e := newEnv(t, nil)
	owner := &graph.Creds{UID: 1000, GID: 100}
	dir := e.mkdir(t, e.root, "d", 0o777, nil)
	f := e.create(t, dir, "f", 0o640, owner)
	for _, c := range []struct {
		name string
		cr   *graph.Creds
		want uint32
	}{
		{"owner", owner, AccessRead | AccessModify | AccessExtend},
		{"group via supplementary", &graph.Creds{UID: 2000, GID: 5, Groups: []uint32{100}}, AccessRead},
		{"other", &graph.Creds{UID: 2001, GID: 5}, 0},
	} {
		r := parse(e.call(t, ProcAccess, args(f, all), c.cr))
		if st := r.Uint32(); st != 0 {
			t.Fatalf("%s: ACCESS status %d", c.name, st)
		}
		a, ok := r.postOp()
		if !ok || a.uid != 1000 || a.gid != 100 || a.mode != 0o640 {
			t.Fatalf("%s: attributes %+v (the new file must belong to its creator)", c.name, a)
		}
		if got := r.Uint32(); got != c.want || r.Err() != nil {
			t.Errorf("%s: access %#x, want %#x (%v)", c.name, got, c.want, r.Err())
		}
	}
	// Without write permission on the directory, creating fails with ACCES; with a file that is
	// not a directory, NOTDIR.
	ro := e.mkdir(t, e.root, "ro", 0o755, nil)
	st, _, _, _ := parse(e.call(t, ProcCreate, args(cat([]any{ro, "x", Guarded}, sattrMode(0o644))...), owner)).created()
	if st != uint32(nfsstat.NFS3ERR_ACCES) {
		t.Errorf("CREATE in a 0755 root-owned directory as uid 1000: status %d", st)
	}
	st, _, _, _ = parse(e.call(t, ProcCreate, args(cat([]any{f, "x", Guarded}, sattrMode(0o644))...), nil)).created()
	if st != uint32(nfsstat.NFS3ERR_NOTDIR) {
		t.Errorf("CREATE in a file: status %d", st)
	}
}
