package volfile

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Print writes vf in canonical form: volumes in order separated by a blank line, each with its
// type, its options sorted by key, then its subvolumes; four-space indent; option values quoted
// only when needed. vf is validated first; an invalid Volfile is an error and nothing is written.
func Print(w io.Writer, vf *Volfile) error {
	if err := vf.Validate(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for i, v := range vf.Volumes {
		if i > 0 {
			bw.WriteByte('\n')
		}
		fmt.Fprintf(bw, "volume %s\n    type %s\n", v.Name, v.Type)
		keys := make([]string, 0, len(v.Options))
		for k := range v.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(bw, "    option %s %s\n", k, QuoteValue(v.Options[k]))
		}
		if len(v.Subvolumes) > 0 {
			fmt.Fprintf(bw, "    subvolumes %s\n", strings.Join(v.Subvolumes, " "))
		}
		bw.WriteString("end-volume\n")
	}
	return bw.Flush()
}

// Format returns the canonical text of vf (see Print).
func Format(vf *Volfile) ([]byte, error) {
	var b bytes.Buffer
	if err := Print(&b, vf); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// needsQuote reports whether an option value must be quoted to read back unchanged.
func needsQuote(v string) bool {
	if v == "" || isBlank(v[0]) || isBlank(v[len(v)-1]) {
		return true
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < ' ' || c == 0x7f || c == '#' || c == '"' {
			return true
		}
	}
	return false
}

// QuoteValue returns v as it appears after an option key: unchanged when that reads back as v,
// otherwise double-quoted with \\, \", \n, \t, \r and \xHH escapes.
func QuoteValue(v string) string {
	if !needsQuote(v) {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < ' ' || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
