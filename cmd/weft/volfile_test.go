package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the weft root command in-process with args and returns stdout and the error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errOut)
	rootCmd.SetArgs(args)
	defer rootCmd.SetArgs(nil)
	err := rootCmd.Execute()
	return out.String(), err
}

const goodVol = `# a debug stack over an in-memory leaf
volume gv0-mem
    type storage/memory
    option size 1GB
end-volume
volume gv0-err
    type debug/error-gen
    option failure 0
    option enable writev
    subvolumes gv0-mem
end-volume
volume gv0-trace
  type debug/trace
  option exclude-ops statfs
  subvolumes gv0-err
end-volume
volume gv0
    type debug/io-stats
    subvolumes gv0-trace
end-volume
`

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVolfileCheck(t *testing.T) {
	good := write(t, "good.vol", goodVol)
	out, err := run(t, "volfile", "check", good)
	if err != nil {
		t.Fatalf("check good: %v", err)
	}
	if out != good+": ok: 4 volumes, top gv0 (debug/io-stats)\n" {
		t.Fatalf("output %q", out)
	}
	for _, c := range []struct{ body, want string }{
		{strings.Replace(goodVol, "option enable writev", "option enable writev,explode", 1),
			`volfile:9: volume gv0-err (debug/error-gen): option enable "writev,explode": unknown fop "explode"`},
		{strings.Replace(goodVol, "type debug/trace", "type debug/tracer", 1),
			`volfile:13: volume gv0-trace: unknown translator type "debug/tracer"`},
		{strings.Replace(goodVol, "option size 1GB", "option size 1GB\n    option size 2GB", 1),
			`volfile:5:12: volume "gv0-mem": duplicate option "size" (first at line 4)`},
		{strings.Replace(goodVol, "subvolumes gv0-trace", "subvolumes gv0-trace gv0-err", 1),
			`volfile:19: volume gv0 (debug/io-stats): takes at most 1 subvolume(s), has 2`},
		{goodVol + "volume extra\n type storage/memory\nend-volume\n",
			`volfile:2:1: volume "gv0-mem" is not reachable from the top volume "extra" (the last one)`},
	} {
		bad := write(t, "bad.vol", c.body)
		out, err := run(t, "volfile", "check", bad)
		if err == nil {
			t.Fatalf("bad volfile accepted: %q", out)
		}
		if err.Error() != bad+": "+c.want || strings.Contains(err.Error(), "\n") {
			t.Errorf("got  %v\nwant %s: %s", err, bad, c.want)
		}
	}
	if _, err := run(t, "volfile", "check", filepath.Join(t.TempDir(), "none.vol")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := run(t, "volfile", "check"); err == nil {
		t.Fatal("check without a file accepted")
	}
}

func TestVolfilePrint(t *testing.T) {
	good := write(t, "good.vol", goodVol)
	out, err := run(t, "volfile", "print", good)
	if err != nil {
		t.Fatal(err)
	}
	want := `volume gv0-mem
    type storage/memory
    option size 1GB
end-volume

volume gv0-err
    type debug/error-gen
    option enable writev
    option failure 0
    subvolumes gv0-mem
end-volume

volume gv0-trace
    type debug/trace
    option exclude-ops statfs
    subvolumes gv0-err
end-volume

volume gv0
    type debug/io-stats
    subvolumes gv0-trace
end-volume
`
	if out != want {
		t.Fatalf("print:\n%s", out)
	}
	// Printing the printed form is a fixed point.
	again, err := run(t, "volfile", "print", write(t, "again.vol", out))
	if err != nil || again != out {
		t.Fatalf("not a fixed point: %v", err)
	}
	if _, err := run(t, "volfile", "print", write(t, "syntax.vol", "volume a\n type x/y\n")); err == nil || !strings.Contains(err.Error(), `volfile:2: volume "a" (line 1) has no end-volume`) {
		t.Fatalf("syntax error: %v", err)
	}
}

func TestVolfileTypes(t *testing.T) {
	out, err := run(t, "volfile", "types")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"debug/error-gen  (subvolumes 1)\n    fail chosen fops with a chosen errno at a chosen rate\n",
		"    option error-no (string; default EIO): errno name returned by failed fops (ENOSPC, EIO, ...)\n",
		"debug/io-stats  (subvolumes 1)",
		"    option latency-measurement (bool; default on): measure fop latencies\n",
		"debug/trace  (subvolumes 1)",
		"debug/delay-gen  (subvolumes 1)",
		"    option delay-duration (duration; range 0..3600; default 100ms)",
		"storage/memory  (subvolumes 0)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("types output lacks %q", want)
		}
	}
	// Sorted by type, and deterministic.
	var types []string
	for _, l := range strings.Split(out, "\n") {
		if l != "" && !strings.HasPrefix(l, " ") {
			types = append(types, strings.Fields(l)[0])
		}
	}
	for i := 1; i < len(types); i++ {
		if types[i-1] >= types[i] {
			t.Fatalf("types not sorted: %v", types)
		}
	}
	out2, _ := run(t, "volfile", "types")
	if out2 != out {
		t.Fatal("types output not deterministic")
	}
}
