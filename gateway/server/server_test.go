package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv3"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/nfstest"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
)

type statuser interface{ GetStatus() nfsv3.Nfsstat3 }

func want(t *testing.T, what string, res statuser, err error, st nfsv3.Nfsstat3) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if res.GetStatus() != st {
		t.Fatalf("%s: status %d, want %d", what, res.GetStatus(), st)
	}
}

func TestProcedures(t *testing.T) {
	env := nfstest.StartPosix(t, t.TempDir(), nil)
	c, root := env.Client(t, "/gv0")
	ctx := context.Background()

	// NULL, GETATTR of the root: fileid 1, a directory.
	if _, err := c.Raw(ctx, nfstest.NFSProgram, 3, nfstest.ProcNull, nil); err != nil {
		t.Fatal(err)
	}
	ra, err := c.Attr(ctx, root)
	if err != nil || ra.Type != nfsv3.NF3DIR || ra.Fileid != 1 {
		t.Fatalf("root attr %+v %v", ra, err)
	}

	// CREATE GUARDED, WRITE FILE_SYNC, READ with eof, GETATTR size/used.
	f, err := c.CreateFH(ctx, root, "a.txt", 0o640)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Create(ctx, root, "a.txt", &nfsv3.Createhow3_GUARDED{ObjAttributes: nfstest.NoAttrs()})
	want(t, "GUARDED create of an existing name", res, err, nfsv3.NFS3ERR_EXIST)
	data := bytes.Repeat([]byte("weft"), 3000)
	wres, err := c.Write(ctx, f, 0, data, nfsv3.FILE_SYNC)
	want(t, "WRITE", wres, err, nfsv3.NFS3_OK)
	wok := wres.(*nfsv3.Write3res_NFS3_OK)
	if wok.Resok.Count != uint32(len(data)) || wok.Resok.Committed != nfsv3.FILE_SYNC {
		t.Fatalf("WRITE result %+v", wok.Resok)
	}
	if wok.Resok.Verf != env.Gateway.NFS().WriteVerifier() {
		t.Fatal("write verifier differs from the server's")
	}
	if _, ok := wok.Resok.FileWcc.After.(*nfsv3.PostOpAttr_TRUE); !ok {
		t.Fatal("WRITE without post-op attributes")
	}
	rres, err := c.Read(ctx, f, 0, 1<<20)
	want(t, "READ", rres, err, nfsv3.NFS3_OK)
	rok := rres.(*nfsv3.Read3res_NFS3_OK)
	if !bytes.Equal(rok.Resok.Data, data) || !rok.Resok.Eof {
		t.Fatalf("READ returned %d bytes eof=%v", len(rok.Resok.Data), rok.Resok.Eof)
	}
	rres, _ = c.Read(ctx, f, 0, 100)
	if rok := rres.(*nfsv3.Read3res_NFS3_OK); rok.Resok.Eof || rok.Resok.Count != 100 {
		t.Fatalf("partial READ eof=%v count=%d", rok.Resok.Eof, rok.Resok.Count)
	}
	fa, _ := c.Attr(ctx, f)
	if fa.Size != uint64(len(data)) || fa.Mode != 0o640 || fa.Used < uint64(len(data)) || fa.Type != nfsv3.NF3REG {
		t.Fatalf("file attrs %+v", fa)
	}

	// SETATTR with a stale guard → NOT_SYNC; with the right one → OK; size truncation.
	stale := fa.Ctime
	stale.Seconds--
	sa := nfstest.NoAttrs()
	sa.Size = &nfsv3.SetSize3_TRUE{Size: 5}
	sres, err := c.Setattr(ctx, f, sa, &stale)
	want(t, "SETATTR stale guard", sres, err, nfsv3.NFS3ERR_NOT_SYNC)
	sres, err = c.Setattr(ctx, f, sa, &fa.Ctime)
	want(t, "SETATTR", sres, err, nfsv3.NFS3_OK)
	if fa, _ = c.Attr(ctx, f); fa.Size != 5 {
		t.Fatalf("size after truncate %d", fa.Size)
	}
	sres, err = c.Setattr(ctx, f, nfstest.ModeAttrs(0o600), nil)
	want(t, "SETATTR mode", sres, err, nfsv3.NFS3_OK)
	if fa, _ = c.Attr(ctx, f); fa.Mode != 0o600 {
		t.Fatalf("mode %o", fa.Mode)
	}
	// Times with nanoseconds.
	sa = nfstest.NoAttrs()
	sa.Mtime = &nfsv3.SetMtime_SET_TO_CLIENT_TIME{Mtime: nfsv3.Nfstime3{Seconds: 1_000_000_000, Nseconds: 123456789}}
	sres, err = c.Setattr(ctx, f, sa, nil)
	want(t, "SETATTR mtime", sres, err, nfsv3.NFS3_OK)
	if fa, _ = c.Attr(ctx, f); fa.Mtime.Seconds != 1_000_000_000 || fa.Mtime.Nseconds != 123456789 {
		t.Fatalf("mtime %+v", fa.Mtime)
	}

	// LOOKUP: name, ".", "..", missing, bad names.
	lf, err := c.LookupFH(ctx, root, "a.txt")
	if err != nil || !bytes.Equal(lf, f) {
		t.Fatalf("LOOKUP handle differs: %v", err)
	}
	if h, err := c.LookupFH(ctx, root, "."); err != nil || !bytes.Equal(h, root) {
		t.Fatalf("LOOKUP . %v", err)
	}
	if h, err := c.LookupFH(ctx, root, ".."); err != nil || !bytes.Equal(h, root) {
		t.Fatalf("LOOKUP .. at the export root %v", err)
	}
	lres, err := c.Lookup(ctx, root, "missing")
	want(t, "LOOKUP missing", lres, err, nfsv3.NFS3ERR_NOENT)
	lres, err = c.Lookup(ctx, root, string(bytes.Repeat([]byte("n"), 256)))
	want(t, "LOOKUP long name", lres, err, nfsv3.NFS3ERR_NAMETOOLONG)
	lres, err = c.Lookup(ctx, root, "a/b")
	want(t, "LOOKUP with /", lres, err, nfsv3.NFS3ERR_ACCES)
	lres, err = c.Lookup(ctx, f, "x")
	want(t, "LOOKUP in a file", lres, err, nfsv3.NFS3ERR_NOTDIR)

	// MKDIR, LOOKUP .. from a subdirectory, SYMLINK, READLINK, MKNOD fifo, LINK.
	mres, err := c.Mkdir(ctx, root, "d", nfstest.ModeAttrs(0o755))
	want(t, "MKDIR", mres, err, nfsv3.NFS3_OK)
	d, _ := nfstest.CreatedFH(mres)
	if h, err := c.LookupFH(ctx, d, ".."); err != nil || !bytes.Equal(h, root) {
		t.Fatalf("LOOKUP .. from /d: %v", err)
	}
	mres, err = c.Mkdir(ctx, root, "d", nfstest.NoAttrs())
	want(t, "MKDIR existing", mres, err, nfsv3.NFS3ERR_EXIST)
	mres, err = c.Mkdir(ctx, root, "..", nfstest.NoAttrs())
	want(t, "MKDIR ..", mres, err, nfsv3.NFS3ERR_EXIST)
	slres, err := c.Symlink(ctx, d, "ln", "../a.txt")
	want(t, "SYMLINK", slres, err, nfsv3.NFS3_OK)
	ln, _ := nfstest.CreatedFH(slres)
	rlres, err := c.Readlink(ctx, ln)
	want(t, "READLINK", rlres, err, nfsv3.NFS3_OK)
	if got := rlres.(*nfsv3.Readlink3res_NFS3_OK).Resok.Data; got != "../a.txt" {
		t.Fatalf("READLINK %q", got)
	}
	rlres, err = c.Readlink(ctx, f)
	want(t, "READLINK of a file", rlres, err, nfsv3.NFS3ERR_INVAL)
	mkres, err := c.Mknod(ctx, d, "fifo", &nfsv3.Mknoddata3_NF3FIFO{PipeAttributes: nfstest.ModeAttrs(0o600)})
	want(t, "MKNOD fifo", mkres, err, nfsv3.NFS3_OK)
	mkres, err = c.Mknod(ctx, d, "reg", &nfsv3.Mknoddata3_default{Type: nfsv3.NF3REG})
	want(t, "MKNOD regular", mkres, err, nfsv3.NFS3ERR_BADTYPE)
	lkres, err := c.Link(ctx, f, d, "hard")
	want(t, "LINK", lkres, err, nfsv3.NFS3_OK)
	if fa, _ = c.Attr(ctx, f); fa.Nlink != 2 {
		t.Fatalf("nlink %d after LINK", fa.Nlink)
	}
	lkres, err = c.Link(ctx, d, root, "dirlink")
	want(t, "LINK of a directory", lkres, err, nfsv3.NFS3ERR_ISDIR)

	// ACCESS as root and as another user.
	acres, err := c.Access(ctx, f, 0x3f)
	want(t, "ACCESS", acres, err, nfsv3.NFS3_OK)
	if got := acres.(*nfsv3.Access3res_NFS3_OK).Resok.Access; got != 0x01|0x04|0x08 {
		t.Fatalf("ACCESS root on 0600 file: %#x", got)
	}
	c.SetCreds(1000, 1000)
	acres, _ = c.Access(ctx, f, 0x3f)
	if got := acres.(*nfsv3.Access3res_NFS3_OK).Resok.Access; got != 0 {
		t.Fatalf("ACCESS other user on 0600 file: %#x", got)
	}
	rres, err = c.Read(ctx, f, 0, 10)
	want(t, "READ by other user", rres, err, nfsv3.NFS3ERR_ACCES)
	wres, err = c.Write(ctx, f, 0, []byte("x"), nfsv3.UNSTABLE)
	want(t, "WRITE by other user", wres, err, nfsv3.NFS3ERR_ACCES)
	res, err = c.Create(ctx, root, "nope", &nfsv3.Createhow3_UNCHECKED{ObjAttributes: nfstest.NoAttrs()})
	want(t, "CREATE in root-owned 0755 dir", res, err, nfsv3.NFS3ERR_ACCES)
	c.SetCreds(0, 0)

	// RENAME, REMOVE, RMDIR and their errors.
	rnres, err := c.Rename(ctx, root, "a.txt", d, "b.txt")
	want(t, "RENAME", rnres, err, nfsv3.NFS3_OK)
	if _, err := c.Attr(ctx, f); err != nil {
		t.Fatalf("handle after rename: %v", err)
	}
	rnres, err = c.Rename(ctx, root, "a.txt", d, "c")
	want(t, "RENAME missing", rnres, err, nfsv3.NFS3ERR_NOENT)
	rnres, err = c.Rename(ctx, d, ".", d, "c")
	want(t, "RENAME .", rnres, err, nfsv3.NFS3ERR_INVAL)
	rmres, err := c.Rmdir(ctx, root, "d")
	want(t, "RMDIR non-empty", rmres, err, nfsv3.NFS3ERR_NOTEMPTY)
	rmres, err = c.Rmdir(ctx, d, ".")
	want(t, "RMDIR .", rmres, err, nfsv3.NFS3ERR_INVAL)
	rvres, err := c.Remove(ctx, root, "d")
	want(t, "REMOVE dir", rvres, err, nfsv3.NFS3ERR_ISDIR)
	rvres, err = c.Remove(ctx, d, "..")
	want(t, "REMOVE ..", rvres, err, nfsv3.NFS3ERR_ACCES)
	for _, n := range []string{"b.txt", "hard", "ln", "fifo"} {
		rvres, err = c.Remove(ctx, d, n)
		want(t, "REMOVE "+n, rvres, err, nfsv3.NFS3_OK)
	}
	rvres, err = c.Remove(ctx, d, "b.txt")
	want(t, "REMOVE again", rvres, err, nfsv3.NFS3ERR_NOENT)
	gres, err := c.Getattr(ctx, f)
	want(t, "GETATTR of a removed file", gres, err, nfsv3.NFS3ERR_STALE)
	rmres, err = c.Rmdir(ctx, root, "d")
	want(t, "RMDIR", rmres, err, nfsv3.NFS3_OK)

	// FSSTAT, FSINFO, PATHCONF.
	fsres, err := c.Fsstat(ctx, root)
	want(t, "FSSTAT", fsres, err, nfsv3.NFS3_OK)
	if ok := fsres.(*nfsv3.Fsstat3res_NFS3_OK); ok.Resok.Tbytes == 0 || ok.Resok.Fbytes > ok.Resok.Tbytes {
		t.Fatalf("FSSTAT %+v", ok.Resok)
	}
	fires, err := c.Fsinfo(ctx, root)
	want(t, "FSINFO", fires, err, nfsv3.NFS3_OK)
	if ok := fires.(*nfsv3.Fsinfo3res_NFS3_OK); ok.Resok.Wtmax != 1<<20 || ok.Resok.Rtmax != 1<<20 {
		t.Fatalf("FSINFO %+v", ok.Resok)
	}
	pcres, err := c.Pathconf(ctx, root)
	want(t, "PATHCONF", pcres, err, nfsv3.NFS3_OK)
	if ok := pcres.(*nfsv3.Pathconf3res_NFS3_OK); ok.Resok.NameMax != 255 || !ok.Resok.NoTrunc {
		t.Fatalf("PATHCONF %+v", ok.Resok)
	}

	// Bad handles: forged (flipped MAC byte) → BADHANDLE, short → BADHANDLE.
	forged := append([]byte(nil), root...)
	forged[len(forged)-1] ^= 1
	gres, err = c.Getattr(ctx, forged)
	want(t, "GETATTR forged handle", gres, err, nfsv3.NFS3ERR_BADHANDLE)
	gres, err = c.Getattr(ctx, root[:10])
	want(t, "GETATTR short handle", gres, err, nfsv3.NFS3ERR_BADHANDLE)
}

