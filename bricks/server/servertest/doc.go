// Package servertest starts in-process bricks for tests in other packages: storage/posix →
// features/locks → protocol/server on a loopback port of a temporary directory, the brick graph
// `weft brick` serves (GlusterFS's brick volfile: posix, locks, … server), so that tests of the
// wire, the client and the gateway run against a real brick without a process.
package servertest
