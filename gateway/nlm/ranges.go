package nlm

import "math"

// span is a closed byte range [start, end]; end math.MaxInt64 means "to the end of the file".
type span struct{ start, end int64 }

// ranges is the set of bytes one owner holds locks on in one file, kept to know when a
// (host, file) pair holds nothing any more (its FD can then be closed). Lock types are not
// tracked: the graph's lock translator is the authority on them.
type ranges []span

func (r ranges) add(s, e int64) ranges {
	out := make(ranges, 0, len(r)+1)
	for _, x := range r {
		if x.end < s-1 || e < x.start-1 { // disjoint and not adjacent (starts are ≥ 0: no overflow)
			out = append(out, x)
			continue
		}
		s, e = min(s, x.start), max(e, x.end) // overlapping or adjacent: merge
	}
	out = append(out, span{s, e})
	return out
}

func (r ranges) sub(s, e int64) ranges {
	out := r[:0:0]
	for _, x := range r {
		if x.end < s || x.start > e {
			out = append(out, x)
			continue
		}
		if x.start < s {
			out = append(out, span{x.start, s - 1})
		}
		if x.end > e {
			out = append(out, span{e + 1, x.end})
		}
	}
	return out
}

// rangeOf converts an NLM offset and length (0: to the end of the file) to a closed span and
// the graph.Flock Start/Len pair. An offset beyond what a file offset can hold is an error
// (NLM4_FBIG); a length running past the largest offset means "to the end", as Linux does.
func rangeOf(off, length uint64) (sp span, start, flen int64, ok bool) {
	if off > math.MaxInt64 {
		return span{}, 0, 0, false
	}
	start = int64(off)
	if length == 0 || length > uint64(math.MaxInt64-start) {
		return span{start, math.MaxInt64}, start, 0, true
	}
	return span{start, start + int64(length) - 1}, start, int64(length), true
}
