package volfile

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files")

// TestGolden parses every testdata/*.vol, prints it, and compares with the .golden file; the
// printed form must parse back to an equal Volfile and print identically (a fixed point).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.vol")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			vf, err := ParseBytes(src)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			out, err := Format(vf)
			if err != nil {
				t.Fatalf("print: %v", err)
			}
			golden := strings.TrimSuffix(in, ".vol") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("printed form differs from %s:\n--- got\n%s--- want\n%s", golden, out, want)
			}
			vf2, err := ParseBytes(out)
			if err != nil {
				t.Fatalf("reparse of printed form: %v", err)
			}
			if !Equal(vf, vf2) {
				t.Fatalf("round trip changed the structure")
			}
			out2, _ := Format(vf2)
			if !bytes.Equal(out, out2) {
				t.Fatalf("printing is not a fixed point")
			}
		})
	}
}

func TestParseStructure(t *testing.T) {
	f, err := os.Open("testdata/simple.vol")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vf, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(vf.Volumes) != 4 || vf.Top().Name != "gv0" {
		t.Fatalf("volumes %d top %v", len(vf.Volumes), vf.Top())
	}
	c1 := vf.Lookup("gv0-client-1")
	if c1 == nil || c1.Type != "protocol/client" || c1.Line != 8 || c1.Col != 1 || c1.TypeLine != 9 {
		t.Fatalf("client-1 %+v", c1)
	}
	if c1.Options["remote-host"] != "node2" || c1.Options["remote-subvolume"] != "/bricks/b2" {
		t.Fatalf("client-1 options %q", c1.Options)
	}
	if c1.OptionLines["remote-subvolume"] != 11 {
		t.Fatalf("option lines %v", c1.OptionLines)
	}
	r := vf.Lookup("gv0-replicate-0")
	if strings.Join(r.Subvolumes, ",") != "gv0-client-0,gv0-client-1" || r.SubvolumesLine != 16 {
		t.Fatalf("replicate %+v", r)
	}

	q, err := ParseString(mustRead(t, "testdata/quoting.vol"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"empty":        "",
		"spaces":       "  padded  ",
		"hash":         "a#b",
		"quote":        `say "hi"`,
		"escapes":      "tab\there\nnewline\x01\\",
		"plain":        "a value with   inner spaces",
		"backslash":    `C:\dir\file`,
		"trailing":     "value",
		"quoted-plain": "simple",
	}
	got := q.Volumes[0].Options
	if len(got) != len(want) {
		t.Fatalf("options %q", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("option %s = %q, want %q", k, got[k], v)
		}
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestErrors checks every rejection with its line, column and message.
func TestErrors(t *testing.T) {
	leaf := "volume a\n type t/a\nend-volume\n"
	cases := []struct {
		name, src string
		line, col int
		msg       string
	}{
		{"empty", "", 1, 1, "empty volfile"},
		{"only comments", "# nothing\n\n   # here\n", 1, 1, "empty volfile"},
		{"stray keyword", "type x/y\n", 1, 1, `expected "volume", found "type"`},
		{"no name", "volume\n", 1, 7, "expected a volume name, found end of line"},
		{"junk after name", "volume a b\n", 1, 10, `unexpected "b" after the volume name`},
		{"bad char in name", "volume a\"b\n", 1, 9, "invalid character"},
		{"non-ascii", "volume \xc3\xa9\n", 1, 8, "expected a volume name"},
		{"missing end", "volume a\n type t/a\n", 2, 0, `volume "a" (line 1) has no end-volume`},
		{"nested volume", "volume a\n type t/a\n  volume b\n", 3, 3, "has no end-volume before the next volume"},
		{"missing type", "volume a\nend-volume\n", 1, 1, `volume "a" has no type`},
		{"second type", "volume a\n type t/a\n type t/b\nend-volume\n", 3, 2, "second type"},
		{"type junk", "volume a\n type t/a x\nend-volume\n", 2, 11, "after the type"},
		{"dup volume", leaf + "\nvolume a\n type t/b\nend-volume\n", 5, 1, `duplicate volume name "a" (first defined at line 1)`},
		{"dup option", "volume a\n type t/a\n option k 1\n option k 2\nend-volume\n", 4, 9, `duplicate option "k" (first at line 3)`},
		{"option no value", "volume a\n type t/a\n option k   # c\nend-volume\n", 3, 13, "option k has no value"},
		{"option no key", "volume a\n type t/a\n option\nend-volume\n", 3, 8, "expected an option key"},
		{"unterminated quote", "volume a\n type t/a\n option k \"abc\nend-volume\n", 3, 11, "unterminated quoted string"},
		{"bad escape", "volume a\n type t/a\n option k \"a\\qb\"\nend-volume\n", 3, 13, `unknown escape \q`},
		{"bad hex escape", "volume a\n type t/a\n option k \"\\xZ1\"\nend-volume\n", 3, 12, `\x escape`},
		{"junk after quote", "volume a\n type t/a\n option k \"v\" w\nend-volume\n", 3, 15, `unexpected "w"`},
		{"unknown keyword", "volume a\n type t/a\n opton k v\nend-volume\n", 3, 2, `unknown keyword "opton"`},
		{"empty subvolumes", leaf + "volume b\n type t/b\n subvolumes   \nend-volume\n", 6, 15, "at least one name"},
		{"second subvolumes", leaf + "volume b\n type t/b\n subvolumes a\n subvolumes a\nend-volume\n", 7, 2, "second subvolumes line"},
		{"undefined subvolume", leaf + "volume b\n type t/b\n subvolumes a zz\nend-volume\n", 6, 15, `subvolume "zz" is not defined`},
		{"used before definition", "volume b\n type t/b\n subvolumes a\nend-volume\n" + leaf, 3, 13, `subvolume "a" is used before its definition at line 5`},
		{"self reference", "volume a\n type t/a\n subvolumes a\nend-volume\n", 3, 13, "lists itself"},
		{"twice", leaf + "volume b\n type t/b\n subvolumes a a\nend-volume\n", 6, 15, `lists subvolume "a" twice`},
		{"unreachable", leaf + "volume b\n type t/b\nend-volume\n", 1, 1, `volume "a" is not reachable from the top volume "b"`},
		{"end junk", "volume a\n type t/a\nend-volume x\n", 3, 12, "after end-volume"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vf, err := ParseString(c.src)
			if err == nil {
				t.Fatalf("accepted: %+v", vf)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SyntaxError", err, err)
			}
			if se.Line != c.line || se.Col != c.col || !strings.Contains(se.Msg, c.msg) {
				t.Fatalf("got %d:%d %q, want %d:%d containing %q", se.Line, se.Col, se.Msg, c.line, c.col, c.msg)
			}
			if !strings.HasPrefix(err.Error(), "volfile:") {
				t.Fatalf("message %q lacks the volfile: prefix", err)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := ParseString("volume a\n type t/a\n option k \"x\nend-volume\n")
	if err == nil || err.Error() != `volfile:3:11: unterminated quoted string` {
		t.Fatalf("got %v", err)
	}
}

// TestPrintRejectsInvalid checks Volfiles built in Go are validated before printing.
func TestPrintRejectsInvalid(t *testing.T) {
	for _, vf := range []*Volfile{
		{},
		{Volumes: []*Volume{{Name: "has space", Type: "t/a"}}},
		{Volumes: []*Volume{{Name: "a", Type: "t/a", Options: map[string]string{"bad key": "v"}}}},
		{Volumes: []*Volume{{Name: "a", Type: ""}}},
		{Volumes: []*Volume{{Name: "a", Type: "t/a", Subvolumes: []string{"b"}}}},
	} {
		var b bytes.Buffer
		if err := Print(&b, vf); err == nil {
			t.Errorf("printed invalid volfile: %q", b.String())
		} else if b.Len() != 0 {
			t.Errorf("wrote output for an invalid volfile")
		}
	}
	// A valid one built in Go prints without positions and reads back equal.
	vf := &Volfile{Volumes: []*Volume{
		{Name: "a", Type: "t/a", Options: map[string]string{"x": "1 2", "y": "", "z": "#"}},
		{Name: "b", Type: "t/b", Subvolumes: []string{"a"}},
	}}
	out, err := Format(vf)
	if err != nil {
		t.Fatal(err)
	}
	want := "volume a\n    type t/a\n    option x 1 2\n    option y \"\"\n    option z \"#\"\nend-volume\n\nvolume b\n    type t/b\n    subvolumes a\nend-volume\n"
	if string(out) != want {
		t.Fatalf("got\n%s", out)
	}
	back, err := ParseBytes(out)
	if err != nil || !Equal(vf, back) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestQuoteValue(t *testing.T) {
	for v, want := range map[string]string{
		"on":       "on",
		"a b":      "a b",
		"":         `""`,
		" x":       `" x"`,
		"x\t":      `"x\t"`,
		"a\"b":     `"a\"b"`,
		"\x00\x7f": `"\x00\x7f"`,
		`a\b`:      `a\b`,
		"é":        "é",
	} {
		if got := QuoteValue(v); got != want {
			t.Errorf("QuoteValue(%q) = %s, want %s", v, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.vol")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("volume a\n type t/a\n option k \"\\x41\\\\\"\nend-volume\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		vf, err := ParseBytes(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error is not a *SyntaxError: %v", err)
			}
			if vf != nil {
				t.Fatalf("both a volfile and an error")
			}
			return
		}
		out, err := Format(vf)
		if err != nil {
			t.Fatalf("cannot print a parsed volfile: %v", err)
		}
		vf2, err := ParseBytes(out)
		if err != nil {
			t.Fatalf("printed form does not parse: %v\n%s", err, out)
		}
		if !Equal(vf, vf2) {
			t.Fatalf("round trip changed the structure:\n%s", out)
		}
		out2, err := Format(vf2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("printing is not a fixed point: %v", err)
		}
	})
}
