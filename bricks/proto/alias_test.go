package proto

import (
	"reflect"
	"testing"

	"github.com/weftfs/weft/graph"
	"pgregory.net/rapid"
)

// TestReplyDecodeAliasesOnlyData checks that a decoded reply keeps nothing of the record except
// Data: protocol/client hands the record's buffer back to the transport's pool right after
// decoding (every fop but readv, whose Data lives until ReadReply.Release), so any other field
// aliasing it would change under the caller's feet when the buffer is reused.
func TestReplyDecodeAliasesOnlyData(t *testing.T) {
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		t.Run(f.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				r, got, e := replyThroughCodec(t, f)
				got.Data = nil
				want := *r
				want.Data = nil
				for i := range e.Buf { // the pool reuses the buffer
					e.Buf[i] ^= 0xa5
				}
				if !reflect.DeepEqual(&want, &got) {
					t.Fatalf("a decoded field changed with the record buffer:\nsent %+v\ngot  %+v", &want, &got)
				}
			})
		})
	}
}
