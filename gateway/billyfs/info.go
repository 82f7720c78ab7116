package billyfs

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// fileInfo is an os.FileInfo built from an Iatt; Sys returns a *graph.Iatt.
type fileInfo struct {
	name string
	st   graph.Iatt
}

func newInfo(name string, st graph.Iatt) *fileInfo { return &fileInfo{name: name, st: st} }

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return int64(i.st.Size) }
func (i *fileInfo) Mode() os.FileMode  { return FileMode(i.st.Mode) }
func (i *fileInfo) ModTime() time.Time { return i.st.Mtime.Time() }
func (i *fileInfo) IsDir() bool        { return i.st.IsDir() }
func (i *fileInfo) Sys() any           { st := i.st; return &st }

// FileMode converts a unix mode (type and permission bits) to an os.FileMode.
func FileMode(m uint32) os.FileMode {
	fm := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		fm |= os.ModeDir
	case unix.S_IFLNK:
		fm |= os.ModeSymlink
	case unix.S_IFIFO:
		fm |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		fm |= os.ModeSocket
	case unix.S_IFCHR:
		fm |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		fm |= os.ModeDevice
	}
	if m&unix.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}
