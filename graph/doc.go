// Package graph is Weft's translator framework: the Go counterpart of GlusterFS's libglusterfs.
//
// A volume is a graph of translators (xlators). Every translator implements the complete file
// operation ("fop") set of GlusterFS as synchronous Go calls with a context.Context first: a
// GlusterFS STACK_WIND is a method call on a child, its STACK_UNWIND is the return. Translators
// that change only some fops embed Passthrough, which forwards every fop to the first child (the
// GlusterFS "default" fops). Cluster translators implement every fop deliberately.
//
// The package holds the contract (Fops, Xlator, Event), the data types carried by fops (GFID,
// Iatt, Loc, FD, Xdata, Dirent, Flock), the inode and fd tables with per-translator context
// slots, the registry of translator types, options as data (OptionSpec) validated when a graph is
// built, and graph build/activate/notify/reconfigure/switch.
//
// Errors returned by fops are unix.Errno values, possibly wrapped with %w and context; Errno
// extracts the errno from any error.
package graph
