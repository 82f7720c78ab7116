package billyfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/util"
	"go.uber.org/zap"

	"github.com/weftfs/weft/gateway/billyfs"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"

	_ "github.com/weftfs/weft/bricks/posix"
	_ "github.com/weftfs/weft/graph/xlators/features/locks"
)

// backends are the graphs the workloads run on.
var backends = []struct {
	name  string
	locks bool
	make  func(t testing.TB) graph.Xlator
}{
	{"memory", false, func(t testing.TB) graph.Xlator { return graphtest.Memory(t) }},
	{"locks+memory", true, func(t testing.TB) graph.Xlator {
		return graphtest.Stack(t, graphtest.Layer{Type: "features/locks"})
	}},
	{"posix", false, func(t testing.TB) graph.Xlator {
		x, err := graph.Construct("storage/posix", "posix", map[string]string{
			"directory": t.TempDir(), "health-check-interval": "0",
		}, zap.NewNop())
		if err != nil {
			t.Fatalf("posix: %v", err)
		}
		graphtest.Activate(t, x)
		return x
	}},
}

func forEach(t *testing.T, fn func(t *testing.T, fs *billyfs.FS, locks bool)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			before := graph.LiveFDs()
			t.Cleanup(func() {
				if n := graph.LiveFDs(); n != before {
					t.Errorf("leak: %d graph FDs live, %d before", n, before)
				}
			})
			fn(t, billyfs.New(b.make(t)), b.locks)
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestManyFilesRoundTrip(t *testing.T) {
	forEach(t, func(t *testing.T, fs *billyfs.FS, _ bool) {
		n := 200
		if testing.Short() {
			n = 50
		}
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("dir%d/sub/file%03d.txt", i%7, i)
			must(t, util.WriteFile(fs, name, bytes.Repeat([]byte{byte(i)}, i*37), 0o644))
		}
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("dir%d/sub/file%03d.txt", i%7, i)
			b, err := util.ReadFile(fs, name)
			must(t, err)
			if !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, i*37)) {
				t.Fatalf("%s: content differs (%d bytes)", name, len(b))
			}
		}
		var files, dirs int
		must(t, util.Walk(fs, "/", func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if info.IsDir() {
				dirs++
			} else {
				files++
			}
			return nil
		}))
		if files != n || dirs != 1+7+7 {
			t.Fatalf("walk: %d files %d dirs, want %d and %d", files, dirs, n, 15)
		}
		infos, err := fs.ReadDir("dir3/sub")
		must(t, err)
		if !sort.SliceIsSorted(infos, func(i, j int) bool { return infos[i].Name() < infos[j].Name() }) {
			t.Errorf("ReadDir not sorted")
		}
		for _, fi := range infos {
			var i int
			fmt.Sscanf(fi.Name(), "file%03d.txt", &i)
			if fi.Size() != int64(i*37) || fi.IsDir() || fi.Mode().Perm() != 0o644 {
				t.Errorf("%s: size %d dir %v mode %v", fi.Name(), fi.Size(), fi.IsDir(), fi.Mode())
			}
		}
	})
}

