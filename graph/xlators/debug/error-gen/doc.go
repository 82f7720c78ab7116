// Package errorgen is the debug/error-gen translator: it fails chosen fops with a chosen errno
// at a chosen rate, without passing them down, to test how the translators above (and the NFS
// front end) handle errors. The counterpart of GlusterFS's xlators/debug/error-gen.
//
// Options:
//   - failure: the percentage of the enabled fops that fail (default 100).
//   - error-no: the errno name returned (ENOSPC, EIO, ...; default EIO).
//   - enable: the fops that may fail, by name in any case; "all" or empty means every fop.
//   - random-failure: when on, each enabled fop fails with probability failure%; when off
//     (default), exactly failure% of them fail, evenly spread (every second one at 50%).
//   - seed: the seed of the random mode (0: seeded from the clock), for reproducible tests.
package errorgen
