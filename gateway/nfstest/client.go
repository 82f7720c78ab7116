package nfstest

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/buildbarn/go-xdr/pkg/protocols/mount"
	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv3"
	"github.com/weftfs/weft/graph/rpc"
)

// Program numbers.
const (
	NFSProgram   = 100003
	MountProgram = 100005
)

// NFSv3 procedure numbers (RFC 1813 §3.3).
const (
	ProcNull uint32 = iota
	ProcGetattr
	ProcSetattr
	ProcLookup
	ProcAccess
	ProcReadlink
	ProcRead
	ProcWrite
	ProcCreate
	ProcMkdir
	ProcSymlink
	ProcMknod
	ProcRemove
	ProcRmdir
	ProcRename
	ProcLink
	ProcReaddir
	ProcReaddirplus
	ProcFsstat
	ProcFsinfo
	ProcPathconf
	ProcCommit
)

// Client talks NFSv3 and MOUNT v3 over one connection.
type Client struct {
	RPC  *rpc.Client
	Auth rpc.OpaqueAuth
}

// Dial connects to addr (host:port) with AUTH_SYS uid 0 gid 0.
func Dial(ctx context.Context, addr string) (*Client, error) {
	cl, err := rpc.Dial(ctx, "tcp", addr, nil)
	if err != nil {
		return nil, err
	}
	c := &Client{RPC: cl}
	c.SetCreds(0, 0)
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.RPC.Close() }

// SetCreds switches to AUTH_SYS with uid, gid and supplementary groups.
func (c *Client) SetCreds(uid, gid uint32, groups ...uint32) {
	p := rpc.AuthSysParms{MachineName: "nfstest", UID: uid, GID: gid, GIDs: groups}
	a, err := p.Auth()
	if err != nil {
		panic(err) // only with more than 16 groups: a test bug
	}
	c.Auth = a
}

// SetAuthNone switches to AUTH_NONE.
func (c *Client) SetAuthNone() { c.Auth = rpc.NoAuth }

func enc(v io.WriterTo) []byte {
	var b bytes.Buffer
	if v != nil {
		if _, err := v.WriteTo(&b); err != nil {
			panic(fmt.Sprintf("nfstest: encode %T: %v", v, err))
		}
	}
	return b.Bytes()
}

// Raw sends a call with raw XDR arguments and returns the raw results.
func (c *Client) Raw(ctx context.Context, prog, vers, proc uint32, args []byte) ([]byte, error) {
	return c.RPC.Call(ctx, prog, vers, proc, args, c.Auth)
}

// RawXID sends a call with a chosen XID (duplicate request cache tests).
func (c *Client) RawXID(ctx context.Context, xid, prog, vers, proc uint32, args []byte) ([]byte, error) {
	return c.RPC.Do(ctx, &rpc.Request{Prog: prog, Vers: vers, Proc: proc, Cred: c.Auth, Args: args, XID: xid})
}

func (c *Client) nfs(ctx context.Context, proc uint32, args io.WriterTo) (io.Reader, error) {
	res, err := c.Raw(ctx, NFSProgram, 3, proc, enc(args))
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(res), nil
}

// Status returns the status of any NFSv3 result.
func Status(res interface{ GetStatus() nfsv3.Nfsstat3 }) nfsv3.Nfsstat3 { return res.GetStatus() }

// Mnt mounts path and returns the root handle (MOUNT v3 MNT).
func (c *Client) Mnt(ctx context.Context, path string) ([]byte, mount.Mountstat3, error) {
	w := bytes.Buffer{}
	if _, err := mount.WriteDirpath(&w, path); err != nil {
		return nil, 0, err
	}
	res, err := c.Raw(ctx, MountProgram, 3, 1, w.Bytes())
	if err != nil {
		return nil, 0, err
	}
	m, _, err := mount.ReadMountres3(bytes.NewReader(res))
	if err != nil {
		return nil, 0, err
	}
	if ok, isOK := m.(*mount.Mountres3_MNT3_OK); isOK {
		return ok.Mountinfo.Fhandle, 0, nil
	}
	return nil, m.GetFhsStatus(), nil
}

// Exports returns the export list (MOUNT EXPORT) as path → groups.
func (c *Client) Exports(ctx context.Context, vers uint32) (map[string][]string, error) {
	res, err := c.Raw(ctx, MountProgram, vers, 5, nil)
	if err != nil {
		return nil, err
	}
	n, _, err := mount.ReadExports(bytes.NewReader(res))
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for ; n != nil; n = n.ExNext {
		var gs []string
		for g := n.ExGroups; g != nil; g = g.GrNext {
			gs = append(gs, g.GrName)
		}
		out[n.ExDir] = gs
	}
	return out, nil
}

