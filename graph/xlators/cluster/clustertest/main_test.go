package clustertest

import (
	"flag"
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
	// The model tests run 20 rapid checks (5 with -short) unless -rapid.checks says otherwise.
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rapid.checks" })
	if f := flag.Lookup("rapid.checks"); f != nil && !given {
		n := "20"
		if testing.Short() {
			n = "5"
		}
		_ = f.Value.Set(n)
	}
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
