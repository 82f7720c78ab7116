package volfile

import (
	"bytes"
	"strings"
)

// isBlank reports whether c separates tokens within a line.
func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// isWordByte reports whether c may appear in a name, type, option key or keyword: printable ASCII
// except the comment and quote characters and the backslash.
func isWordByte(c byte) bool { return c > ' ' && c < 0x7f && c != '#' && c != '"' && c != '\\' }

func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

// lineScanner tokenises one line.
type lineScanner struct {
	line []byte
	n    int // line number
	i    int // byte offset
}

func (s *lineScanner) col() int { return s.i + 1 }

func (s *lineScanner) skipBlanks() {
	for s.i < len(s.line) && isBlank(s.line[s.i]) {
		s.i++
	}
}

// atEnd skips blanks and reports whether only a comment or nothing is left.
func (s *lineScanner) atEnd() bool {
	s.skipBlanks()
	return s.i >= len(s.line) || s.line[s.i] == '#'
}

// word reads a word; what names it in the error when there is none.
func (s *lineScanner) word(what string) (string, int, error) {
	s.skipBlanks()
	start := s.i
	for s.i < len(s.line) && isWordByte(s.line[s.i]) {
		s.i++
	}
	if s.i == start {
		if s.i >= len(s.line) || s.line[s.i] == '#' {
			return "", 0, errAt(s.n, s.col(), "expected %s, found end of line", what)
		}
		return "", 0, errAt(s.n, s.col(), "expected %s, found %q", what, s.line[s.i])
	}
	if s.i < len(s.line) && !isBlank(s.line[s.i]) && s.line[s.i] != '#' {
		return "", 0, errAt(s.n, s.col(), "invalid character %q in %s", s.line[s.i], what)
	}
	return string(s.line[start:s.i]), start + 1, nil
}

// eol requires the rest of the line to be blank or a comment.
func (s *lineScanner) eol(after string) error {
	if !s.atEnd() {
		return errAt(s.n, s.col(), "unexpected %q after %s", s.rest(), after)
	}
	return nil
}

// rest returns a short excerpt of what is left on the line, for messages.
func (s *lineScanner) rest() string {
	r := string(bytes.TrimRight(s.line[s.i:], " \t\r\v\f"))
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return r
}

