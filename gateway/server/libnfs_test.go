package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/weftfs/weft/gateway/nfstest"
)

// TestLibnfsClient drives the gateway with Debian's libnfs-utils (nfs-cp, nfs-ls, nfs-cat):
// a userspace NFSv3 client written by others. (Debian 12's libnfs-utils 4.0 has no nfs-stat;
// nfs-ls's long listing carries the same attributes.)
func TestLibnfsClient(t *testing.T) {
	needTools(t, "nfs-cp", "nfs-ls", "nfs-cat")
	env := nfstest.StartPosix(t, t.TempDir(), nil)
	_, nport, _ := net.SplitHostPort(env.NFS)
	_, mport, _ := net.SplitHostPort(env.Mount)
	url := func(p string) string {
		return fmt.Sprintf("nfs://127.0.0.1/gv0%s?nfsport=%s&mountport=%s&version=3", p, nport, mport)
	}
	dir := t.TempDir()
	in := make([]byte, 3<<20+17)
	rand.Read(in)
	src := filepath.Join(dir, "in")
	if err := os.WriteFile(src, in, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
	run("nfs-cp", src, url("/big.bin"))
	ls := run("nfs-ls", url(""))
	if !strings.Contains(string(ls), "big.bin") || !strings.Contains(string(ls), fmt.Sprint(len(in))) {
		t.Fatalf("nfs-ls: %s", ls)
	}
	out := filepath.Join(dir, "out")
	run("nfs-cp", url("/big.bin"), out)
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, in) {
		t.Fatal("nfs-cp round trip differs")
	}
	cat, err := exec.Command("nfs-cat", url("/big.bin")).Output()
	if err != nil || !bytes.Equal(cat, in) {
		t.Fatalf("nfs-cat: %v (%d bytes)", err, len(cat))
	}
	// The brick holds the same bytes.
	onBrick, err := os.ReadFile(filepath.Join(env.Dir, "big.bin"))
	if err != nil || !bytes.Equal(onBrick, in) {
		t.Fatalf("brick copy: %v", err)
	}

	// UTF-8 names in a subdirectory, listed recursively with their attributes.
	c, root := env.Client(t, "/gv0")
	if _, err := c.Mkdir(context.Background(), root, "sub", nfstest.ModeAttrs(0o750)); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("hello, wörld\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	names := []string{"héllo-wörld.txt", "日本語.txt", "emoji-😀.txt"}
	for _, n := range names {
		run("nfs-cp", small, url("/sub/"+n))
	}
	ls = run("nfs-ls", "-R", url(""))
	for _, n := range names {
		re := regexp.MustCompile(`(?m)^-rw-\S{6}\s+1\s+0\s+0\s+14\s+/?sub/` + regexp.QuoteMeta(n) + `$`)
		if !re.Match(ls) {
			t.Errorf("nfs-ls -R: no line for %q with mode, owner and size:\n%s", n, ls)
		}
		got, err := os.ReadFile(filepath.Join(env.Dir, "sub", n))
		if err != nil || string(got) != "hello, wörld\n" {
			t.Errorf("brick file %q: %q %v", n, got, err)
		}
	}
	if !regexp.MustCompile(`(?m)^drwxr-x---\s+\d+\s+0\s+0\s+\d+\s+/?sub$`).Match(ls) {
		t.Errorf("nfs-ls -R: no line for the directory:\n%s", ls)
	}
	sum := run("nfs-ls", "-s", url(""))
	if !regexp.MustCompile(`\d+ of \d+ bytes free`).Match(sum) {
		t.Errorf("nfs-ls -s (FSSTAT): %s", sum)
	}
	cat, err = exec.Command("nfs-cat", url("/sub/"+names[1])).Output()
	if err != nil || string(cat) != "hello, wörld\n" {
		t.Fatalf("nfs-cat of a UTF-8 name: %q %v", cat, err)
	}
}
