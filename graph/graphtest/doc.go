// Package graphtest is the conformance suite and the test kit for translators.
//
// Run(t, factory, caps) drives a fresh graph per subtest through every fop of graph.Fops with
// POSIX edge cases (ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR, rename replacement rules, hard
// and symbolic links, sparse files and seek data/hole, large offsets, truncate, setattr with
// nanosecond times, xattrs and xattrop arithmetic, readdir paging with cookies while the
// directory changes, statfs, permission checks for non-root credentials, fallocate/discard/
// zerofill, rchecksum, locks, concurrency, every fop called with nil arguments) and checks for
// leaked graph FDs and operating-system fds after each subtest. A last
// subtest fails if any fop of graph.Fops was never exercised, so a new fop cannot be forgotten.
//
// The kit: Memory (an activated storage/memory leaf), Activate (build, activate, wait for
// CHILD_UP, finalise on cleanup), Stack (a linear graph of registered types over memory),
// Recorder (a pass-through translator that records the fops it forwards), and wrappers that
// make tests short (Create, Mkdir, WriteFile, ReadFile, LookupPath, ReadDirAll, ...).
//
// GlusterFS counterpart: the default fops in libglusterfs (defaults.c) exercised by the
// translator tests under tests/ (the .t regression harness) and xlators/debug/trace, which logs
// every fop a translator winds.
package graphtest
