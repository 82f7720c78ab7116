package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"pgregory.net/rapid"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

// mInode is one file of the model; hard links share it.
type mInode struct {
	typ    uint32 // S_IFREG, S_IFDIR, S_IFLNK
	data   []byte
	mode   uint32 // permission bits
	target string
}

// fsModel is the file system the volume must look like: paths to inodes.
type fsModel struct {
	m map[string]*mInode
}

func newModel() *fsModel {
	return &fsModel{m: map[string]*mInode{"/": {typ: unix.S_IFDIR, mode: 0o755}}}
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func (f *fsModel) children(dir string) []string {
	var out []string
	for p := range f.m {
		if p != "/" && parentOf(p) == dir {
			out = append(out, p[strings.LastIndexByte(p, '/')+1:])
		}
	}
	sort.Strings(out)
	return out
}

func (f *fsModel) paths(typ uint32) []string {
	var out []string
	for p, n := range f.m {
		if typ == 0 || n.typ == typ {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// modelWorld is one run: the volume, the model, and which leaves are down.
type modelWorld struct {
	t      *rapid.T
	ctx    context.Context
	top    graph.Xlator
	b      *Builder
	model  *fsModel
	quorum string
	down   [2]int  // per replica set: the index (0, 1) of its down child, or -1
	dirty  [2]bool // per replica set: a change was made while its child was down
}

var modelNames = []string{"a", "b", "c", "dd"}

// roWhenDown reports whether a modifying fop may fail with EROFS now: quorum auto on a replica
// 2 set whose first child is down (GlusterFS: exactly half is enough only with the first child).
func (w *modelWorld) roPossible() bool {
	return w.quorum == "auto" && (w.down[0] == 0 || w.down[1] == 0)
}

// expect checks err against the model's prediction; a fop that may fail with EROFS (quorum
// lost) and did is reported as not applied.
func (w *modelWorld) expect(what string, err error, want ...unix.Errno) (applied bool) {
	w.t.Helper()
	got := graph.Errno(err)
	if got == unix.EROFS && w.roPossible() {
		return false
	}
	if len(want) == 0 {
		if err != nil {
			w.t.Fatalf("%s: %v", what, err)
		}
		// A change made while a brick is down leaves that brick behind.
		for set := range w.down {
			if w.down[set] >= 0 {
				w.dirty[set] = true
			}
		}
		return true
	}
	for _, e := range want {
		if got == e {
			return false
		}
	}
	w.t.Fatalf("%s: got %v (%v), want %v", what, Errno(err), err, want)
	return false
}

func (w *modelWorld) loc(p string) *graph.Loc {
	w.t.Helper()
	loc, _, err := graphtest.LookupPath(w.ctx, w.top, p)
	if err != nil {
		w.t.Fatalf("lookup %s: %v", p, err)
	}
	return loc
}

func (w *modelWorld) pickDir(label string) string {
	return rapid.SampledFrom(w.model.paths(unix.S_IFDIR)).Draw(w.t, label)
}

func (w *modelWorld) newPath(label string) string {
	dir := w.pickDir(label + "-dir")
	return join(dir, rapid.SampledFrom(modelNames).Draw(w.t, label+"-name"))
}

func (w *modelWorld) anyPath(label string, typ uint32) (string, bool) {
	ps := w.model.paths(typ)
	if typ == 0 {
		ps = ps[1:] // not the root
	}
	if len(ps) == 0 {
		return "", false
	}
	return rapid.SampledFrom(ps).Draw(w.t, label), true
}

func isUnder(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

func (w *modelWorld) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"create": func(t *rapid.T) {
			p := w.newPath("create")
			fd, _, err := graphtest.CreateMode(w.ctx, w.top, w.loc(parentOf(p)), p[strings.LastIndexByte(p, '/')+1:], unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644)
			if fd != nil {
				fd.Unref()
			}
			if _, exists := w.model.m[p]; exists {
				w.expect("create "+p, err, unix.EEXIST)
				return
			}
			if w.expect("create "+p, err) {
				w.model.m[p] = &mInode{typ: unix.S_IFREG, mode: 0o644}
			}
		},
		"mkdir": func(t *rapid.T) {
			if w.roPossible() {
				t.Skip("mkdir spans every replica set") // its partial effects are not modelled
			}
			p := w.newPath("mkdir")
			_, err := graphtest.Mkdir(w.ctx, w.top, w.loc(parentOf(p)), p[strings.LastIndexByte(p, '/')+1:])
			if _, exists := w.model.m[p]; exists {
				w.expect("mkdir "+p, err, unix.EEXIST)
				return
			}
			if w.expect("mkdir "+p, err) {
				w.model.m[p] = &mInode{typ: unix.S_IFDIR, mode: 0o755}
			}
		},
		"symlink": func(t *rapid.T) {
			p := w.newPath("symlink")
			target := rapid.SampledFrom([]string{"x", "../y", "/abs/z"}).Draw(t, "target")
			pl := w.loc(parentOf(p))
			_, err := w.top.Symlink(w.ctx, target, pl.Child(p[strings.LastIndexByte(p, '/')+1:]), 0, nil)
			if _, exists := w.model.m[p]; exists {
				w.expect("symlink "+p, err, unix.EEXIST)
				return
			}
			if w.expect("symlink "+p, err) {
				w.model.m[p] = &mInode{typ: unix.S_IFLNK, mode: 0o777, target: target}
			}
		},
		"write": func(t *rapid.T) {
			p, ok := w.anyPath("write", unix.S_IFREG)
			if !ok {
				t.Skip("no file")
			}
			off := rapid.IntRange(0, 70000).Draw(t, "off")
			n := rapid.IntRange(1, 9000).Draw(t, "len")
			seed := byte(rapid.IntRange(1, 250).Draw(t, "seed"))
			data := bytes.Repeat([]byte{seed}, n)
			fd, err := graphtest.Open(w.ctx, w.top, w.loc(p), unix.O_RDWR)
			if err != nil {
				w.expect("open "+p, err)
				return
			}
			_, err = w.top.Writev(w.ctx, fd, data, int64(off), 0, nil)
			fd.Unref()
			if w.expect(fmt.Sprintf("write %s %d@%d", p, n, off), err) {
				in := w.model.m[p]
				if off+n > len(in.data) {
					in.data = append(in.data, make([]byte, off+n-len(in.data))...)
				}
				copy(in.data[off:], data)
			}
		},
		"truncate": func(t *rapid.T) {
			p, ok := w.anyPath("truncate", unix.S_IFREG)
			if !ok {
				t.Skip("no file")
			}
			size := rapid.IntRange(0, 80000).Draw(t, "size")
			_, err := w.top.Truncate(w.ctx, w.loc(p), int64(size), nil)
			if w.expect(fmt.Sprintf("truncate %s %d", p, size), err) {
				in := w.model.m[p]
				if size <= len(in.data) {
					in.data = in.data[:size]
				} else {
					in.data = append(in.data, make([]byte, size-len(in.data))...)
				}
			}
		},
		"read": func(t *rapid.T) {
			p, ok := w.anyPath("read", unix.S_IFREG)
			if !ok {
				t.Skip("no file")
			}
			got, err := graphtest.ReadFile(w.ctx, w.top, w.loc(p))
			if err != nil {
				t.Fatalf("read %s: %v", p, err)
			}
			if !bytes.Equal(got, w.model.m[p].data) {
				t.Fatalf("read %s: %d bytes, model has %d (first difference at %d)", p, len(got), len(w.model.m[p].data), firstDiff(got, w.model.m[p].data))
			}
		},
		"setattr": func(t *rapid.T) {
			p, ok := w.anyPath("setattr", 0)
			if !ok || w.model.m[p].typ == unix.S_IFLNK {
				t.Skip("no file or directory")
			}
			if w.model.m[p].typ == unix.S_IFDIR && w.roPossible() {
				t.Skip("directory setattr spans every replica set")
			}
			mode := uint32(rapid.SampledFrom([]int{0o600, 0o644, 0o700, 0o755, 0o640}).Draw(t, "mode"))
			_, err := w.top.Setattr(w.ctx, w.loc(p), &graph.Iatt{Mode: mode}, graph.SetAttrMode, nil)
			if w.expect(fmt.Sprintf("chmod %s %o", p, mode), err) {
				w.model.m[p].mode = mode
			}
		},
		"unlink": func(t *rapid.T) {
			p, ok := w.anyPath("unlink", 0)
			if !ok {
				t.Skip("nothing")
			}
			_, err := w.top.Unlink(w.ctx, w.loc(p), 0, nil)
			if w.model.m[p].typ == unix.S_IFDIR {
				w.expect("unlink dir "+p, err, unix.EISDIR, unix.EPERM)
				return
			}
			if w.expect("unlink "+p, err) {
				delete(w.model.m, p)
			}
		},
		"rmdir": func(t *rapid.T) {
			if w.roPossible() {
				t.Skip("rmdir spans every replica set")
			}
			p, ok := w.anyPath("rmdir", 0)
			if !ok {
				t.Skip("nothing")
			}
			_, err := w.top.Rmdir(w.ctx, w.loc(p), 0, nil)
			switch {
			case w.model.m[p].typ != unix.S_IFDIR:
				w.expect("rmdir file "+p, err, unix.ENOTDIR)
			case len(w.model.children(p)) > 0:
				w.expect("rmdir non-empty "+p, err, unix.ENOTEMPTY)
			default:
				if w.expect("rmdir "+p, err) {
					delete(w.model.m, p)
				}
			}
		},
		"link": func(t *rapid.T) {
			src, ok := w.anyPath("link-src", unix.S_IFREG)
			if !ok {
				t.Skip("no file")
			}
			dst := w.newPath("link")
			dl := w.loc(parentOf(dst)).Child(dst[strings.LastIndexByte(dst, '/')+1:])
			_, err := w.top.Link(w.ctx, w.loc(src), dl, nil)
			if _, exists := w.model.m[dst]; exists {
				w.expect("link "+src+" "+dst, err, unix.EEXIST)
				return
			}
			if w.expect("link "+src+" "+dst, err) {
				w.model.m[dst] = w.model.m[src]
			}
		},
		"rename": func(t *rapid.T) {
			src, ok := w.anyPath("rename-src", 0)
			if !ok {
				t.Skip("nothing")
			}
			sn := w.model.m[src]
			if sn.typ == unix.S_IFDIR && w.roPossible() {
				t.Skip("directory rename spans every replica set")
			}
			dst := w.newPath("rename")
			dl := w.loc(parentOf(dst)).Child(dst[strings.LastIndexByte(dst, '/')+1:])
			_, err := w.top.Rename(w.ctx, w.loc(src), dl, nil)
			what := "rename " + src + " → " + dst
			dn, exists := w.model.m[dst]
			switch {
			case src == dst || (exists && dn == sn && sn.typ != unix.S_IFDIR):
				w.expect(what, err) // the same file: nothing happens
				return
			case sn.typ == unix.S_IFDIR && isUnder(dst, src):
				w.expect(what, err, unix.EINVAL)
				return
			case exists && dn.typ == unix.S_IFDIR && sn.typ != unix.S_IFDIR:
				w.expect(what, err, unix.EISDIR)
				return
			case exists && dn.typ != unix.S_IFDIR && sn.typ == unix.S_IFDIR:
				w.expect(what, err, unix.ENOTDIR)
				return
			case exists && dn.typ == unix.S_IFDIR && len(w.model.children(dst)) > 0:
				w.expect(what, err, unix.ENOTEMPTY, unix.EEXIST)
				return
			}
			if !w.expect(what, err) {
				return
			}
			moved := map[string]*mInode{}
			for p, n := range w.model.m {
				if isUnder(p, src) {
					moved[dst+p[len(src):]] = n
					delete(w.model.m, p)
				}
			}
			delete(w.model.m, dst)
			for p, n := range moved {
				w.model.m[p] = n
			}
		},
		"brick": func(t *rapid.T) {
			set := rapid.IntRange(0, 1).Draw(t, "set")
			if w.down[set] >= 0 {
				// Self-heal is not in this build: a brick that missed changes stays down for the
				// rest of the run (bringing it back would serve its stale copy and make the two
				// copies answer fops differently — what the self-heal daemon exists to prevent).
				if w.dirty[set] {
					t.Skip("the down brick missed changes and there is no self-heal")
				}
				l := w.b.Leaves[2*set+w.down[set]]
				if err := l.SetDown(w.ctx, false); err != nil {
					t.Fatal(err)
				}
				w.down[set] = -1
				return
			}
			child := rapid.IntRange(0, 1).Draw(t, "child")
			if err := w.b.Leaves[2*set+child].SetDown(w.ctx, true); err != nil {
				t.Fatal(err)
			}
			w.down[set] = child
		},
		"": func(t *rapid.T) { w.check() },
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// check compares the whole namespace with the model: names, types, sizes, modes, contents,
// symlink targets.
func (w *modelWorld) check() {
	w.t.Helper()
	for _, dir := range w.model.paths(unix.S_IFDIR) {
		ents, err := graphtest.ReadDirAll(w.ctx, w.top, w.loc(dir), true, 4096)
		if err != nil {
			w.t.Fatalf("readdirp %s: %v", dir, err)
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name)
		}
		sort.Strings(got)
		if want := w.model.children(dir); strings.Join(got, ",") != strings.Join(want, ",") {
			w.t.Fatalf("readdir %s: %v, model %v", dir, got, want)
		}
	}
	for _, p := range w.model.paths(0) {
		n := w.model.m[p]
		_, st, err := graphtest.LookupPath(w.ctx, w.top, p)
		if err != nil {
			w.t.Fatalf("lookup %s: %v", p, err)
		}
		if st.Type() != n.typ {
			w.t.Fatalf("%s: type %o, model %o", p, st.Type(), n.typ)
		}
		if n.typ != unix.S_IFLNK && st.Perm() != n.mode {
			w.t.Fatalf("%s: mode %o, model %o", p, st.Perm(), n.mode)
		}
		switch n.typ {
		case unix.S_IFREG:
			if st.Size != uint64(len(n.data)) {
				w.t.Fatalf("%s: size %d, model %d", p, st.Size, len(n.data))
			}
		case unix.S_IFLNK:
			tgt, _, _, err := w.top.Readlink(w.ctx, w.loc(p), 4096, nil)
			if err != nil || tgt != n.target {
				w.t.Fatalf("readlink %s: %q %v, model %q", p, tgt, err, n.target)
			}
		}
	}
}

// modelRunLimit bounds one rapid run (a few hundred fops; well under a second normally).
const modelRunLimit = 60 * time.Second

func runModel(t *testing.T, quorum string) {
	rapid.Check(t, func(rt *rapid.T) {
		b := New(t, KindMemory, "")
		b.ErrorGen = true
		top := Dist2x2(map[string]string{"quorum-type": quorum})(b)
		b.Activate(top)
		// No fop may wait forever: a run that takes far too long prints every goroutine (the
		// stuck lock is then in plain sight) and cancels its fops, which fail the run.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		watchdog := time.AfterFunc(modelRunLimit, func() {
			buf := make([]byte, 1<<22)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "model run still going after %v; goroutines:\n%s\n", modelRunLimit, buf)
			cancel()
		})
		defer watchdog.Stop()
		w := &modelWorld{t: rt, ctx: ctx, top: top, b: b, model: newModel(), quorum: quorum, down: [2]int{-1, -1}}
		rt.Repeat(w.actions())
		// Every clean brick back up: the namespace and every file's content still match.
		for set := range w.down {
			if w.down[set] >= 0 && !w.dirty[set] {
				if err := b.Leaves[2*set+w.down[set]].SetDown(w.ctx, false); err != nil {
					rt.Fatal(err)
				}
				w.down[set] = -1
			}
		}
		w.check()
		for _, p := range w.model.paths(unix.S_IFREG) {
			got, err := graphtest.ReadFile(w.ctx, top, w.loc(p))
			if err != nil || !bytes.Equal(got, w.model.m[p].data) {
				rt.Fatalf("final read %s: %d bytes, %v; model %d bytes", p, len(got), err, len(w.model.m[p].data))
			}
		}
	})
}

// TestModelDistRep2QuorumNone: random fops and brick failures (at most one brick per replica set
// down) on distribute 2 × replicate 2 with quorum-type none: every fop behaves as on a local file
// system and the volume always matches the model.
func TestModelDistRep2QuorumNone(t *testing.T) { runModel(t, "none") }

// TestModelDistRep2QuorumAuto: the same with quorum-type auto: with the first brick of a set down
// a modifying fop on that set fails with EROFS and changes nothing.
func TestModelDistRep2QuorumAuto(t *testing.T) { runModel(t, "auto") }
