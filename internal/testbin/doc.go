// Package testbin builds the weft binary for tests that run real processes (brick processes,
// gateways, heal and volume commands) and hands out free loopback ports for them to listen on.
// It is test support only; no GlusterFS counterpart (GlusterFS's regression tests run the
// installed binaries).
package testbin