func TestFileIO(t *testing.T) {
	forEach(t, func(t *testing.T, fs *billyfs.FS, _ bool) {
		f, err := fs.Create("f.bin")
		must(t, err)
		data := make([]byte, 3<<20+123) // crosses the 1 MiB chunking
		for i := range data {
			data[i] = byte(i * 7)
		}
		n, err := f.Write(data)
		if err != nil || n != len(data) {
			t.Fatalf("write: %d %v", n, err)
		}
		pos, err := f.Seek(0, io.SeekCurrent)
		if err != nil || pos != int64(len(data)) {
			t.Fatalf("seek current: %d %v", pos, err)
		}
		_, err = f.Seek(10, io.SeekStart)
		must(t, err)
		buf := make([]byte, 5)
		_, err = io.ReadFull(f, buf)
		must(t, err)
		if !bytes.Equal(buf, data[10:15]) {
			t.Fatalf("read after seek: %x", buf)
		}
		big := make([]byte, len(data))
		n, err = f.ReadAt(big, 0)
		if err != nil || n != len(data) || !bytes.Equal(big, data) {
			t.Fatalf("readat: %d %v equal=%v", n, err, bytes.Equal(big, data))
		}
		n, err = f.ReadAt(make([]byte, 10), int64(len(data))-4)
		if n != 4 || err != io.EOF {
			t.Fatalf("readat across EOF: %d %v", n, err)
		}
		end, err := f.Seek(-3, io.SeekEnd)
		if err != nil || end != int64(len(data))-3 {
			t.Fatalf("seek end: %d %v", end, err)
		}
		rest, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(rest, data[len(data)-3:]) {
			t.Fatalf("read to end: %x %v", rest, err)
		}
		wa := f.(io.WriterAt)
		_, err = wa.WriteAt([]byte("HELLO"), 1)
		must(t, err)
		must(t, f.Truncate(6))
		st, err := f.(*billyfs.File).Stat()
		must(t, err)
		if st.Size() != 6 {
			t.Fatalf("size after truncate %d", st.Size())
		}
		must(t, f.(*billyfs.File).Sync())
		must(t, f.Close())
		if err := f.Close(); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("second close: %v", err)
		}
		if _, err := f.Read(buf); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("read after close: %v", err)
		}
		b, err := util.ReadFile(fs, "f.bin")
		must(t, err)
		if string(b) != string([]byte{data[0]})+"HELLO" {
			t.Fatalf("content %q", b)
		}

		// O_APPEND and O_EXCL.
		a, err := fs.OpenFile("log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		must(t, err)
		for i := 0; i < 3; i++ {
			_, err = fmt.Fprintf(a, "line %d\n", i)
			must(t, err)
		}
		if _, err := a.(io.WriterAt).WriteAt([]byte("x"), 0); err == nil {
			t.Errorf("WriteAt on O_APPEND file accepted")
		}
		must(t, a.Close())
		a, err = fs.OpenFile("log", os.O_WRONLY|os.O_APPEND, 0)
		must(t, err)
		_, err = a.Write([]byte("more\n"))
		must(t, err)
		must(t, a.Close())
		b, err = util.ReadFile(fs, "log")
		must(t, err)
		if string(b) != "line 0\nline 1\nline 2\nmore\n" {
			t.Fatalf("append: %q", b)
		}
		if _, err := fs.OpenFile("log", os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600); !os.IsExist(err) {
			t.Fatalf("O_EXCL on existing: %v", err)
		}
		if _, err := fs.Open("nope"); !os.IsNotExist(err) || !errors.Is(err, iofs.ErrNotExist) {
			t.Fatalf("open missing: %v", err)
		}
		var pe *os.PathError
		if _, err := fs.Open("nope/deeper"); !errors.As(err, &pe) || pe.Path != "nope/deeper" {
			t.Fatalf("error is not a PathError naming the path: %#v", err)
		}
		if _, err := fs.OpenFile("dir-not", os.O_RDWR, 0); !os.IsNotExist(err) {
			t.Fatalf("open without create: %v", err)
		}
	})
}

func TestRenameRemoveStat(t *testing.T) {
	forEach(t, func(t *testing.T, fs *billyfs.FS, _ bool) {
		must(t, util.WriteFile(fs, "a/b/c.txt", []byte("c"), 0o644))
		must(t, fs.Rename("a/b", "x/y")) // creates x
		if _, err := fs.Stat("a/b/c.txt"); !os.IsNotExist(err) {
			t.Fatalf("old path still resolves: %v", err)
		}
		b, err := util.ReadFile(fs, "x/y/c.txt")
		must(t, err)
		if string(b) != "c" {
			t.Fatalf("content after dir rename %q", b)
		}
		// Rename over an existing file replaces it.
		must(t, util.WriteFile(fs, "x/y/d.txt", []byte("d"), 0o644))
		must(t, fs.Rename("x/y/c.txt", "x/y/d.txt"))
		b, err = util.ReadFile(fs, "x/y/d.txt")
		must(t, err)
		if string(b) != "c" {
			t.Fatalf("rename over file: %q", b)
		}
		// Recreate the old directory name: the cache must not resolve it to the moved dir.
		must(t, fs.MkdirAll("a/b", 0o755))
		if infos, err := fs.ReadDir("a/b"); err != nil || len(infos) != 0 {
			t.Fatalf("recreated dir: %v %d entries", err, len(infos))
		}
		err = fs.Remove("x")
		if err == nil || !errors.Is(err, iofs.ErrExist) && !isErrno(err, "directory not empty") {
			t.Fatalf("remove non-empty dir: %v", err)
		}
		must(t, util.RemoveAll(fs, "x"))
		if _, err := fs.Stat("x"); !os.IsNotExist(err) {
			t.Fatalf("x after RemoveAll: %v", err)
		}
		var le *os.LinkError
		if err := fs.Rename("missing", "other"); !errors.As(err, &le) || !os.IsNotExist(err) {
			t.Fatalf("rename missing: %#v", err)
		}
		fi, err := fs.Stat("/")
		must(t, err)
		if !fi.IsDir() {
			t.Fatalf("root not a dir")
		}
		if st, ok := fi.Sys().(*graph.Iatt); !ok || st.GFID != graph.RootGFID {
			t.Fatalf("Sys() = %T", fi.Sys())
		}
		must(t, fs.MkdirAll("m/n/o", 0o750))
		fi, err = fs.Stat("m/n/o")
		must(t, err)
		if !fi.IsDir() || fi.Mode().Perm() != 0o750 {
			t.Fatalf("mkdirall mode %v", fi.Mode())
		}
		must(t, util.WriteFile(fs, "m/file", nil, 0o644))
		if err := fs.MkdirAll("m/file/sub", 0o755); err == nil {
			t.Fatalf("MkdirAll through a file succeeded")
		}
	})
}