func TestUnstableCommitAndVerifier(t *testing.T) {
	dir := t.TempDir()
	env := nfstest.StartPosix(t, dir, nil)
	c, root := env.Client(t, "/gv0")
	ctx := context.Background()
	f, err := c.CreateFH(ctx, root, "vm.img", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	wres, err := c.Write(ctx, f, 4096, []byte("unstable"), nfsv3.UNSTABLE)
	want(t, "WRITE UNSTABLE", wres, err, nfsv3.NFS3_OK)
	w := wres.(*nfsv3.Write3res_NFS3_OK).Resok
	if w.Committed != nfsv3.UNSTABLE {
		t.Fatalf("UNSTABLE write answered %d", w.Committed)
	}
	wres, _ = c.Write(ctx, f, 0, []byte("d"), nfsv3.DATA_SYNC)
	if got := wres.(*nfsv3.Write3res_NFS3_OK).Resok.Committed; got != nfsv3.DATA_SYNC {
		t.Fatalf("DATA_SYNC write answered %d", got)
	}
	cres, err := c.Commit(ctx, f, 0, 0)
	want(t, "COMMIT", cres, err, nfsv3.NFS3_OK)
	v1 := cres.(*nfsv3.Commit3res_NFS3_OK).Resok.Verf
	if v1 != w.Verf {
		t.Fatal("COMMIT verifier differs from WRITE's")
	}
	env.Stop()
	env2 := nfstest.StartPosix(t, dir, nil)
	c2, _ := env2.Client(t, "/gv0")
	// The old handle works after a restart; the verifier changed (a client must resend).
	a, err := c2.Attr(ctx, f)
	if err != nil || a.Size != 4096+8 {
		t.Fatalf("old handle after restart: %+v %v", a, err)
	}
	cres, _ = c2.Commit(ctx, f, 0, 0)
	if cres.(*nfsv3.Commit3res_NFS3_OK).Resok.Verf == v1 {
		t.Fatal("write verifier unchanged across a restart")
	}
	rres, _ := c2.Read(ctx, f, 4096, 100)
	if got := rres.(*nfsv3.Read3res_NFS3_OK).Resok.Data; string(got) != "unstable" {
		t.Fatalf("data after restart %q", got)
	}
}

func TestExclusiveCreateAndDRC(t *testing.T) {
	env := nfstest.StartPosix(t, t.TempDir(), nil)
	c, root := env.Client(t, "/gv0")
	ctx := context.Background()
	verf := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	res, err := c.Create(ctx, root, "x", &nfsv3.Createhow3_EXCLUSIVE{Verf: verf})
	want(t, "EXCLUSIVE", res, err, nfsv3.NFS3_OK)
	h1, _ := nfstest.CreatedFH(res)
	// A retransmission (new xid, so not from the DRC) with the same verifier succeeds with
	// the same file; another verifier is EXIST.
	res, err = c.Create(ctx, root, "x", &nfsv3.Createhow3_EXCLUSIVE{Verf: verf})
	want(t, "EXCLUSIVE retransmit", res, err, nfsv3.NFS3_OK)
	if h2, _ := nfstest.CreatedFH(res); !bytes.Equal(h1, h2) {
		t.Fatal("EXCLUSIVE retransmit returned another file")
	}
	res, err = c.Create(ctx, root, "x", &nfsv3.Createhow3_EXCLUSIVE{Verf: [8]byte{9}})
	want(t, "EXCLUSIVE other verifier", res, err, nfsv3.NFS3ERR_EXIST)

	// DRC: the same xid twice gets the saved reply (a GUARDED create would otherwise fail).
	args := nfstest.CreateArgs(root, "g", &nfsv3.Createhow3_GUARDED{ObjAttributes: nfstest.NoAttrs()})
	r1, err := c.RawXID(ctx, 0x5eed, nfstest.NFSProgram, 3, nfstest.ProcCreate, args)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.RawXID(ctx, 0x5eed, nfstest.NFSProgram, 3, nfstest.ProcCreate, args)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r1, r2) || r1[3] != 0 {
		t.Fatalf("replayed reply differs or failed: %x vs %x", r1[:4], r2[:4])
	}
	// A new xid executes again: EXIST.
	r3, _ := c.Raw(ctx, nfstest.NFSProgram, 3, nfstest.ProcCreate, args)
	if r3[3] != byte(nfsv3.NFS3ERR_EXIST) {
		t.Fatalf("new xid status %x", r3[:4])
	}
	if hits, _, _ := env.Gateway.DRC().Stats(); hits != 1 {
		t.Fatalf("DRC hits %d", hits)
	}
}

