package volfile

import (
	"fmt"
	"io"
)

// Volfile is a parsed volume file: its volumes in file order. The last volume is the top of the
// graph.
type Volfile struct {
	Volumes []*Volume
}

// Volume is one "volume ... end-volume" block. Line and Col locate the "volume" keyword;
// TypeLine, SubvolumesLine and OptionLines locate the other statements (0 when the Volume was
// built in Go rather than parsed).
type Volume struct {
	Name       string
	Type       string
	Options    map[string]string
	Subvolumes []string

	Line, Col      int
	TypeLine       int
	SubvolumesLine int
	OptionLines    map[string]int

	subCols []int // column of each subvolume name, for error messages
}

// SyntaxError is an error in a volfile, with the 1-based line and column (in bytes) where it was
// found.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	if e.Line <= 0 {
		return "volfile: " + e.Msg
	}
	if e.Col > 0 {
		return fmt.Sprintf("volfile:%d:%d: %s", e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("volfile:%d: %s", e.Line, e.Msg)
}

func errAt(line, col int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// Top returns the top volume (the last one), or nil for an empty Volfile.
func (vf *Volfile) Top() *Volume {
	if vf == nil || len(vf.Volumes) == 0 {
		return nil
	}
	return vf.Volumes[len(vf.Volumes)-1]
}

// Lookup returns the volume with the given name, or nil.
func (vf *Volfile) Lookup(name string) *Volume {
	for _, v := range vf.Volumes {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// Equal reports whether a and b describe the same graph: the same volumes in the same order with
// the same names, types, options and subvolumes. Positions are ignored; a nil options map equals
// an empty one.
func Equal(a, b *Volfile) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.Volumes) != len(b.Volumes) {
		return false
	}
	for i, va := range a.Volumes {
		vb := b.Volumes[i]
		if va.Name != vb.Name || va.Type != vb.Type || len(va.Options) != len(vb.Options) ||
			len(va.Subvolumes) != len(vb.Subvolumes) {
			return false
		}
		for k, v := range va.Options {
			if w, ok := vb.Options[k]; !ok || w != v {
				return false
			}
		}
		for j, s := range va.Subvolumes {
			if vb.Subvolumes[j] != s {
				return false
			}
		}
	}
	return true
}

// Validate checks the structure of a Volfile (parsed or built in Go): at least one volume, valid
// names, unique volume names, a type on every volume, subvolumes defined before use and listed
// once, and every volume reachable from the top (the last volume). Errors are *SyntaxError
// located with the volumes' recorded positions.
func (vf *Volfile) Validate() error {
	if vf == nil || len(vf.Volumes) == 0 {
		return errAt(1, 1, "empty volfile: no volume defined")
	}
	index := map[string]int{}
	for i, v := range vf.Volumes {
		if v == nil {
			return errAt(0, 0, "volume #%d is nil", i+1)
		}
		if !isWord(v.Name) {
			return errAt(v.Line, v.Col, "invalid volume name %q", v.Name)
		}
		if j, dup := index[v.Name]; dup {
			return errAt(v.Line, v.Col, "duplicate volume name %q (first defined at line %d)", v.Name, vf.Volumes[j].Line)
		}
		index[v.Name] = i
		if v.Type == "" {
			return errAt(v.Line, v.Col, "volume %q has no type", v.Name)
		}
		if !isWord(v.Type) {
			return errAt(v.TypeLine, 0, "volume %q: invalid type %q", v.Name, v.Type)
		}
		for k := range v.Options {
			if !isWord(k) {
				return errAt(v.OptionLines[k], 0, "volume %q: invalid option key %q", v.Name, k)
			}
		}
	}
	for i, v := range vf.Volumes {
		seen := map[string]bool{}
		for j, s := range v.Subvolumes {
			line, col := v.SubvolumesLine, 0
			if j < len(v.subCols) {
				col = v.subCols[j]
			}
			if seen[s] {
				return errAt(line, col, "volume %q lists subvolume %q twice", v.Name, s)
			}
			seen[s] = true
			k, ok := index[s]
			switch {
			case s == v.Name:
				return errAt(line, col, "volume %q lists itself as a subvolume", v.Name)
			case !ok:
				return errAt(line, col, "volume %q: subvolume %q is not defined", v.Name, s)
			case k > i:
				return errAt(line, col, "volume %q: subvolume %q is used before its definition at line %d", v.Name, s, vf.Volumes[k].Line)
			}
		}
	}
	// Reachability from the top. Subvolumes always point to earlier volumes, so one backward
	// sweep marks everything reachable.
	reach := make([]bool, len(vf.Volumes))
	reach[len(reach)-1] = true
	for i := len(vf.Volumes) - 1; i >= 0; i-- {
		if !reach[i] {
			continue
		}
		for _, s := range vf.Volumes[i].Subvolumes {
			reach[index[s]] = true
		}
	}
	top := vf.Top()
	for i, v := range vf.Volumes {
		if !reach[i] {
			return errAt(v.Line, v.Col, "volume %q is not reachable from the top volume %q (the last one)", v.Name, top.Name)
		}
	}
	return nil
}

// Parse reads a whole volfile from r and parses it.
func Parse(r io.Reader) (*Volfile, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("volfile: read: %w", err)
	}
	return ParseBytes(b)
}

// ParseString parses a volfile held in a string.
func ParseString(s string) (*Volfile, error) { return ParseBytes([]byte(s)) }