func isErrno(err error, text string) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte(text))
}

func TestSymlinksAndChange(t *testing.T) {
	forEach(t, func(t *testing.T, fs *billyfs.FS, _ bool) {
		must(t, util.WriteFile(fs, "dir/target.txt", []byte("T"), 0o644))
		must(t, fs.Symlink("target.txt", "dir/rel"))
		must(t, fs.Symlink("/dir", "abs"))
		must(t, fs.Symlink("loop2", "loop1"))
		must(t, fs.Symlink("loop1", "loop2"))
		b, err := util.ReadFile(fs, "dir/rel")
		must(t, err)
		if string(b) != "T" {
			t.Fatalf("read through relative symlink: %q", b)
		}
		b, err = util.ReadFile(fs, "abs/target.txt")
		must(t, err)
		if string(b) != "T" {
			t.Fatalf("read through directory symlink: %q", b)
		}
		fi, err := fs.Lstat("dir/rel")
		must(t, err)
		if fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("lstat mode %v", fi.Mode())
		}
		fi, err = fs.Stat("dir/rel")
		must(t, err)
		if !fi.Mode().IsRegular() || fi.Size() != 1 {
			t.Fatalf("stat through link: %v %d", fi.Mode(), fi.Size())
		}
		tgt, err := fs.Readlink("dir/rel")
		if err != nil || tgt != "target.txt" {
			t.Fatalf("readlink: %q %v", tgt, err)
		}
		if _, err := fs.Readlink("dir/target.txt"); err == nil {
			t.Fatalf("readlink of a file succeeded")
		}
		if _, err := fs.Stat("loop1"); err == nil || !isErrno(err, "too many levels") {
			t.Fatalf("symlink loop: %v", err)
		}
		// Chroot: the view cannot climb out, absolute links resolve inside it.
		sub, err := fs.Chroot("dir")
		must(t, err)
		if sub.Root() != "/dir" {
			t.Fatalf("chroot root %q", sub.Root())
		}
		b, err = util.ReadFile(sub, "../../target.txt")
		must(t, err)
		if string(b) != "T" {
			t.Fatalf("read in chroot: %q", b)
		}
		must(t, util.WriteFile(sub, "new.txt", []byte("N"), 0o644))
		if _, err := fs.Stat("dir/new.txt"); err != nil {
			t.Fatalf("file made in chroot not visible outside: %v", err)
		}

		// billy.Change.
		var ch billy.Change = fs
		must(t, ch.Chmod("dir/rel", 0o600)) // follows the link
		fi, err = fs.Stat("dir/target.txt")
		must(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("chmod through link: %v", fi.Mode())
		}
		at := time.Unix(1500000000, 123456789)
		mt := time.Unix(1600000000, 987654321)
		must(t, ch.Chtimes("dir/target.txt", at, mt))
		fi, err = fs.Stat("dir/target.txt")
		must(t, err)
		if !fi.ModTime().Equal(mt) {
			t.Fatalf("mtime %v want %v", fi.ModTime(), mt)
		}
		if st := fi.Sys().(*graph.Iatt); !st.Atime.Time().Equal(at) {
			t.Fatalf("atime %v want %v", st.Atime.Time(), at)
		}
		must(t, ch.Chown("dir/rel", 1234, -1))
		must(t, ch.Lchown("dir/rel", 77, 88))
		st := mustStat(t, fs, "dir/target.txt")
		if st.UID != 1234 || st.GID != 0 {
			t.Fatalf("chown through link: %d:%d", st.UID, st.GID)
		}
		fi, err = fs.Lstat("dir/rel")
		must(t, err)
		if lst := fi.Sys().(*graph.Iatt); lst.UID != 77 || lst.GID != 88 {
			t.Fatalf("lchown: %d:%d", lst.UID, lst.GID)
		}
		if err := ch.Chmod("missing", 0o644); !os.IsNotExist(err) {
			t.Fatalf("chmod missing: %v", err)
		}
	})
}

