// Package gateway holds Weft's front ends: the ways clients reach a volume's translator graph.
// Its subpackages are the NFS server side (ONC RPC wiring, portmap, MOUNT, NFSv3, NLM, NSM,
// NFSv4.x, the export table, file handles, the errno → nfsstat table) and billyfs, a go-billy
// file system over a volume for Go programs.
//
// GlusterFS counterparts: the FUSE bridge (xlators/mount/fuse) and gNFS (xlators/nfs/server),
// which sit at the top of a client graph, and libgfapi (api/) for programs.
package gateway