// Dump returns the mount list (MOUNT DUMP) as "host:dir" strings.
func (c *Client) Dump(ctx context.Context) ([]string, error) {
	res, err := c.Raw(ctx, MountProgram, 3, 2, nil)
	if err != nil {
		return nil, err
	}
	b, _, err := mount.ReadMountlist(bytes.NewReader(res))
	if err != nil {
		return nil, err
	}
	var out []string
	for ; b != nil; b = b.MlNext {
		out = append(out, b.MlHostname+":"+b.MlDirectory)
	}
	return out, nil
}

func fh(b []byte) nfsv3.NfsFh3 { return nfsv3.NfsFh3{Data: b} }

func dirop(dir []byte, name string) nfsv3.Diropargs3 {
	return nfsv3.Diropargs3{Dir: fh(dir), Name: name}
}

// NoAttrs is a sattr3 that sets nothing.
func NoAttrs() nfsv3.Sattr3 {
	return nfsv3.Sattr3{
		Mode: &nfsv3.SetMode3_default{}, Uid: &nfsv3.SetUid3_default{}, Gid: &nfsv3.SetGid3_default{},
		Size: &nfsv3.SetSize3_default{}, Atime: &nfsv3.SetAtime_default{SetIt: nfsv3.DONT_CHANGE},
		Mtime: &nfsv3.SetMtime_default{SetIt: nfsv3.DONT_CHANGE},
	}
}

// ModeAttrs is a sattr3 that sets the mode only.
func ModeAttrs(mode uint32) nfsv3.Sattr3 {
	s := NoAttrs()
	s.Mode = &nfsv3.SetMode3_TRUE{Mode: mode}
	return s
}

// Getattr calls GETATTR.
func (c *Client) Getattr(ctx context.Context, h []byte) (nfsv3.Getattr3res, error) {
	r, err := c.nfs(ctx, ProcGetattr, &nfsv3.Getattr3args{Object: fh(h)})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadGetattr3res(r)
	return res, err
}

// Attr returns the attributes of h or an error naming the status.
func (c *Client) Attr(ctx context.Context, h []byte) (nfsv3.Fattr3, error) {
	res, err := c.Getattr(ctx, h)
	if err != nil {
		return nfsv3.Fattr3{}, err
	}
	if ok, isOK := res.(*nfsv3.Getattr3res_NFS3_OK); isOK {
		return ok.Resok.ObjAttributes, nil
	}
	return nfsv3.Fattr3{}, fmt.Errorf("GETATTR: status %d", res.GetStatus())
}

// Setattr calls SETATTR; guard is the expected ctime or nil.
func (c *Client) Setattr(ctx context.Context, h []byte, sa nfsv3.Sattr3, guard *nfsv3.Nfstime3) (nfsv3.Setattr3res, error) {
	var g nfsv3.Sattrguard3 = &nfsv3.Sattrguard3_FALSE{}
	if guard != nil {
		g = &nfsv3.Sattrguard3_TRUE{ObjCtime: *guard}
	}
	r, err := c.nfs(ctx, ProcSetattr, &nfsv3.Setattr3args{Object: fh(h), NewAttributes: sa, Guard: g})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadSetattr3res(r)
	return res, err
}

// Lookup calls LOOKUP.
func (c *Client) Lookup(ctx context.Context, dir []byte, name string) (nfsv3.Lookup3res, error) {
	r, err := c.nfs(ctx, ProcLookup, &nfsv3.Lookup3args{What: dirop(dir, name)})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadLookup3res(r)
	return res, err
}

// LookupFH returns the handle of name in dir or an error naming the status.
func (c *Client) LookupFH(ctx context.Context, dir []byte, name string) ([]byte, error) {
	res, err := c.Lookup(ctx, dir, name)
	if err != nil {
		return nil, err
	}
	if ok, isOK := res.(*nfsv3.Lookup3res_NFS3_OK); isOK {
		return ok.Resok.Object.Data, nil
	}
	return nil, fmt.Errorf("LOOKUP %s: status %d", name, res.GetStatus())
}

// Access calls ACCESS.
func (c *Client) Access(ctx context.Context, h []byte, bits uint32) (nfsv3.Access3res, error) {
	r, err := c.nfs(ctx, ProcAccess, &nfsv3.Access3args{Object: fh(h), Access: bits})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadAccess3res(r)
	return res, err
}

