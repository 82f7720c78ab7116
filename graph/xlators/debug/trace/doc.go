// Package trace is the debug/trace translator: it logs every fop as it is wound (the call, with
// its Loc or FD) and as it unwinds (the errno and the time taken), at debug level through the
// translator's zap logger. The counterpart of GlusterFS's xlators/debug/trace.
//
// Options: include-ops (only these fops are logged) or exclude-ops (these are not), each a list
// of fop names as in the Fops interface, in any case ("lookup", "Writev"; "read"/"write" are
// accepted as in GlusterFS). Giving both is an error. With neither, every fop is logged.
package trace
