// Package proto is Weft's brick protocol: the wire format spoken between protocol/client (in a
// client graph) and protocol/server (at the top of a brick process). It is the counterpart of
// GlusterFS's rpc/xdr/src/glusterfs4-xdr.x (GLUSTER_FOP_PROGRAM) and glusterfs-handshake (the
// SETVOLUME/PING procedures), redone as one ONC RPC program (RFC 5531) whose arguments and results
// are XDR (RFC 4506) encoded by hand, without reflection.
//
// # Program
//
// Program number 1298437 (GlusterFS's GLUSTER_FOP_PROGRAM number; GlusterFS speaks versions 330
// and 400 of it, Weft speaks version 1, so a GlusterFS peer gets PROG_MISMATCH rather than
// garbage), version 1. Procedures:
//
//	0  NULL        (RFC 5531 §12.1 convention; void → void)
//	1  CHALLENGE   ChallengeArgs → ChallengeReply (server nonce)
//	2  SETVOLUME   SetvolumeArgs → SetvolumeReply (attach to a brick, prove the shared secret)
//	3  PING        void → Status
//	4  RELEASE     ReleaseArgs → Status (close a remote fd of a file)
//	5  RELEASEDIR  ReleaseArgs → Status (close a remote fd of a directory)
//	16+n           fop n of graph.Fops, in graph.Fop order (16 LOOKUP … 60 RCHECKSUM): Args → Reply
//
// Procedures 6..15 are reserved. ProcOf and FopOf map between fops and procedure numbers.
//
// # Handshake
//
// The client calls CHALLENGE with its client id and a 32-byte random nonce; the server answers
// with its own 32-byte random nonce. The client then calls SETVOLUME naming the brick volume and
// carrying Proof = HMAC-SHA256(secret, "weft-setvolume\x00" | serverNonce | clientNonce |
// clientID | "\x00" | volume); the server answers with ServerProof = HMAC-SHA256(secret,
// "weft-server\x00" | clientNonce | serverNonce | clientID), so each side proves knowledge of the
// shared secret without sending it (an empty secret is a valid key: both sides must then have no
// secret). Fops before a successful SETVOLUME fail with EPERM.
//
// # Calls
//
// Every fop's arguments start with the caller's pid and lock owner (the AUTH_SYS credential of the
// RPC carries uid, gid and groups, RFC 5531 appendix A); then the fop's fields in a fixed order
// (see argLayout). Every reply starts with an errno (0 for success); on an error only the reply's
// xdata follows, otherwise the fop's result fields (see replyLayout). A Loc travels as its GFID,
// parent GFID, name and informative path: bricks resolve by GFID. Xdata travels as an array of
// key/opaque pairs sorted by key, so encodings are deterministic.
//
// # Limits and copies
//
// Decoders check every length against the bytes that remain and against the limits below before
// allocating, so a hostile peer cannot make them allocate more than a small multiple of the record
// it sent, and they never panic. The data of WRITEV arguments and READV replies is decoded as a
// sub-slice of the record (no copy) and encoded last, so an encoder can hand it to the transport
// as its own iovec (EncodeArgsSplit / EncodeReplySplit) instead of copying it.
package proto
