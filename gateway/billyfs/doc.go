// Package billyfs exposes a Weft volume — any activated translator graph — as a go-billy
// file system (billy.Filesystem and billy.Change), so Go programs use a volume without NFS or
// FUSE: go-git repositories, tools that take a billy.Filesystem, tests.
//
// Paths are resolved by lookups through the graph from the volume root (symbolic links are
// followed up to 40 deep, then ELOOP); directories found on the way are cached and the cache
// is invalidated on rename and remove. Files carry a graph FD; reads and writes become readv and
// writev of at most 1 MiB, Lock/Unlock become lk with F_SETLKW on the whole file (a graph
// without features/locks answers ENOSYS). Errors are *os.PathError or *os.LinkError wrapping the
// unix.Errno, so the os.Is* predicates and errors.Is(err, fs.ErrNotExist) work.
//
// GlusterFS counterpart: libgfapi (api/src/glfs.c, glfs-fops.c, glfs-resolve.c), which gives
// programs glfs_open/glfs_read/... over a client graph, resolving paths through the graph's inode
// table.
package billyfs
