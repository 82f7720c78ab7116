package nfstest

import (
	"context"
	"fmt"

	gxdr "github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph/rpc"
)

// ReadFast calls READ and decodes the reply by hand: the returned data aliases the reply record
// (no decoding copy), so that benchmarks measure the server rather than the test client.
func (c *Client) ReadFast(ctx context.Context, h []byte, off uint64, count uint32) (data []byte, eof bool, status uint32, err error) {
	w := gxdr.NewWriter(make([]byte, 0, 96))
	w.Opaque(h)
	w.Uint64(off)
	w.Uint32(count)
	res, err := c.Raw(ctx, NFSProgram, 3, ProcRead, w.Bytes())
	if err != nil {
		return nil, false, 0, err
	}
	r := gxdr.NewReader(res)
	status = r.Uint32()
	if status != 0 {
		return nil, false, status, r.Err()
	}
	if r.Bool() { // post_op_attr: fattr3 is 84 bytes
		r.Fixed(84)
	}
	n := r.Uint32()
	eof = r.Bool()
	data = r.Opaque(1 << 30)
	if r.Err() == nil && uint32(len(data)) != n {
		return nil, false, 0, fmt.Errorf("nfstest: READ count %d with %d bytes of data", n, len(data))
	}
	return data, eof, 0, r.Err()
}

// WriteFast calls WRITE with the data sent by scatter/gather I/O (not copied into the call) and
// returns the status, the count written and the stability committed.
func (c *Client) WriteFast(ctx context.Context, h []byte, off uint64, data []byte, stable uint32) (status, count, committed uint32, err error) {
	w := gxdr.NewWriter(make([]byte, 0, 96))
	w.Opaque(h)
	w.Uint64(off)
	w.Uint32(uint32(len(data)))
	w.Uint32(stable)
	w.Uint32(uint32(len(data)))
	req := &rpc.Request{Prog: NFSProgram, Vers: 3, Proc: ProcWrite, Cred: c.Auth, Args: w.Bytes(),
		Payload: [][]byte{data, rpcPad(len(data))}}
	res, err := c.RPC.Do(ctx, req)
	if err != nil {
		return 0, 0, 0, err
	}
	r := gxdr.NewReader(res)
	status = r.Uint32()
	for i := 0; i < 2; i++ { // wcc_data: pre_op_attr (24 bytes), post_op_attr (84 bytes)
		if r.Bool() {
			r.Fixed([]int{24, 84}[i])
		}
	}
	if status != 0 {
		return status, 0, 0, r.Err()
	}
	count = r.Uint32()
	committed = r.Uint32()
	return status, count, committed, r.Err()
}

var zeroPad [4]byte

func rpcPad(n int) []byte { return zeroPad[:(4-n%4)%4] }
