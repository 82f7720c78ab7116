package clustertest

import (
	"flag"
	"os"
	"testing"

	"github.com/weftfs/weft/internal/testbin"
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
	code := m.Run()
	testbin.Cleanup() // the weft binary of the brick-process tests, if one was built
	os.Exit(code)
}
