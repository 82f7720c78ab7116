package graphtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/storage/memory"
)

// ActivateTimeout bounds how long Activate waits for CHILD_UP at the top of a graph.
var ActivateTimeout = 10 * time.Second

// Activate builds a graph over top (graph.NewGraph), activates it and waits until CHILD_UP
// leaves the top (failing the test after ActivateTimeout). t.Cleanup finalises the graph.
func Activate(t testing.TB, top graph.Xlator) *graph.Graph {
	t.Helper()
	g, err := graph.NewGraph(top)
	if err != nil {
		t.Fatalf("graphtest: build graph: %v", err)
	}
	up := make(chan struct{})
	var once sync.Once
	g.SetEventHandler(func(ctx context.Context, ev graph.Event, from graph.Xlator) {
		if ev == graph.EventChildUp {
			once.Do(func() { close(up) })
		}
	})
	if err := g.Activate(context.Background()); err != nil {
		t.Fatalf("graphtest: activate: %v", err)
	}
	t.Cleanup(g.Fini)
	select {
	case <-up:
	case <-time.After(ActivateTimeout):
		t.Fatalf("graphtest: no CHILD_UP from %s within %v", top.Name(), ActivateTimeout)
	}
	return g
}

// ActivateUp builds and activates a graph over top, finalised when the test ends, and tells top
// that each of kids is up: for cluster translators over in-process children, which send it no
// CHILD_UP of their own.
func ActivateUp(t testing.TB, top graph.Xlator, kids ...graph.Xlator) *graph.Graph {
	t.Helper()
	g, err := graph.NewGraph(top)
	if err != nil {
		t.Fatalf("graphtest: build graph: %v", err)
	}
	if err := g.Activate(context.Background()); err != nil {
		t.Fatalf("graphtest: activate: %v", err)
	}
	t.Cleanup(g.Fini)
	for _, k := range kids {
		top.Notify(context.Background(), graph.EventChildUp, k)
	}
	return g
}

// Memory returns an activated storage/memory leaf (its own graph), finalised by t.Cleanup.
func Memory(t testing.TB) graph.Xlator {
	t.Helper()
	x := NewMemory(t, "memory", nil)
	Activate(t, x)
	return x
}

// NewMemory constructs (without activating) a storage/memory translator named name with the
// given raw options, to be placed under other translators in a test graph.
func NewMemory(t testing.TB, name string, opts map[string]string) graph.Xlator {
	t.Helper()
	x, err := graph.Construct(memory.Type, name, opts, zap.NewNop())
	if err != nil {
		t.Fatalf("graphtest: %v", err)
	}
	return x
}

// MemoryFactory is a Factory for a bare storage/memory leaf.
func MemoryFactory(t testing.TB) graph.Xlator { return Memory(t) }

// Layer is one translator of a Stack: a registered type and its raw options.
type Layer struct {
	Type    string
	Name    string // optional; defaults to "<last part of type>-<depth>"
	Options map[string]string
}

// Stack builds a linear graph from layers listed top-down, activates it and returns the top. If
// the last layer's type takes no subvolumes it is the leaf; otherwise a storage/memory leaf is
// added beneath it.
func Stack(t testing.TB, layers ...Layer) graph.Xlator {
	t.Helper()
	var below graph.Xlator
	start := len(layers) - 1
	if start >= 0 {
		if r, ok := graph.LookupType(layers[start].Type); ok && r.MaxChildren == 0 {
			l := layers[start]
			x, err := graph.Construct(l.Type, layerName(l, start), l.Options, zap.NewNop())
			if err != nil {
				t.Fatalf("graphtest: stack: %v", err)
			}
			below = x
			start--
		}
	}
	if below == nil {
		below = NewMemory(t, "memory", nil)
	}
	for i := start; i >= 0; i-- {
		l := layers[i]
		x, err := graph.Construct(l.Type, layerName(l, i), l.Options, zap.NewNop(), below)
		if err != nil {
			t.Fatalf("graphtest: stack: %v", err)
		}
		below = x
	}
	Activate(t, below)
	return below
}

func layerName(l Layer, depth int) string {
	if l.Name != "" {
		return l.Name
	}
	base := l.Type
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	return fmt.Sprintf("%s-%d", base, depth)
}

// ---- convenience fop wrappers --------------------------------------------------------------

// Child returns the loc of name under parent with the GFID (and Inode) left empty.
func Child(parent *graph.Loc, name string) *graph.Loc { return parent.Child(name) }

// Create creates name (mode 0644, O_RDWR|O_CREAT|O_EXCL) under parent and returns the open FD
// (the caller Unrefs it) and the new file's loc with its GFID.
func Create(ctx context.Context, x graph.Fops, parent *graph.Loc, name string) (*graph.FD, *graph.Loc, error) {
	return CreateMode(ctx, x, parent, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644)
}

// CreateMode is Create with explicit open flags and mode.
func CreateMode(ctx context.Context, x graph.Fops, parent *graph.Loc, name string, flags int, mode uint32) (*graph.FD, *graph.Loc, error) {
	loc := parent.Child(name)
	fd := graph.NewFD(nil, graph.GFID{}, flags)
	r, err := x.Create(ctx, loc, flags, mode, 0, fd, nil)
	if err != nil {
		fd.Unref()
		return nil, nil, err
	}
	fd.GFID = r.Stat.GFID
	loc.GFID = r.Stat.GFID
	return fd, loc, nil
}