func mustStat(t *testing.T, fs *billyfs.FS, name string) *graph.Iatt {
	t.Helper()
	fi, err := fs.Stat(name)
	must(t, err)
	return fi.Sys().(*graph.Iatt)
}

func TestTempFileAndPermissions(t *testing.T) {
	forEach(t, func(t *testing.T, fs *billyfs.FS, _ bool) {
		f, err := fs.TempFile("tmp", "pre-")
		must(t, err)
		if filepath.Dir(f.Name()) != "tmp" || !bytes.HasPrefix([]byte(filepath.Base(f.Name())), []byte("pre-")) {
			t.Fatalf("temp name %q", f.Name())
		}
		must(t, f.Close())
		fi, err := fs.Stat(f.Name())
		must(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("temp file mode %v", fi.Mode())
		}
		name, err := util.TempDir(fs, "tmp", "d-")
		must(t, err)
		if fi, err := fs.Stat(name); err != nil || !fi.IsDir() {
			t.Fatalf("TempDir: %v", err)
		}

		// A non-root view is refused what the modes forbid.
		must(t, util.WriteFile(fs, "secret", []byte("s"), 0o600))
		user := fs.WithCreds(&graph.Creds{UID: 1000, GID: 1000})
		if _, err := util.ReadFile(user, "secret"); !os.IsPermission(err) {
			t.Fatalf("user reads 0600 root file: %v", err)
		}
		if err := util.WriteFile(user, "mine", []byte("x"), 0o644); !os.IsPermission(err) {
			t.Fatalf("user creates in 0755 root dir: %v", err)
		}
	})
}

func TestConcurrentWriters(t *testing.T) {
	forEach(t, func(t *testing.T, fs *billyfs.FS, _ bool) {
		const workers = 8
		per := 20
		if testing.Short() {
			per = 5
		}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		shared, err := fs.Create("shared")
		must(t, err)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < per; i++ {
					name := fmt.Sprintf("c/w%d/f%d", w, i)
					if err := util.WriteFile(fs, name, []byte(name), 0o644); err != nil {
						errs <- err
						return
					}
				}
				chunk := bytes.Repeat([]byte{byte('a' + w)}, 10000)
				if _, err := shared.(io.WriterAt).WriteAt(chunk, int64(w)*10000); err != nil {
					errs <- err
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		must(t, shared.Close())
		count := 0
		must(t, util.Walk(fs, "c", func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if !info.IsDir() {
				count++
				b, err := util.ReadFile(fs, p)
				if err != nil {
					return err
				}
				if "/"+string(b) != p && string(b) != p {
					return fmt.Errorf("%s holds %q", p, b)
				}
			}
			return nil
		}))
		if count != workers*per {
			t.Fatalf("%d files, want %d", count, workers*per)
		}
		b, err := util.ReadFile(fs, "shared")
		must(t, err)
		for w := 0; w < workers; w++ {
			if !bytes.Equal(b[w*10000:(w+1)*10000], bytes.Repeat([]byte{byte('a' + w)}, 10000)) {
				t.Fatalf("shared chunk %d corrupted", w)
			}
		}
	})
}

func TestLock(t *testing.T) {
	forEach(t, func(t *testing.T, fs *billyfs.FS, locks bool) {
		f1, err := fs.Create("lockfile")
		must(t, err)
		defer f1.Close()
		if !locks {
			if err := f1.Lock(); err == nil || !isErrno(err, "not implemented") {
				t.Fatalf("Lock without features/locks: %v, want ENOSYS", err)
			}
			t.Skip("graph has no features/locks: Lock fails with ENOSYS (checked)")
		}
		must(t, f1.Lock())
		f2, err := fs.Open("lockfile")
		must(t, err)
		defer f2.Close()
		got := make(chan error, 1)
		go func() { got <- f2.Lock() }()
		select {
		case err := <-got:
			t.Fatalf("second Lock did not wait: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		must(t, f1.Unlock())
		select {
		case err := <-got:
			must(t, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("second Lock not granted after Unlock")
		}
		// Closing the holder releases its lock.
		f3, err := fs.Open("lockfile")
		must(t, err)
		defer f3.Close()
		go func() { got <- f3.Lock() }()
		time.Sleep(50 * time.Millisecond)
		must(t, f2.Close())
		select {
		case err := <-got:
			must(t, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("lock not released by Close")
		}
		must(t, f3.Unlock())
	})
}
