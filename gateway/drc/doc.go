// Package drc is the duplicate request cache for non-idempotent RPCs (RFC 1813 §4.4 and the
// classic Juszczak DRC): a retransmission of a call that is still executing is dropped (no
// reply: the client retransmits again later), a retransmission of a completed call gets the
// saved reply instead of executing again. Entries are keyed by (client address, xid, program,
// version, procedure, length and checksum of the first 256 bytes of the arguments, as Linux nfsd) and the cache is bounded, evicting the least
// recently used completed entry. GlusterFS's counterpart is rpc/rpc-lib/src/rpc-drc.c.
package drc
