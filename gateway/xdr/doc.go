// Package xdr is a small, allocation-light XDR codec (RFC 4506) over byte slices, used by the
// gateway's hand-written NFSv3, MOUNT and portmap bodies.
//
// The generated github.com/buildbarn/go-xdr types reject non-ASCII strings (filename3, nfspath3
// and dirpath are declared as ASCII strings there), but NFS clients send UTF-8 and arbitrary bytes
// in file names; the gateway therefore decodes and encodes its bodies with this package. Decoding
// never panics: the first error sticks in the Reader and every later read returns zero values.
package xdr