func TestReaddirPaging(t *testing.T) {
	env := nfstest.StartPosix(t, t.TempDir(), nil)
	c, root := env.Client(t, "/gv0")
	ctx := context.Background()
	mres, _ := c.Mkdir(ctx, root, "big", nfstest.ModeAttrs(0o755))
	big, _ := nfstest.CreatedFH(mres)
	n := 1200
	if testing.Short() {
		n = 400
	}
	// Create in parallel on the one connection (many calls in flight).
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		go func(w int) {
			for i := w; i < n; i += 16 {
				if _, err := c.CreateFH(ctx, big, fmt.Sprintf("f%05d", i), 0o644); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < 16; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	var cookie uint64
	var verf [8]byte
	pages := 0
	for done := false; !done; pages++ {
		res, err := c.Readdirplus(ctx, big, cookie, verf, 4096, 8192)
		want(t, "READDIRPLUS", res, err, nfsv3.NFS3_OK)
		ok := res.(*nfsv3.Readdirplus3res_NFS3_OK)
		if pages > 0 && ok.Resok.Cookieverf != verf {
			t.Fatal("cookie verifier changed between pages")
		}
		verf = ok.Resok.Cookieverf
		for e := ok.Resok.Reply.Entries; e != nil; e = e.Nextentry {
			seen[e.Name]++
			cookie = e.Cookie
			if _, ok := e.NameHandle.(*nfsv3.PostOpFh3_TRUE); !ok && e.Name != ".." {
				t.Fatalf("entry %s without a handle", e.Name)
			}
		}
		done = ok.Resok.Reply.Eof
		if pages == 3 {
			// Inserts in between must not make us lose or repeat existing entries.
			for i := 0; i < 20; i++ {
				if _, err := c.CreateFH(ctx, big, fmt.Sprintf("new%02d", i), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for i := 0; i < n; i++ {
		if k := fmt.Sprintf("f%05d", i); seen[k] != 1 {
			t.Fatalf("entry %s seen %d times", k, seen[k])
		}
	}
	if seen["."] != 1 || seen[".."] != 1 {
		t.Fatalf(". seen %d, .. seen %d", seen["."], seen[".."])
	}
	if pages < 10 {
		t.Fatalf("only %d pages", pages)
	}
	names, err := c.ReadDirAll(ctx, big, 1024)
	if err != nil || len(names) != n+2+20 {
		t.Fatalf("READDIR: %d names, err %v", len(names), err)
	}
	res, err := c.Readdir(ctx, big, 0, [8]byte{}, 10)
	want(t, "READDIR too small", res, err, nfsv3.NFS3ERR_TOOSMALL)
}

func TestSquashAndExports(t *testing.T) {
	ro := "ro"
	f := false
	exps := &configs.ExportsConfig{Exports: []configs.Export{
		{Path: "/gv0", Secure: &f, Clients: []configs.ClientRule{{Match: "127.0.0.0/8"}}}, // root_squash
		{Path: "/gv0/pub", Secure: &f, Access: ro, Clients: []configs.ClientRule{{Match: "127.0.0.1", Squash: "no_root_squash"}}},
		{Path: "/gv0/other", Secure: &f, Clients: []configs.ClientRule{{Match: "192.0.2.0/24"}}},
		{Path: "/gv0/secure", Clients: []configs.ClientRule{{Match: "*"}}},
	}}
	dir := t.TempDir()
	env := nfstest.StartPosix(t, dir, &nfstest.Options{Exports: exps})
	ctx := context.Background()
	c, err := nfstest.Dial(ctx, env.NFS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, st, _ := c.Mnt(ctx, "/gv0")
	if st != 0 {
		t.Fatalf("MNT /gv0: %d", st)
	}
	// Root is squashed to 65534: it may not create in the 0755 root-owned root.
	res, err := c.Create(ctx, root, "f", &nfsv3.Createhow3_GUARDED{ObjAttributes: nfstest.NoAttrs()})
	want(t, "CREATE as squashed root", res, err, nfsv3.NFS3ERR_ACCES)
	// A directory made world-writable (by chmod on the brick) lets it create, owned by 65534.
	sa := nfstest.ModeAttrs(0o777)
	sres, err := c.Setattr(ctx, root, sa, nil)
	want(t, "SETATTR by squashed root", sres, err, nfsv3.NFS3ERR_PERM)

	for _, p := range []string{"/gv0/other", "/gv0/nothere"} {
		if _, st, _ := c.Mnt(ctx, p); st == 0 {
			t.Fatalf("MNT %s allowed", p)
		}
	}
	if _, st, _ := c.Mnt(ctx, "/gv0/other"); st != 13 {
		t.Fatalf("MNT of a denied export: %d, want ACCES", st)
	}
	if _, st, _ := c.Mnt(ctx, "/nope"); st != 2 {
		t.Fatalf("MNT of an unknown export: %d, want NOENT", st)
	}
	if _, st, _ := c.Mnt(ctx, "/gv0/secure"); st != 1 && st != 2 {
		t.Fatalf("MNT of a secure export from an unprivileged port: %d", st)
	}
	ex, err := c.Exports(ctx, 3)
	if err != nil || len(ex) != 4 || ex["/gv0/other"][0] != "192.0.2.0/24" {
		t.Fatalf("EXPORT %v %v", ex, err)
	}
	if ex1, err := c.Exports(ctx, 1); err != nil || len(ex1) != 4 {
		t.Fatalf("EXPORT v1 %v %v", ex1, err)
	}
	if d, err := c.Dump(ctx); err != nil || len(d) != 1 || d[0] != "127.0.0.1:/gv0" {
		t.Fatalf("DUMP %v %v", d, err)
	}
	_ = graph.RootGFID
}

func TestSubdirExportAndReadOnly(t *testing.T) {
	f := false
	exps := &configs.ExportsConfig{Exports: []configs.Export{
		{Path: "/gv0", Secure: &f, Squash: "no_root_squash", Clients: []configs.ClientRule{{Match: "*"}}},
		{Path: "/gv0/pub", Secure: &f, Access: "ro", Squash: "no_root_squash", Clients: []configs.ClientRule{{Match: "*"}}},
	}}
	env := nfstest.StartPosix(t, t.TempDir(), &nfstest.Options{Exports: exps})
	c, root := env.Client(t, "/gv0")
	ctx := context.Background()
	mres, _ := c.Mkdir(ctx, root, "pub", nfstest.ModeAttrs(0o755))
	pubRW, _ := nfstest.CreatedFH(mres)
	if _, err := c.CreateFH(ctx, pubRW, "r.txt", 0o644); err != nil {
		t.Fatal(err)
	}
	pub, st, _ := c.Mnt(ctx, "/gv0/pub")
	if st != 0 {
		t.Fatalf("MNT /gv0/pub %d", st)
	}
	if bytes.Equal(pub, pubRW) {
		t.Fatal("subdirectory export shares handles with its parent export")
	}
	// ".." at the export root stays in the export.
	if h, err := c.LookupFH(ctx, pub, ".."); err != nil || !bytes.Equal(h, pub) {
		t.Fatalf("LOOKUP .. at a subdir export root: %v", err)
	}
	res, err := c.Create(ctx, pub, "w", &nfsv3.Createhow3_UNCHECKED{ObjAttributes: nfstest.NoAttrs()})
	want(t, "CREATE on a ro export", res, err, nfsv3.NFS3ERR_ROFS)
	r, _ := c.LookupFH(ctx, pub, "r.txt")
	wres, err := c.Write(ctx, r, 0, []byte("x"), nfsv3.FILE_SYNC)
	want(t, "WRITE on a ro export", wres, err, nfsv3.NFS3ERR_ROFS)
	acres, _ := c.Access(ctx, r, 0x3f)
	if got := acres.(*nfsv3.Access3res_NFS3_OK).Resok.Access; got&0x0c != 0 {
		t.Fatalf("ACCESS on a ro export grants modify: %#x", got)
	}
	// RENAME across exports: XDEV.
	rnres, err := c.Rename(ctx, root, "pub", pub, "x")
	want(t, "RENAME across exports", rnres, err, nfsv3.NFS3ERR_XDEV)
	// Mount of a subdirectory below an export.
	if _, err := c.Mkdir(ctx, pubRW, "deep", nfstest.NoAttrs()); err != nil {
		t.Fatal(err)
	}
	if _, st, _ := c.Mnt(ctx, "/gv0/pub/deep"); st != 0 {
		t.Fatalf("MNT below an export: %d", st)
	}
}

func TestRPCBehaviour(t *testing.T) {
	env := nfstest.StartPosix(t, t.TempDir(), nil)
	c, root := env.Client(t, "/gv0")
	ctx := context.Background()
	// NFSv4 → PROG_MISMATCH 3..3.
	_, err := c.Raw(ctx, nfstest.NFSProgram, 4, 0, nil)
	var re *rpc.Error
	if !errors.As(err, &re) || re.Accept != rpc.ProgMismatch || re.Low != 3 || re.High != 3 {
		t.Fatalf("NFSv4 NULL: %v", err)
	}
	// Garbage arguments → GARBAGE_ARGS for every procedure, and the server survives.
	for proc := uint32(1); proc < 22; proc++ {
		for _, args := range [][]byte{nil, {0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, bytes.Repeat([]byte{0, 0, 0, 60}, 3)} {
			_, err := c.Raw(ctx, nfstest.NFSProgram, 3, proc, args)
			if !errors.As(err, &re) || re.Accept != rpc.GarbageArgs {
				t.Fatalf("proc %d args %x: %v, want GARBAGE_ARGS", proc, args, err)
			}
		}
	}
	_, err = c.Raw(ctx, nfstest.NFSProgram, 3, 22, nil)
	if !errors.As(err, &re) || re.Accept != rpc.ProcUnavail {
		t.Fatalf("proc 22: %v", err)
	}
	if _, err := c.Attr(ctx, root); err != nil {
		t.Fatalf("after garbage: %v", err)
	}
	// Many calls in flight on one connection.
	f, _ := c.CreateFH(ctx, root, "par", 0o644)
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		go func(i int) {
			_, err := c.Write(ctx, f, uint64(i)*4096, bytes.Repeat([]byte{byte(i)}, 4096), nfsv3.UNSTABLE)
			errs <- err
		}(i)
	}
	for i := 0; i < 64; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if a, _ := c.Attr(ctx, f); a.Size != 64*4096 {
		t.Fatalf("size %d", a.Size)
	}
}

func TestNoFDLeak(t *testing.T) {
	base := graph.LiveFDs()
	env := nfstest.StartPosix(t, t.TempDir(), &nfstest.Options{FDIdle: 100 * time.Millisecond})
	c, root := env.Client(t, "/gv0")
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		f, err := c.CreateFH(ctx, root, fmt.Sprintf("f%d", i), 0o644)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(ctx, f, 0, []byte("data"), nfsv3.UNSTABLE)
		c.Read(ctx, f, 0, 4)
	}
	c.ReadDirAll(ctx, root, 512)
	deadline := time.Now().Add(5 * time.Second)
	for graph.LiveFDs() != base && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := graph.LiveFDs(); n != base {
		t.Fatalf("live FDs %d after idle expiry, baseline %d", n, base)
	}
}