// Readlink calls READLINK.
func (c *Client) Readlink(ctx context.Context, h []byte) (nfsv3.Readlink3res, error) {
	r, err := c.nfs(ctx, ProcReadlink, &nfsv3.Readlink3args{Symlink: fh(h)})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadReadlink3res(r)
	return res, err
}

// Read calls READ.
func (c *Client) Read(ctx context.Context, h []byte, off uint64, count uint32) (nfsv3.Read3res, error) {
	r, err := c.nfs(ctx, ProcRead, &nfsv3.Read3args{File: fh(h), Offset: off, Count: count})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadRead3res(r)
	return res, err
}

// Write calls WRITE.
func (c *Client) Write(ctx context.Context, h []byte, off uint64, data []byte, stable nfsv3.StableHow) (nfsv3.Write3res, error) {
	r, err := c.nfs(ctx, ProcWrite, &nfsv3.Write3args{File: fh(h), Offset: off, Count: uint32(len(data)), Stable: stable, Data: data})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadWrite3res(r)
	return res, err
}

// CreateArgs encodes CREATE arguments (for replays with RawXID).
func CreateArgs(dir []byte, name string, how nfsv3.Createhow3) []byte {
	return enc(&nfsv3.Create3args{Where: dirop(dir, name), How: how})
}

// Create calls CREATE.
func (c *Client) Create(ctx context.Context, dir []byte, name string, how nfsv3.Createhow3) (nfsv3.Create3res, error) {
	r, err := c.nfs(ctx, ProcCreate, &nfsv3.Create3args{Where: dirop(dir, name), How: how})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadCreate3res(r)
	return res, err
}

// CreateFH creates name (GUARDED, mode) and returns its handle or an error naming the status.
func (c *Client) CreateFH(ctx context.Context, dir []byte, name string, mode uint32) ([]byte, error) {
	res, err := c.Create(ctx, dir, name, &nfsv3.Createhow3_GUARDED{ObjAttributes: ModeAttrs(mode)})
	if err != nil {
		return nil, err
	}
	return CreatedFH(res)
}

// CreatedFH returns the handle from a CREATE, MKDIR, SYMLINK or MKNOD result.
func CreatedFH(res interface{ GetStatus() nfsv3.Nfsstat3 }) ([]byte, error) {
	var obj nfsv3.PostOpFh3
	switch r := res.(type) {
	case *nfsv3.Create3res_NFS3_OK:
		obj = r.Resok.Obj
	case *nfsv3.Mkdir3res_NFS3_OK:
		obj = r.Resok.Obj
	case *nfsv3.Symlink3res_NFS3_OK:
		obj = r.Resok.Obj
	case *nfsv3.Mknod3res_NFS3_OK:
		obj = r.Resok.Obj
	default:
		return nil, fmt.Errorf("status %d", res.GetStatus())
	}
	if t, ok := obj.(*nfsv3.PostOpFh3_TRUE); ok {
		return t.Handle.Data, nil
	}
	return nil, fmt.Errorf("no handle returned")
}

// Mkdir calls MKDIR.
func (c *Client) Mkdir(ctx context.Context, dir []byte, name string, sa nfsv3.Sattr3) (nfsv3.Mkdir3res, error) {
	r, err := c.nfs(ctx, ProcMkdir, &nfsv3.Mkdir3args{Where: dirop(dir, name), Attributes: sa})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadMkdir3res(r)
	return res, err
}

// Symlink calls SYMLINK.
func (c *Client) Symlink(ctx context.Context, dir []byte, name, target string) (nfsv3.Symlink3res, error) {
	r, err := c.nfs(ctx, ProcSymlink, &nfsv3.Symlink3args{Where: dirop(dir, name), Symlink: nfsv3.Symlinkdata3{SymlinkAttributes: NoAttrs(), SymlinkData: target}})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadSymlink3res(r)
	return res, err
}

// Mknod calls MKNOD.
func (c *Client) Mknod(ctx context.Context, dir []byte, name string, what nfsv3.Mknoddata3) (nfsv3.Mknod3res, error) {
	r, err := c.nfs(ctx, ProcMknod, &nfsv3.Mknod3args{Where: dirop(dir, name), What: what})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadMknod3res(r)
	return res, err
}

// Remove calls REMOVE.
func (c *Client) Remove(ctx context.Context, dir []byte, name string) (nfsv3.Remove3res, error) {
	r, err := c.nfs(ctx, ProcRemove, &nfsv3.Remove3args{Object: dirop(dir, name)})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadRemove3res(r)
	return res, err
}