// Mkdir creates directory name (mode 0755) under parent and returns its loc with its GFID.
func Mkdir(ctx context.Context, x graph.Fops, parent *graph.Loc, name string) (*graph.Loc, error) {
	loc := parent.Child(name)
	r, err := x.Mkdir(ctx, loc, 0o755, 0, nil)
	if err != nil {
		return nil, err
	}
	loc.GFID = r.Stat.GFID
	return loc, nil
}

// Open opens loc with flags and returns the FD (the caller Unrefs it).
func Open(ctx context.Context, x graph.Fops, loc *graph.Loc, flags int) (*graph.FD, error) {
	fd := graph.NewFD(nil, loc.GFID, flags)
	if _, err := x.Open(ctx, loc, flags, fd, nil); err != nil {
		fd.Unref()
		return nil, err
	}
	return fd, nil
}

// OpenDir opens directory loc and returns the FD (the caller Unrefs it).
func OpenDir(ctx context.Context, x graph.Fops, loc *graph.Loc) (*graph.FD, error) {
	fd := graph.NewFD(nil, loc.GFID, unix.O_RDONLY|unix.O_DIRECTORY)
	fd.IsDir = true
	if _, err := x.Opendir(ctx, loc, fd, nil); err != nil {
		fd.Unref()
		return nil, err
	}
	return fd, nil
}

// WriteAll writes data at off through fd.
func WriteAll(ctx context.Context, x graph.Fops, fd *graph.FD, data []byte, off int64) error {
	_, err := x.Writev(ctx, fd, data, off, 0, nil)
	return err
}

// ReadAll reads from off to the end of the file through fd, in chunks of 128 KiB.
func ReadAll(ctx context.Context, x graph.Fops, fd *graph.FD, off int64) ([]byte, error) {
	var out []byte
	for {
		r, err := x.Readv(ctx, fd, 128<<10, off, 0, nil)
		if err != nil {
			r.Done()
			return out, err
		}
		out = append(out, r.Data...)
		n := len(r.Data)
		r.Done() // copied: hand the buffer back
		off += int64(n)
		if r.EOF || n == 0 {
			return out, nil
		}
	}
}

// WriteFile creates name under parent (truncating an existing file), writes data, flushes and
// closes it, and returns the file's loc with its GFID.
func WriteFile(ctx context.Context, x graph.Fops, parent *graph.Loc, name string, data []byte) (*graph.Loc, error) {
	fd, loc, err := CreateMode(ctx, x, parent, name, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer fd.Unref()
	if len(data) > 0 {
		if err := WriteAll(ctx, x, fd, data, 0); err != nil {
			return nil, err
		}
	}
	if _, err := x.Flush(ctx, fd, nil); err != nil {
		return nil, err
	}
	return loc, nil
}

// ReadFile opens loc read-only and returns its whole content.
func ReadFile(ctx context.Context, x graph.Fops, loc *graph.Loc) ([]byte, error) {
	fd, err := Open(ctx, x, loc, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer fd.Unref()
	return ReadAll(ctx, x, fd, 0)
}

// LookupPath resolves an absolute path by looking up each component from the root and returns
// its loc (GFID, ParentGFID, Name, Path filled) and attributes.
func LookupPath(ctx context.Context, x graph.Fops, path string) (*graph.Loc, graph.Iatt, error) {
	loc := graph.RootLoc()
	r, err := x.Lookup(ctx, loc, nil)
	if err != nil {
		return nil, graph.Iatt{}, err
	}
	st := r.Stat
	for _, name := range strings.Split(path, "/") {
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			return nil, graph.Iatt{}, graph.Errorf(unix.EINVAL, "graphtest: lookup %q: '..' is not supported", path)
		}
		loc = loc.Child(name)
		r, err = x.Lookup(ctx, loc, nil)
		if err != nil {
			return nil, graph.Iatt{}, err
		}
		loc.GFID = r.Stat.GFID
		st = r.Stat
	}
	return loc, st, nil
}

// ReadDirAll lists a directory with readdir (plus: readdirp) in requests of size bytes,
// continuing from each last cookie, and returns the entries without "." and "..".
func ReadDirAll(ctx context.Context, x graph.Fops, dir *graph.Loc, plus bool, size uint32) ([]graph.Dirent, error) {
	fd, err := OpenDir(ctx, x, dir)
	if err != nil {
		return nil, err
	}
	defer fd.Unref()
	var out []graph.Dirent
	var off uint64
	for {
		var ents []graph.Dirent
		if plus {
			ents, _, err = x.Readdirp(ctx, fd, size, off, nil)
		} else {
			ents, _, err = x.Readdir(ctx, fd, size, off, nil)
		}
		if err != nil {
			return out, err
		}
		if len(ents) == 0 {
			return out, nil
		}
		for _, e := range ents {
			if e.Name != "." && e.Name != ".." {
				out = append(out, e)
			}
		}
		next := ents[len(ents)-1].Off
		if next == off {
			return out, graph.Errorf(unix.EIO, "graphtest: readdir of %s does not advance past cookie %d", dir, off)
		}
		off = next
	}
}
