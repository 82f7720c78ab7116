// Package clustertest builds cluster graphs for tests: distribute and replicate layouts over
// three kinds of leaves — storage/memory, storage/posix on temporary directories, and real
// `weft brick` processes reached through protocol/client — each with features/locks above the
// storage, as a GlusterFS brick has. Its tests run the graphtest conformance suite on every
// layout and kind, rebalance while clients read and write, a rapid model of the file system with
// bricks going down and up, fault cases over brick processes, and benchmarks.
//
// GlusterFS counterpart: the cluster regression tests under tests/basic and tests/bugs (the .t
// harness that starts glusterfsd processes with `gluster volume create ... replica/arbiter` and
// exercises dht and afr through a FUSE mount), and tests/bugs/distribute for rebalance.
package clustertest
