package nfs3

import (
	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

// Permission bits for mayAccess.
const (
	permR = 4
	permW = 2
	permX = 1
)

// mayAccess reports whether c may access a file with attributes a for want (R/W/X bits), by
// the POSIX rules: root may read and write anything and execute what has some execute bit (or is
// a directory); otherwise the owner, group (primary or supplementary) or other class decides.
func mayAccess(a *graph.Iatt, c *graph.Creds, want uint32) bool {
	if want == 0 {
		return true
	}
	if c.UID == 0 {
		if want&permX != 0 && !a.IsDir() && a.Mode&0o111 == 0 {
			return false
		}
		return true
	}
	var bits uint32
	switch {
	case c.UID == a.UID:
		bits = (a.Mode >> 6) & 7
	case c.InGroup(a.GID):
		bits = (a.Mode >> 3) & 7
	default:
		bits = a.Mode & 7
	}
	return bits&want == want
}

// mayDataAccess is mayAccess for READ and WRITE of a regular file: as Linux nfsd does
// (NFSD_MAY_OWNER_OVERRIDE), the owner may read and write regardless of the mode, so that a file
// created and then chmodded read-only by its owner stays writable through already-open files.
func mayDataAccess(a *graph.Iatt, c *graph.Creds, want uint32) bool {
	if c.UID == a.UID && c.UID != 0 {
		return true
	}
	return mayAccess(a, c, want)
}

// accessBits computes the ACCESS3 result (RFC 1813 §3.3.4) for the requested bits.
func accessBits(a *graph.Iatt, c *graph.Creds, req uint32, readOnly bool) uint32 {
	var got uint32
	if a.IsDir() {
		if mayAccess(a, c, permR) {
			got |= AccessRead
		}
		if mayAccess(a, c, permX) {
			got |= AccessLookup
		}
		if !readOnly && mayAccess(a, c, permW|permX) {
			got |= AccessModify | AccessExtend | AccessDelete
		}
	} else {
		if mayAccess(a, c, permR) {
			got |= AccessRead
		}
		if !readOnly && mayAccess(a, c, permW) {
			got |= AccessModify | AccessExtend
		}
		if mayAccess(a, c, permX) {
			got |= AccessExecute
		}
	}
	return got & req
}

// mayDelete reports whether c may remove or rename the entry with attributes child in directory
// dir: write and search on dir, and with the sticky bit set, ownership of dir or child (or root).
func mayDelete(dir, child *graph.Iatt, c *graph.Creds) bool {
	if !mayAccess(dir, c, permW|permX) {
		return false
	}
	if dir.Mode&unix.S_ISVTX != 0 && c.UID != 0 && c.UID != dir.UID && c.UID != child.UID {
		return false
	}
	return true
}