// value reads an option value: a quoted string or the rest of the line before any comment.
func (s *lineScanner) value(key string) (string, error) {
	s.skipBlanks()
	if s.i >= len(s.line) || s.line[s.i] == '#' {
		return "", errAt(s.n, s.col(), "option %s has no value", key)
	}
	if s.line[s.i] == '"' {
		v, err := s.quoted()
		if err != nil {
			return "", err
		}
		if err := s.eol("the quoted value of option " + key); err != nil {
			return "", err
		}
		return v, nil
	}
	start := s.i
	for s.i < len(s.line) && s.line[s.i] != '#' {
		s.i++
	}
	return string(bytes.TrimRight(s.line[start:s.i], " \t\r\v\f")), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// quoted reads a double-quoted string starting at the opening quote. Escapes: \\ \" \n \t \r
// and \xHH.
func (s *lineScanner) quoted() (string, error) {
	openCol := s.col()
	s.i++
	var b strings.Builder
	for s.i < len(s.line) {
		c := s.line[s.i]
		switch c {
		case '"':
			s.i++
			return b.String(), nil
		case '\\':
			escCol := s.col()
			s.i++
			if s.i >= len(s.line) {
				return "", errAt(s.n, escCol, "unterminated escape in quoted string")
			}
			e := s.line[s.i]
			s.i++
			switch e {
			case '\\', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'x':
				if s.i+2 > len(s.line) {
					return "", errAt(s.n, escCol, `\x escape needs two hex digits`)
				}
				hi, ok1 := unhex(s.line[s.i])
				lo, ok2 := unhex(s.line[s.i+1])
				if !ok1 || !ok2 {
					return "", errAt(s.n, escCol, `\x escape needs two hex digits`)
				}
				b.WriteByte(hi<<4 | lo)
				s.i += 2
			default:
				return "", errAt(s.n, escCol, "unknown escape \\%c in quoted string", e)
			}
		default:
			b.WriteByte(c)
			s.i++
		}
	}
	return "", errAt(s.n, openCol, "unterminated quoted string")
}

// ParseBytes parses a volfile held in memory. Any error is a *SyntaxError.
func ParseBytes(src []byte) (*Volfile, error) {
	vf := &Volfile{}
	names := map[string]int{} // name -> line of definition
	var cur *Volume
	lines := bytes.Split(src, []byte{'\n'})
	// A final newline does not start another line.
	if len(lines) > 1 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for ln, line := range lines {
		s := &lineScanner{line: line, n: ln + 1}
		if s.atEnd() {
			continue
		}
		kwCol := s.col()
		kw, _, err := s.word("a keyword")
		if err != nil {
			return nil, err
		}
		kw = strings.ToLower(kw)
		if cur == nil {
			if kw != "volume" {
				return nil, errAt(s.n, kwCol, "expected \"volume\", found %q", kw)
			}
			name, _, err := s.word("a volume name")
			if err != nil {
				return nil, err
			}
			if err := s.eol("the volume name"); err != nil {
				return nil, err
			}
			if first, dup := names[name]; dup {
				return nil, errAt(s.n, kwCol, "duplicate volume name %q (first defined at line %d)", name, first)
			}
			names[name] = s.n
			cur = &Volume{Name: name, Line: s.n, Col: kwCol, Options: map[string]string{}, OptionLines: map[string]int{}}
			continue
		}
		switch kw {
		case "volume":
			return nil, errAt(s.n, kwCol, "volume %q (line %d) has no end-volume before the next volume", cur.Name, cur.Line)
		case "type":
			if cur.Type != "" {
				return nil, errAt(s.n, kwCol, "volume %q: second type (first at line %d)", cur.Name, cur.TypeLine)
			}
			t, _, err := s.word("a translator type")
			if err != nil {
				return nil, err
			}
			if err := s.eol("the type"); err != nil {
				return nil, err
			}
			cur.Type, cur.TypeLine = t, s.n
		case "option":
			key, keyCol, err := s.word("an option key")
			if err != nil {
				return nil, err
			}
			if first, dup := cur.OptionLines[key]; dup {
				return nil, errAt(s.n, keyCol, "volume %q: duplicate option %q (first at line %d)", cur.Name, key, first)
			}
			v, err := s.value(key)
			if err != nil {
				return nil, err
			}
			cur.Options[key] = v
			cur.OptionLines[key] = s.n
		case "subvolumes":
			if cur.SubvolumesLine != 0 {
				return nil, errAt(s.n, kwCol, "volume %q: second subvolumes line (first at line %d)", cur.Name, cur.SubvolumesLine)
			}
			cur.SubvolumesLine = s.n
			for !s.atEnd() {
				name, col, err := s.word("a subvolume name")
				if err != nil {
					return nil, err
				}
				cur.Subvolumes = append(cur.Subvolumes, name)
				cur.subCols = append(cur.subCols, col)
			}
			if len(cur.Subvolumes) == 0 {
				return nil, errAt(s.n, s.col(), "volume %q: subvolumes needs at least one name", cur.Name)
			}
		case "end-volume":
			if err := s.eol("end-volume"); err != nil {
				return nil, err
			}
			if cur.Type == "" {
				return nil, errAt(cur.Line, cur.Col, "volume %q has no type", cur.Name)
			}
			vf.Volumes = append(vf.Volumes, cur)
			cur = nil
		default:
			return nil, errAt(s.n, kwCol, "volume %q: unknown keyword %q (want type, option, subvolumes or end-volume)", cur.Name, kw)
		}
	}
	if cur != nil {
		n := len(lines)
		if n == 0 {
			n = 1
		}
		return nil, errAt(n, 0, "volume %q (line %d) has no end-volume", cur.Name, cur.Line)
	}
	if err := vf.Validate(); err != nil {
		return nil, err
	}
	return vf, nil
}
