package graph

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"go.uber.org/zap"

	"github.com/weftfs/weft/graph/volfile"
)

// BuildError is an error found while turning a volfile into a graph: the volfile line it
// concerns and the underlying error. Its text is "volfile:LINE: volume NAME (TYPE): ...".
type BuildError struct {
	Line   int    // 1-based line in the volfile; 0 when the volume was built in Go
	Volume string // the volume (translator) name
	Err    error
}

func (e *BuildError) Error() string {
	if e.Line <= 0 {
		return "volfile: " + e.Err.Error()
	}
	return fmt.Sprintf("volfile:%d: %v", e.Line, e.Err)
}

func (e *BuildError) Unwrap() error { return e.Err }

// OptionChecker is implemented by translators whose options need checks beyond their
// OptionSpecs (a list of fop names, an errno name, a combination of options). Build calls it
// after Construct, and Reconfigure calls it on the new options before applying any of them, so
// a bad value is reported with its volfile line and never half-applied. Errors should be made
// with OptionErr so the line of the offending option can be found.
type OptionChecker interface {
	CheckOptions(opts *Options) error
}

// OptionError is an option value rejected by a translator's CheckOptions.
type OptionError struct {
	Key, Value string
	Err        error
}

func (e *OptionError) Error() string { return fmt.Sprintf("option %s %q: %v", e.Key, e.Value, e.Err) }
func (e *OptionError) Unwrap() error { return e.Err }

// OptionErr returns an *OptionError for the option key of opts.
func OptionErr(opts *Options, key string, err error) error {
	return &OptionError{Key: key, Value: opts.raw(key), Err: err}
}

// Build constructs the graph a volfile describes: every volume in file order (children before
// parents) through Construct, then NewGraph on the last volume. It does not activate the graph.
// Every error is a *BuildError carrying the volfile line: the type line for an unknown type, the
// option's line for a bad option, the subvolumes line for a wrong number of children.
func Build(vf *volfile.Volfile, log *zap.Logger) (*Graph, error) {
	if err := vf.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	built := make(map[string]Xlator, len(vf.Volumes))
	var top Xlator
	for _, v := range vf.Volumes {
		if _, err := checkVolume(v); err != nil {
			return nil, err
		}
		children := make([]Xlator, len(v.Subvolumes))
		for i, s := range v.Subvolumes {
			children[i] = built[s] // Validate guarantees definition before use
		}
		x, err := Construct(v.Type, v.Name, v.Options, log, children...)
		if err != nil {
			return nil, &BuildError{Line: v.Line, Volume: v.Name, Err: err}
		}
		if err := checkXlatorOptions(x, v, x.Options()); err != nil {
			return nil, err
		}
		built[v.Name] = x
		top = x
	}
	return NewGraph(top)
}

// BuildFile reads, parses and builds the volfile at path. Errors are prefixed with the path.
func BuildFile(path string, log *zap.Logger) (*Graph, error) {
	vf, err := ParseFile(path)
	if err != nil {
		return nil, err
	}
	g, err := Build(vf, log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// ParseFile reads and parses the volfile at path. Errors are prefixed with the path.
func ParseFile(path string) (*volfile.Volfile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vf, err := volfile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vf, nil
}

// checkVolume checks what Construct would reject, so that the error carries the right line:
// the type, the number of subvolumes, and each option in line order. It returns the validated
// options.
func checkVolume(v *volfile.Volume) (*Options, error) {
	r, ok := LookupType(v.Type)
	if !ok {
		return nil, &BuildError{Line: lineOr(v.TypeLine, v.Line), Volume: v.Name,
			Err: fmt.Errorf("volume %s: unknown translator type %q", v.Name, v.Type)}
	}
	n := len(v.Subvolumes)
	subLine := lineOr(v.SubvolumesLine, v.Line)
	if n < r.MinChildren {
		return nil, &BuildError{Line: subLine, Volume: v.Name,
			Err: fmt.Errorf("volume %s (%s): needs at least %d subvolume(s), has %d", v.Name, v.Type, r.MinChildren, n)}
	}
	if r.MaxChildren >= 0 && n > r.MaxChildren {
		return nil, &BuildError{Line: subLine, Volume: v.Name,
			Err: fmt.Errorf("volume %s (%s): takes at most %d subvolume(s), has %d", v.Name, v.Type, r.MaxChildren, n)}
	}
	return validateVolumeOptions(v, r)
}

func lineOr(l, def int) int {
	if l > 0 {
		return l
	}
	return def
}

// optionKeysByLine returns the volume's option keys in volfile order (then by name).
func optionKeysByLine(v *volfile.Volume) []string {
	keys := make([]string, 0, len(v.Options))
	for k := range v.Options {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := v.OptionLines[keys[i]], v.OptionLines[keys[j]]
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// validateVolumeOptions validates a volume's options against its type's specs. The first bad
// option in file order is reported with its line; an option given twice under two of its
// names (key and alias) is an error.
func validateVolumeOptions(v *volfile.Volume, r *Registration) (*Options, error) {
	canon := map[string]string{}
	for i := range r.Options {
		s := &r.Options[i]
		canon[s.Key] = s.Key
		for _, a := range s.Aliases {
			canon[a] = s.Key
		}
	}
	seen := map[string]string{}
	for _, k := range optionKeysByLine(v) {
		line := lineOr(v.OptionLines[k], v.Line)
		if _, err := ValidateOptions(r.Options, map[string]string{k: v.Options[k]}); err != nil {
			return nil, &BuildError{Line: line, Volume: v.Name, Err: fmt.Errorf("volume %s (%s): %w", v.Name, v.Type, err)}
		}
		c := canon[k]
		if prev, dup := seen[c]; dup {
			return nil, &BuildError{Line: line, Volume: v.Name,
				Err: fmt.Errorf("volume %s (%s): option %s repeats option %s (the same option under another name)", v.Name, v.Type, k, prev)}
		}
		seen[c] = k
	}
	opts, err := ValidateOptions(r.Options, v.Options)
	if err != nil {
		return nil, &BuildError{Line: v.Line, Volume: v.Name, Err: fmt.Errorf("volume %s (%s): %w", v.Name, v.Type, err)}
	}
	return opts, nil
}

// checkXlatorOptions runs x's CheckOptions, if any, on opts and locates an error.
func checkXlatorOptions(x Xlator, v *volfile.Volume, opts *Options) error {
	oc, ok := x.(OptionChecker)
	if !ok {
		return nil
	}
	err := oc.CheckOptions(opts)
	if err == nil {
		return nil
	}
	line := v.Line
	var oe *OptionError
	if errors.As(err, &oe) {
		// The spec key may have been given under an alias.
		line = lineOr(v.OptionLines[oe.Key], line)
		if r, ok := LookupType(v.Type); ok {
			for _, s := range r.Options {
				if s.Key == oe.Key {
					for _, a := range s.Aliases {
						if l, ok := v.OptionLines[a]; ok && l > 0 {
							line = l
						}
					}
				}
			}
		}
	}
	return &BuildError{Line: line, Volume: v.Name, Err: fmt.Errorf("volume %s (%s): %w", v.Name, v.Type, err)}
}
