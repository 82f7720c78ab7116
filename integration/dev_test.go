//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevRootClient runs `weft dev` in a network namespace (it takes ports 111 and 2049), waits
// for "ready:", copies a file into the volume root as root with libnfs (GlusterFS's default: no
// root squash) and reads it back, then stops it with SIGINT and expects a clean exit.
func TestDevRootClient(t *testing.T) {
	for _, tool := range []string{"nfs-cp", "nfs-cat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian: libnfs-utils)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, a root NFS client)")
	}
	ns := newNetNS(t)
	dir := t.TempDir()
	cmd := nsCommand(context.Background(), ns, bins.weft, "dev", "--dir", filepath.Join(dir, "run"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	timeout := time.After(90 * time.Second)
	var out []string
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("weft dev exited before ready: %v\n%s\n%s", <-done, strings.Join(out, "\n"), stderr.String())
			}
			out = append(out, l)
			if strings.HasPrefix(l, "ready: ") {
				break wait
			}
		case <-timeout:
			t.Fatalf("weft dev not ready after 90s:\n%s\n%s", strings.Join(out, "\n"), stderr.String())
		}
	}
	src := filepath.Join(dir, "src.txt")
	want := "written by root through weft dev\n"
	if err := os.WriteFile(src, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "nfs://127.0.0.1/vol/rootfile.txt?version=3"
	if b, err := nsCommand(context.Background(), ns, "nfs-cp", src, url).CombinedOutput(); err != nil {
		t.Fatalf("nfs-cp as root into the volume root: %v: %s", err, b)
	}
	got, err := nsCommand(context.Background(), ns, "nfs-cat", url).Output()
	if err != nil || string(got) != want {
		t.Fatalf("nfs-cat: %q %v", got, err)
	}
	// The file is owned by root on the bricks (not squashed to nobody).
	found := 0
	for i := 1; i <= 4; i++ {
		fi, err := os.Stat(filepath.Join(dir, "run", "bricks", fmt.Sprintf("b%d", i), "rootfile.txt"))
		if err != nil {
			continue
		}
		found++
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
			t.Errorf("brick b%d: owner uid %d, want 0", i, st.Uid)
		}
	}
	if found != 2 {
		t.Errorf("the file is on %d bricks, want 2 (one replica pair)", found)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		out = append(out, l)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("weft dev after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("weft dev did not exit within 30s of SIGINT")
	}
	if out[len(out)-1] != "stopping" {
		t.Errorf("last line %q, want stopping", out[len(out)-1])
	}
	// No brick, gateway or self-heal process outlives it.
	b, _ := exec.Command("pgrep", "-f", filepath.Join(dir, "run")).Output()
	if s := strings.TrimSpace(string(b)); s != "" {
		t.Errorf("processes left running: %s", s)
	}
}
