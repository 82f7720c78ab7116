package replicate

import (
	"context"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// ignorableXattr reports xattrs metadata heal neither copies nor removes: AFR's changelog, the
// GFID and GlusterFS/Weft brick bookkeeping (afr_is_xattr_ignorable).
func ignorableXattr(k string) bool {
	return strings.HasPrefix(k, XattrPrefix) || k == "trusted.gfid" || strings.HasPrefix(k, "trusted.glusterfs.") ||
		strings.HasPrefix(k, "trusted.weft") || strings.HasPrefix(k, "trusted.ec.")
}

func filterXattrs(x graph.Xdata) graph.Xdata {
	out := graph.Xdata{}
	for k, v := range x {
		if !ignorableXattr(k) {
			out[k] = v
		}
	}
	return out
}

// healMetadata copies mode, owner and xattrs of g from one source to the sinks (afr-self-heal-
// metadata.c: AFR_HEAL_ATTR = mode|uid|gid, then the xattrs, removing those the source lacks).
func (a *AFR) healMetadata(ctx context.Context, g graph.GFID, cs []copyInfo, sources, sinks []bool) error {
	ctx = internalCtx(ctx)
	src := -1
	for i, s := range sources {
		if s && (src < 0 || src == a.arbiter) {
			src = i
		}
	}
	if src < 0 {
		return graph.Errorf(unix.EIO, "replicate %s: metadata heal of %s: no source", a.Name(), g)
	}
	loc := &graph.Loc{GFID: g}
	sst := cs[src].st
	sx, _, err := a.kids[src].Getxattr(ctx, loc, "", nil)
	if err != nil && graph.Errno(err) != unix.ENODATA {
		return err
	}
	sx = filterXattrs(sx)
	return fanErr(sinks, func(i int) error {
		valid := graph.SetAttrUID | graph.SetAttrGID
		if !sst.IsLnk() {
			valid |= graph.SetAttrMode
		}
		st := graph.Iatt{Mode: sst.Mode, UID: sst.UID, GID: sst.GID}
		if _, err := a.kids[i].Setattr(ctx, loc, &st, valid, nil); err != nil {
			return err
		}
		have, _, err := a.kids[i].Getxattr(ctx, loc, "", nil)
		if err != nil && graph.Errno(err) != unix.ENODATA {
			return err
		}
		for k := range filterXattrs(have) {
			if _, ok := sx[k]; !ok {
				if _, err := a.kids[i].Removexattr(ctx, loc, k, nil); err != nil && graph.Errno(err) != unix.ENODATA {
					return err
				}
			}
		}
		if len(sx) > 0 {
			if _, err := a.kids[i].Setxattr(ctx, loc, sx, 0, nil); err != nil {
				return err
			}
		}
		return nil
	})
}
