// Package volfile reads and writes the GlusterFS volume-file ("volfile") syntax that describes a
// translator graph:
//
//	volume gv0-client-0
//	    type protocol/client
//	    option remote-host node1
//	    option remote-subvolume /bricks/b1
//	end-volume
//
//	volume gv0-dht
//	    type cluster/distribute
//	    option lookup-unhashed "on"   # a quoted value
//	    subvolumes gv0-client-0
//	end-volume
//
// It is the Go counterpart of GlusterFS's libglusterfs/src/graph.l and graph.y (the volfile
// lexer and parser) and of the printer in glusterd-volgen.c. Keywords are case-insensitive; '#'
// starts a comment outside quotes; an option value is either a double-quoted string with
// backslash escapes or the rest of the line with surrounding blanks removed. A subvolume must be
// defined before the volume that uses it, and the last volume is the top of the graph: every
// other volume must be reachable from it.
//
// Parse reports errors as *SyntaxError with the line and column. Print writes the canonical form
// (options sorted by key, four-space indent, values quoted only when needed), which Parse reads
// back to an equal Volfile. This package knows nothing of translator types; graph.Build turns a
// Volfile into a graph.
package volfile
