package testbin

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	once sync.Once
	dir  string
	bin  string
	err  error
)

// Weft returns the path of a weft binary built from this module's ./cmd/weft. The first call
// in a test binary builds it (into a temporary directory that Cleanup removes); later calls
// return the same path. A failed build fails the calling test with go build's output.
func Weft(t testing.TB) string {
	t.Helper()
	once.Do(build)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func build() {
	out, gerr := exec.Command("go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if gerr != nil || mod == "" || mod == os.DevNull {
		err = fmt.Errorf("testbin: cannot find the module root (go env GOMOD: %q, %v)", mod, gerr)
		return
	}
	dir, err = os.MkdirTemp("", "weft-test-bin-")
	if err != nil {
		err = fmt.Errorf("testbin: %w", err)
		return
	}
	bin = filepath.Join(dir, "weft")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/weft")
	cmd.Dir = filepath.Dir(mod)
	if out, berr := cmd.CombinedOutput(); berr != nil {
		err = fmt.Errorf("go build ./cmd/weft: %v\n%s", berr, out)
	}
}

// Cleanup removes the binary Weft built, if any. Call it from TestMain after m.Run.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
