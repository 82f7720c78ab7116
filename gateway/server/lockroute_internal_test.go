package server

import (
	"bytes"
	"testing"

	"github.com/weftfs/weft/gateway/nlm"
)

// nlmFH finds the file handle in the arguments of every NLM procedure that has one, in every
// version, as the nlm package encodes them; garbage yields nil.
func TestGatewayNLMFileHandlePeek(t *testing.T) {
	fh := bytes.Repeat([]byte{7}, 60)
	l := nlm.Lock{CallerName: "client.example", FH: fh, OH: []byte("owner"), Svid: 9, Offset: 1, Len: 2}
	for _, vers := range []uint32{nlm.V1, nlm.V3, nlm.V4} {
		cases := map[uint32][]byte{
			nlm.ProcTest:    nlm.AppendTestArgs(nil, vers, &nlm.TestArgs{Cookie: []byte("ck"), Exclusive: true, Lock: l}),
			nlm.ProcLock:    nlm.AppendLockArgs(nil, vers, &nlm.LockArgs{Cookie: []byte("cookie!"), Block: true, Exclusive: true, Lock: l, State: 3}),
			nlm.ProcCancel:  nlm.AppendCancArgs(nil, vers, &nlm.CancArgs{Cookie: nil, Block: true, Lock: l}),
			nlm.ProcUnlock:  nlm.AppendUnlockArgs(nil, vers, &nlm.UnlockArgs{Cookie: []byte("c"), Lock: l}),
			nlm.ProcGranted: nlm.AppendTestArgs(nil, vers, &nlm.TestArgs{Cookie: []byte("ck"), Lock: l}),
			6:               nlm.AppendTestArgs(nil, vers, &nlm.TestArgs{Lock: l}),     // TEST_MSG
			7:               nlm.AppendLockArgs(nil, vers, &nlm.LockArgs{Lock: l}),     // LOCK_MSG
			9:               nlm.AppendUnlockArgs(nil, vers, &nlm.UnlockArgs{Lock: l}), // UNLOCK_MSG
			22:              nlm.AppendLockArgs(nil, vers, &nlm.LockArgs{Lock: l}),     // NM_LOCK
		}
		if vers != nlm.V1 {
			sh := &nlm.ShareArgs{Cookie: []byte("s"), Share: nlm.Share{CallerName: "client.example", FH: fh, OH: []byte("o")}}
			cases[nlm.ProcShare] = nlm.AppendShareArgs(nil, sh)
			cases[nlm.ProcUnshare] = nlm.AppendShareArgs(nil, sh)
		}
		for proc, args := range cases {
			if got := nlmFH(proc, args); !bytes.Equal(got, fh) {
				t.Errorf("v%d proc %d: fh %x", vers, proc, got)
			}
			if got := nlmFH(proc, args[:len(args)/3]); got != nil {
				t.Errorf("v%d proc %d: fh from truncated args", vers, proc)
			}
		}
	}
	if nlmFH(nlm.ProcLock, []byte{0, 0, 0}) != nil || nlmFH(23, []byte{0, 0, 0, 1, 'x', 0, 0, 0}) != nil {
		t.Error("a handle from garbage or FREE_ALL")
	}
}