// Rmdir calls RMDIR.
func (c *Client) Rmdir(ctx context.Context, dir []byte, name string) (nfsv3.Rmdir3res, error) {
	r, err := c.nfs(ctx, ProcRmdir, &nfsv3.Rmdir3args{Object: dirop(dir, name)})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadRmdir3res(r)
	return res, err
}

// Rename calls RENAME.
func (c *Client) Rename(ctx context.Context, fromDir []byte, from string, toDir []byte, to string) (nfsv3.Rename3res, error) {
	r, err := c.nfs(ctx, ProcRename, &nfsv3.Rename3args{From: dirop(fromDir, from), To: dirop(toDir, to)})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadRename3res(r)
	return res, err
}

// Link calls LINK.
func (c *Client) Link(ctx context.Context, file, dir []byte, name string) (nfsv3.Link3res, error) {
	r, err := c.nfs(ctx, ProcLink, &nfsv3.Link3args{File: fh(file), Link: dirop(dir, name)})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadLink3res(r)
	return res, err
}

// Readdir calls READDIR.
func (c *Client) Readdir(ctx context.Context, dir []byte, cookie uint64, verf [8]byte, count uint32) (nfsv3.Readdir3res, error) {
	r, err := c.nfs(ctx, ProcReaddir, &nfsv3.Readdir3args{Dir: fh(dir), Cookie: cookie, Cookieverf: verf, Count: count})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadReaddir3res(r)
	return res, err
}

// Readdirplus calls READDIRPLUS.
func (c *Client) Readdirplus(ctx context.Context, dir []byte, cookie uint64, verf [8]byte, dircount, maxcount uint32) (nfsv3.Readdirplus3res, error) {
	r, err := c.nfs(ctx, ProcReaddirplus, &nfsv3.Readdirplus3args{Dir: fh(dir), Cookie: cookie, Cookieverf: verf, Dircount: dircount, Maxcount: maxcount})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadReaddirplus3res(r)
	return res, err
}

// ReadDirAll lists a directory with READDIR in pages of count bytes and returns the names in
// order (including "." and "..").
func (c *Client) ReadDirAll(ctx context.Context, dir []byte, count uint32) ([]string, error) {
	var names []string
	var cookie uint64
	var verf [8]byte
	for i := 0; i < 1<<20; i++ {
		res, err := c.Readdir(ctx, dir, cookie, verf, count)
		if err != nil {
			return nil, err
		}
		ok, isOK := res.(*nfsv3.Readdir3res_NFS3_OK)
		if !isOK {
			return nil, fmt.Errorf("READDIR: status %d", res.GetStatus())
		}
		verf = ok.Resok.Cookieverf
		for e := ok.Resok.Reply.Entries; e != nil; e = e.Nextentry {
			names = append(names, e.Name)
			cookie = e.Cookie
		}
		if ok.Resok.Reply.Eof {
			return names, nil
		}
	}
	return nil, fmt.Errorf("READDIR: no end")
}

// Fsstat calls FSSTAT.
func (c *Client) Fsstat(ctx context.Context, h []byte) (nfsv3.Fsstat3res, error) {
	r, err := c.nfs(ctx, ProcFsstat, &nfsv3.Fsstat3args{Fsroot: fh(h)})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadFsstat3res(r)
	return res, err
}

// Fsinfo calls FSINFO.
func (c *Client) Fsinfo(ctx context.Context, h []byte) (nfsv3.Fsinfo3res, error) {
	r, err := c.nfs(ctx, ProcFsinfo, &nfsv3.Fsinfo3args{Fsroot: fh(h)})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadFsinfo3res(r)
	return res, err
}

// Pathconf calls PATHCONF.
func (c *Client) Pathconf(ctx context.Context, h []byte) (nfsv3.Pathconf3res, error) {
	r, err := c.nfs(ctx, ProcPathconf, &nfsv3.Pathconf3args{Object: fh(h)})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadPathconf3res(r)
	return res, err
}

// Commit calls COMMIT.
func (c *Client) Commit(ctx context.Context, h []byte, off uint64, count uint32) (nfsv3.Commit3res, error) {
	r, err := c.nfs(ctx, ProcCommit, &nfsv3.Commit3args{File: fh(h), Offset: off, Count: count})
	if err != nil {
		return nil, err
	}
	res, _, err := nfsv3.ReadCommit3res(r)
	return res, err
}
