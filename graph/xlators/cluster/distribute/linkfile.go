package distribute

import "bytes"

// EncodeLinkto returns the trusted.glusterfs.dht.linkto value naming subvolume name: the name
// with its terminating NUL, as GlusterFS stores it.
func EncodeLinkto(name string) []byte { return append([]byte(name), 0) }

// DecodeLinkto returns the subvolume name in a linkto value (NUL stripped).
func DecodeLinkto(v []byte) string { return string(bytes.TrimRight(v, "\x00")) }
