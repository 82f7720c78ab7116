package posix

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Permission checks. GlusterFS's posix switches the thread's fsuid/fsgid to the caller's
// (SET_FS_ID in posix-entry-ops.c and posix-inode-fd-ops.c) and lets the kernel check; Go
// cannot pin a goroutine's fsuid safely, so the same POSIX rules are applied here explicitly
// for callers other than root. Root (uid 0) skips them, as the kernel's CAP_DAC_OVERRIDE does.

// isRoot reports whether the caller is root (the default when no creds are in ctx).
func isRoot(ctx context.Context) bool { return graph.CredsFrom(ctx).UID == 0 }

// need fails with EACCES unless the caller has mask on st.
func need(ctx context.Context, st *graph.Iatt, mask uint32, what string) error {
	if isRoot(ctx) {
		return nil
	}
	if !permits(graph.CredsFrom(ctx), st, mask) {
		return graph.Errorf(unix.EACCES, "posix: %s", what)
	}
	return nil
}

// needSticky applies the sticky-bit rule to removing or replacing victim in parent.
func (p *Posix) needSticky(ctx context.Context, e entry, victim *unix.Stat_t) error {
	if isRoot(ctx) {
		return nil
	}
	st, err := p.statKnown(e.parentRel, e.parent)
	if err != nil {
		return err
	}
	uid := graph.CredsFrom(ctx).UID
	if st.Mode&unix.S_ISVTX != 0 && uid != st.UID && uid != victim.Uid {
		return graph.Errorf(unix.EPERM, "posix: %s: sticky directory", e.rel)
	}
	return nil
}

// accessMask is the permission an open(2) with flags needs.
func accessMask(flags int) uint32 {
	var m uint32
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		m = unix.R_OK
	case unix.O_WRONLY:
		m = unix.W_OK
	default:
		m = unix.R_OK | unix.W_OK
	}
	if flags&unix.O_TRUNC != 0 {
		m |= unix.W_OK
	}
	return m
}

// needSetattr checks what setattr may change (chmod(2), chown(2), utimensat(2), truncate(2) rules).
func needSetattr(ctx context.Context, cur *graph.Iatt, in *graph.Iatt, valid uint32) error {
	if isRoot(ctx) {
		return nil
	}
	c := graph.CredsFrom(ctx)
	owner := c.UID == cur.UID
	if valid&graph.SetAttrMode != 0 && !owner {
		return graph.Errorf(unix.EPERM, "posix: chmod: not the owner")
	}
	if valid&graph.SetAttrUID != 0 && in.UID != cur.UID {
		return graph.Errorf(unix.EPERM, "posix: chown: only root changes the owner")
	}
	if valid&graph.SetAttrUID != 0 && !owner {
		return graph.Errorf(unix.EPERM, "posix: chown: not the owner")
	}
	if valid&graph.SetAttrGID != 0 && in.GID != cur.GID && (!owner || !c.InGroup(in.GID)) {
		return graph.Errorf(unix.EPERM, "posix: chgrp: not the owner or not a member of the group")
	}
	explicit := (valid&graph.SetAttrAtime != 0 && valid&graph.SetAttrAtimeNow == 0) ||
		(valid&graph.SetAttrMtime != 0 && valid&graph.SetAttrMtimeNow == 0)
	if explicit && !owner {
		return graph.Errorf(unix.EPERM, "posix: utimes: not the owner")
	}
	if !explicit && valid&(graph.SetAttrAtimeNow|graph.SetAttrMtimeNow) != 0 && !owner && !permits(c, cur, unix.W_OK) {
		return graph.Errorf(unix.EACCES, "posix: utimes: no write permission")
	}
	if valid&graph.SetAttrSize != 0 && !permits(c, cur, unix.W_OK) {
		return graph.Errorf(unix.EACCES, "posix: truncate: no write permission")
	}
	return nil
}

// needRel checks mask on the file at rel (only for callers other than root).
func (p *Posix) needRel(ctx context.Context, rel string, mask uint32, what string) error {
	if isRoot(ctx) {
		return nil
	}
	st, err := p.statRel(rel)
	if err != nil {
		return err
	}
	return need(ctx, &st, mask, what)
}

// needXattrWrite: trusted.* needs root (CAP_SYS_ADMIN), user.* write permission.
func (p *Posix) needXattrWrite(ctx context.Context, rel string, names []string) error {
	if isRoot(ctx) {
		return nil
	}
	for _, n := range names {
		if !hasPrefix(n, "user.") {
			return graph.Errorf(unix.EPERM, "posix: xattr %s needs root", n)
		}
	}
	return p.needRel(ctx, rel, unix.W_OK, "no write permission on "+rel)
}
