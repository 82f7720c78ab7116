package clustertest

import (
	"fmt"
	"os"
	"testing"
)

// weftBin is the weft binary built once for the brick-process tests ("" when the build failed;
// buildErr says why).
var (
	weftBin  string
	buildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clustertest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	weftBin, buildErr = BuildWeft(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needWeft(t testing.TB) string {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return weftBin
}
