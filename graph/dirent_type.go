package graph

import "golang.org/x/sys/unix"

// DirentType returns the readdir entry type (unix.DT_*) of the attributes: what d_type carries
// for the file type in the mode (DT_UNKNOWN when the mode has none).
func (a *Iatt) DirentType() uint8 {
	switch a.Type() {
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFREG:
		return unix.DT_REG
	case unix.S_IFLNK:
		return unix.DT_LNK
	case unix.S_IFCHR:
		return unix.DT_CHR
	case unix.S_IFBLK:
		return unix.DT_BLK
	case unix.S_IFIFO:
		return unix.DT_FIFO
	case unix.S_IFSOCK:
		return unix.DT_SOCK
	}
	return unix.DT_UNKNOWN
}
