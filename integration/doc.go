// Package integration holds Weft's multi-process and real-client tests: clusters of `weft`
// processes on loopback addresses and network namespaces, and real NFS clients — a stock Debian
// Linux kernel booted under qemu (package vm) and Debian's libnfs utilities. The tests carry the
// build tag "integration" and run from `make test`.
package integration
