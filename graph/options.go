package graph

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// OptionType is the type of an option's value.
type OptionType int

// Option types.
const (
	OptString   OptionType = iota
	OptBool                // on/off, yes/no, true/false, enable/disable, 1/0
	OptInt                 // integer, bounded by Min/Max
	OptSize                // bytes with optional KB/MB/GB/TB suffix (powers of 1024), bounded by Min/Max
	OptPercent             // 0-100, optional "%" suffix
	OptDuration            // seconds as an integer, or a Go duration ("500ms", "10s"); Min/Max in seconds
	OptEnum                // one of Enum
	OptPath                // an absolute path
	OptFloat               // a decimal number, bounded by Min/Max
	OptList                // a comma- or space-separated list of words
)

func (t OptionType) String() string {
	return [...]string{"string", "bool", "int", "size", "percent", "duration", "enum", "path", "float", "list"}[t]
}

// OptionSpec describes one option of a translator type: GlusterFS's volume_option_t as data.
type OptionSpec struct {
	Key         string
	Aliases     []string
	Type        OptionType
	Default     string // "" means no default (the option is unset unless given)
	Min, Max    float64
	Enum        []string
	Description string
}

func (s *OptionSpec) bounded() bool { return s.Min != 0 || s.Max != 0 }

// Options is a validated set of option values, defaults applied, keyed by canonical key.
type Options struct {
	specs  map[string]*OptionSpec
	values map[string]string
	given  map[string]bool
}

func checkSpecs(specs []OptionSpec) error {
	seen := map[string]bool{}
	for i := range specs {
		s := &specs[i]
		for _, k := range append([]string{s.Key}, s.Aliases...) {
			if k == "" || seen[k] {
				return fmt.Errorf("option key %q empty or duplicated", k)
			}
			seen[k] = true
		}
		if s.Default != "" {
			if _, err := parseOption(s, s.Default); err != nil {
				return fmt.Errorf("option %s: bad default: %w", s.Key, err)
			}
		}
	}
	return nil
}

// ValidateOptions checks raw key/value pairs against specs and returns the validated set with
// defaults applied. Unknown keys and values that do not parse or are out of range are errors.
func ValidateOptions(specs []OptionSpec, raw map[string]string) (*Options, error) {
	o := &Options{specs: map[string]*OptionSpec{}, values: map[string]string{}, given: map[string]bool{}}
	byKey := map[string]*OptionSpec{}
	for i := range specs {
		s := &specs[i]
		o.specs[s.Key] = s
		byKey[s.Key] = s
		for _, a := range s.Aliases {
			byKey[a] = s
		}
		if s.Default != "" {
			o.values[s.Key] = s.Default
		}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := byKey[k]
		if !ok {
			return nil, fmt.Errorf("option %q: %w", k, ErrUnknownOption)
		}
		v := raw[k]
		canon, err := parseOption(s, v)
		if err != nil {
			return nil, fmt.Errorf("option %s %q: %w", k, v, err)
		}
		o.values[s.Key] = canon
		o.given[s.Key] = true
	}
	return o, nil
}

// ErrUnknownOption is wrapped by ValidateOptions for a key no spec declares.
var ErrUnknownOption = fmt.Errorf("unknown option")

// parseOption validates v and returns its canonical text (kept as given for most types).
func parseOption(s *OptionSpec, v string) (string, error) {
	switch s.Type {
	case OptString:
		return v, nil
	case OptBool:
		_, err := ParseBool(v)
		return v, err
	case OptInt:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 0, 64)
		if err != nil {
			return "", fmt.Errorf("not an integer")
		}
		return v, s.checkRange(float64(n))
	case OptFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return "", fmt.Errorf("not a number")
		}
		return v, s.checkRange(f)
	case OptSize:
		n, err := ParseSize(v)
		if err != nil {
			return "", err
		}
		return v, s.checkRange(float64(n))
	case OptPercent:
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), "%"), 64)
		if err != nil || f < 0 || f > 100 {
			return "", fmt.Errorf("not a percentage (0-100)")
		}
		return v, nil
	case OptDuration:
		d, err := ParseDuration(v)
		if err != nil {
			return "", err
		}
		return v, s.checkRange(d.Seconds())
	case OptEnum:
		for _, e := range s.Enum {
			if strings.EqualFold(e, v) {
				return e, nil
			}
		}
		return "", fmt.Errorf("not one of %s", strings.Join(s.Enum, ", "))
	case OptPath:
		if !strings.HasPrefix(v, "/") {
			return "", fmt.Errorf("not an absolute path")
		}
		return v, nil
	case OptList:
		return v, nil
	}
	return "", fmt.Errorf("unknown option type %d", s.Type)
}

func (s *OptionSpec) checkRange(f float64) error {
	if s.bounded() && (f < s.Min || f > s.Max) {
		return fmt.Errorf("out of range [%v, %v]", s.Min, s.Max)
	}
	return nil
}

// ParseBool parses GlusterFS's boolean spellings.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "yes", "true", "enable", "1":
		return true, nil
	case "off", "no", "false", "disable", "0":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean (on/off)")
}

// ParseSize parses a byte count with an optional suffix: B, KB/K, MB/M, GB/G, TB/T (powers of
// 1024, as GlusterFS does).
func ParseSize(v string) (uint64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	mult := uint64(1)
	for _, u := range []struct {
		suf string
		m   uint64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suf))
			mult = u.m
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a size")
	}
	if n != 0 && n*mult/mult != n {
		return 0, fmt.Errorf("size overflows")
	}
	return n * mult, nil
}

// ParseDuration parses whole seconds ("42") or a Go duration ("250ms").
func ParseDuration(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative duration")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("not a duration")
	}
	return d, nil
}

func (o *Options) raw(key string) string {
	if o == nil {
		return ""
	}
	if _, ok := o.specs[key]; !ok && o.specs != nil {
		panic("graph: option " + key + " is not declared") // programming error in a translator
	}
	return o.values[key]
}

// IsSet reports whether the option has a value (given or defaulted).
func (o *Options) IsSet(key string) bool {
	if o == nil {
		return false
	}
	_, ok := o.values[key]
	return ok
}

// IsGiven reports whether the option was given explicitly.
func (o *Options) IsGiven(key string) bool { return o != nil && o.given[key] }

// String returns the option's text.
func (o *Options) String(key string) string { return o.raw(key) }

// Bool returns a boolean option (false when unset).
func (o *Options) Bool(key string) bool {
	b, _ := ParseBool(o.raw(key))
	return b
}

// Int returns an integer option (0 when unset).
func (o *Options) Int(key string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(o.raw(key)), 0, 64)
	return n
}

// Float returns a float option.
func (o *Options) Float(key string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(o.raw(key)), "%"), 64)
	return f
}

// Size returns a size option in bytes.
func (o *Options) Size(key string) uint64 {
	n, _ := ParseSize(o.raw(key))
	return n
}

// Duration returns a duration option.
func (o *Options) Duration(key string) time.Duration {
	d, _ := ParseDuration(o.raw(key))
	return d
}

// List returns a list option's words.
func (o *Options) List(key string) []string {
	return strings.FieldsFunc(o.raw(key), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// Map returns the given options (not defaults) as raw key/value pairs, for printing a volfile.
func (o *Options) Map() map[string]string {
	m := map[string]string{}
	if o == nil {
		return m
	}
	for k := range o.given {
		m[k] = o.values[k]
	}
	return m
}
