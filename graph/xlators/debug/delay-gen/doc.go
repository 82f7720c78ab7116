// Package delaygen is the debug/delay-gen translator: it delays chosen fops before passing them
// down, to test timeouts and slow-brick behaviour. The counterpart of GlusterFS's
// xlators/debug/delay-gen.
//
// Options:
//   - delay-percentage: the percentage of enabled fops that are delayed, evenly spread
//     (default 10).
//   - delay-duration: how long (a Go duration such as "100ms", or whole seconds; default 100ms).
//   - enable: the fops that may be delayed, by name in any case; "all" or empty: every fop.
//
// A delay ends early when the fop's context is cancelled; the fop then fails with EINTR
// (wrapping the context's error) without reaching the child.
package delaygen
