package graph

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Releaser is implemented by per-translator context values that hold resources: when the FD or
// inode they are attached to is destroyed, Release is called once.
type Releaser interface{ Release() }

// ctxSlots is the per-translator context of an inode or FD (GlusterFS's inode_ctx/fd_ctx).
type ctxSlots struct {
	mu sync.Mutex
	m  map[any]any
}

func (c *ctxSlots) get(key any) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *ctxSlots) set(key, v any) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[any]any{}
	}
	c.m[key] = v
	c.mu.Unlock()
}

func (c *ctxSlots) getOrSet(key any, mk func() any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[key]; ok {
		return v
	}
	if c.m == nil {
		c.m = map[any]any{}
	}
	v := mk()
	c.m[key] = v
	return v
}

func (c *ctxSlots) del(key any) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	delete(c.m, key)
	return v, ok
}

// releaseAll empties the slots and calls Release on values that implement Releaser, outside
// the lock.
func (c *ctxSlots) releaseAll() {
	c.mu.Lock()
	m := c.m
	c.m = nil
	c.mu.Unlock()
	for _, v := range m {
		if r, ok := v.(Releaser); ok {
			r.Release()
		}
	}
}

// Creds are the credentials of the caller of a fop (GlusterFS's frame->root uid/gid/groups/pid/
// lk_owner/client). They travel in the context.
type Creds struct {
	UID      uint32
	GID      uint32
	Groups   []uint32
	Pid      int32
	LkOwner  []byte
	ClientID string // identifies the client connection (locks are released per client)
}

type credsKey struct{}

var rootCreds = &Creds{}

// WithCreds returns a context carrying c.
func WithCreds(ctx context.Context, c *Creds) context.Context {
	return context.WithValue(ctx, credsKey{}, c)
}

// CredsFrom returns the credentials in ctx; root (uid 0, gid 0) when none.
func CredsFrom(ctx context.Context) *Creds {
	if c, ok := ctx.Value(credsKey{}).(*Creds); ok && c != nil {
		return c
	}
	return rootCreds
}

// InGroup reports whether gid is the primary or a supplementary group of c.
func (c *Creds) InGroup(gid uint32) bool {
	if c.GID == gid {
		return true
	}
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// Errno extracts the errno carried by err: 0 for nil, the wrapped unix.Errno when there is one,
// EINTR for a cancelled context, ETIMEDOUT for an expired deadline, EIO otherwise.
func Errno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) {
		return unix.EINTR
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return unix.ETIMEDOUT
	}
	return unix.EIO
}

// Errorf returns an error that wraps errno with a formatted context: "msg: errno text".
func Errorf(errno unix.Errno, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errno)
}
