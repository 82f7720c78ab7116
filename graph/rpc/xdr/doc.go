// Package xdr is a small, allocation-free XDR (RFC 4506) encoder and decoder over byte slices,
// used by Weft's ONC RPC core (graph/rpc) for its hand-written message headers and by protocol
// code that prefers appending to a buffer over the io.Reader/io.Writer style of generated code.
//
// Encoding is append-style (Append* functions take and return a []byte, like strconv.Append*).
// Decoding uses Decoder, a cursor over a byte slice with a sticky error: after the first
// failure every further read returns a zero value, and Err reports what went wrong. Decoded
// opaque data and strings alias the input slice unless stated otherwise.
//
// Counterpart: the xdr_* primitives of Sun RPC's libc (rpc/xdr.h) and GlusterFS's
// rpc/xdr/src helpers.
package xdr
