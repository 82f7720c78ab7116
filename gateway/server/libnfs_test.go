package server_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftfs/weft/gateway/nfstest"
)

// TestLibnfsClient drives the gateway with Debian's libnfs-utils (nfs-cp, nfs-ls, nfs-cat):
// a userspace NFSv3 client written by others.
func TestLibnfsClient(t *testing.T) {
	for _, b := range []string{"nfs-cp", "nfs-ls", "nfs-cat"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (apt-get install libnfs-utils): %v", b, err)
		}
	}
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
}
