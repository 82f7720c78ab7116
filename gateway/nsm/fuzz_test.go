package nsm_test

import (
	"bytes"
	"testing"

	"github.com/weftfs/weft/gateway/nsm"
)

// FuzzDecoders feeds arbitrary bytes to every NSM decoder: no panic, and whatever decodes
// re-encodes to the same bytes (XDR has one encoding per value, padding included, except for
// non-zero padding bytes, which the decoders do not check).
func FuzzDecoders(f *testing.F) {
	mon := nsm.Mon{ID: nsm.MonID{MonName: "host", MyID: nsm.MyID{Name: "127.0.0.1", Prog: 100021, Vers: 4, Proc: 16}}}
	f.Add(nsm.AppendMon(nil, &mon))
	f.Add(nsm.AppendStatChge(nil, &nsm.StatChge{MonName: "abc", State: 3}))
	f.Add(nsm.AppendStatus(nil, &nsm.Status{MonName: "abcde", State: 5}))
	f.Add([]byte{0, 0, 0, 1, 'a', 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := nsm.DecodeSmName(b); err == nil {
			check(t, "sm_name", b, nsm.AppendSmName(nil, s))
		}
		if m, err := nsm.DecodeMon(b); err == nil {
			check(t, "mon", b, nsm.AppendMon(nil, &m))
		}
		if m, err := nsm.DecodeMonID(b); err == nil {
			check(t, "mon_id", b, nsm.AppendMonID(nil, &m))
		}
		if m, err := nsm.DecodeMyID(b); err == nil {
			check(t, "my_id", b, nsm.AppendMyID(nil, &m))
		}
		if s, err := nsm.DecodeStatChge(b); err == nil {
			check(t, "stat_chge", b, nsm.AppendStatChge(nil, &s))
		}
		if s, err := nsm.DecodeStatus(b); err == nil {
			check(t, "status", b, nsm.AppendStatus(nil, &s))
		}
		if r, st, err := nsm.DecodeStatRes(b); err == nil {
			check(t, "sm_stat_res", b, nsm.AppendStatRes(nil, r, st))
		}
	})
}

// check compares modulo padding bytes (the decoders accept non-zero padding).
func check(t *testing.T, what string, in, out []byte) {
	t.Helper()
	if len(in) != len(out) {
		t.Fatalf("%s: re-encoded %d bytes from %d", what, len(out), len(in))
	}
	if !bytes.Equal(in, out) {
		for i := range in {
			if in[i] != out[i] && out[i] != 0 {
				t.Fatalf("%s: byte %d differs: %x vs %x", what, i, in, out)
			}
		}
	}
}
