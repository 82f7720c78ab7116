package locks

import (
	"context"
	"testing"

	"github.com/weftfs/weft/graph"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"pgregory.net/rapid"
)

// modelBytes is the size of the modelled file; byte modelBytes stands for every offset from
// modelBytes to the end of the file, so "to EOF" locks are modelled exactly.
const modelBytes = 24

var modelOwners = []owner{{"c1", "A"}, {"c1", "B"}, {"c2", "A"}, {"c2", "C"}}

// byteModel is the reference: for every owner, the lock it holds on each byte (mNone, mRead,
// mWrite; F_RDLCK is 0 on Linux, so the model has its own encoding).
type byteModel map[owner]*[modelBytes + 1]int16

const (
	mNone int16 = iota
	mRead
	mWrite
)

// enc converts a lock type to the model's encoding.
func enc(typ int16) int16 {
	switch typ {
	case graph.LockRead:
		return mRead
	case graph.LockWrite:
		return mWrite
	}
	return mNone
}

func (m byteModel) conflict(o owner, typ int16, lo, hi int) bool {
	for other, bs := range m {
		if other == o {
			continue
		}
		for i := lo; i <= hi; i++ {
			if bs[i] == mWrite || (bs[i] == mRead && typ == graph.LockWrite) {
				return true
			}
		}
	}
	return false
}

// span converts a request to the modelled byte indexes [lo, hi] (hi == modelBytes: to EOF).
func span(start, n int64) (int, int) {
	if n < 0 {
		start, n = start+n, -n
	}
	if n == 0 {
		return int(start), modelBytes
	}
	return int(start), int(start + n - 1)
}

// TestPosixLocksAgainstByteModel drives random SETLK/SETLKW/GETLK/unlock/flush/disconnect
// sequences from several owners on two clients and compares every state with the byte model.
func TestPosixLocksAgainstByteModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		x, _, err := buildStack(nil, zap.NewNop())
		if err != nil {
			rt.Fatal(err)
		}
		if err := x.Init(context.Background()); err != nil {
			rt.Fatal(err)
		}
		defer x.Fini()
		g := graph.NewGFID()
		fds := []*graph.FD{newFD(g), newFD(g)}
		defer fds[0].Unref()
		defer fds[1].Unref()
		model := byteModel{}
		for _, o := range modelOwners {
			model[o] = &[modelBytes + 1]int16{}
		}
		ctxOf := func(o owner) context.Context {
			return graph.WithCreds(context.Background(), &graph.Creds{ClientID: o.client, LkOwner: []byte(o.lk), Pid: int32(o.lk[0])})
		}
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for step := range steps {
			o := rapid.SampledFrom(modelOwners).Draw(rt, "owner")
			fd := fds[rapid.IntRange(0, 1).Draw(rt, "fd")]
			start := rapid.Int64Range(0, modelBytes-1).Draw(rt, "start")
			n := rapid.Int64Range(-start, modelBytes-start).Draw(rt, "len")
			lo, hi := span(start, n)
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op <= 5: // SETLK (or SETLKW when the model says it will not block)
				typ := rapid.SampledFrom([]int16{graph.LockRead, graph.LockWrite, graph.LockUnlock}).Draw(rt, "type")
				conflict := model.conflict(o, typ, lo, hi) && typ != graph.LockUnlock
				cmd := graph.SetLk
				if !conflict && rapid.Bool().Draw(rt, "wait") {
					cmd = graph.SetLkW
				}
				_, _, err := x.Lk(ctxOf(o), fd, cmd, &graph.Flock{Type: typ, Start: start, Len: n}, nil)
				if conflict {
					if graph.Errno(err) != unix.EAGAIN {
						rt.Fatalf("step %d: %v %s [%d,%d] by %v: err %v, model says conflict", step, cmd, typeName(typ), lo, hi, o, err)
					}
					break
				}
				if err != nil {
					rt.Fatalf("step %d: %v %s [%d,%d] by %v: %v", step, cmd, typeName(typ), lo, hi, o, err)
				}
				for i := lo; i <= hi; i++ {
					model[o][i] = enc(typ)
				}
			case op <= 7: // GETLK
				typ := rapid.SampledFrom([]int16{graph.LockRead, graph.LockWrite}).Draw(rt, "type")
				got, _, err := x.Lk(ctxOf(o), fd, graph.GetLk, &graph.Flock{Type: typ, Start: start, Len: n}, nil)
				if err != nil {
					rt.Fatalf("step %d: GETLK: %v", step, err)
				}
				checkGetlk(rt, model, o, typ, lo, hi, got)
			case op == 8: // close: flush by the owner
				if _, err := x.Flush(ctxOf(o), fd, nil); err != nil {
					rt.Fatal(err)
				}
				model[o] = &[modelBytes + 1]int16{}
			default: // the client disconnects
				x.ReleaseClient(o.client)
				for other := range model {
					if other.client == o.client {
						model[other] = &[modelBytes + 1]int16{}
					}
				}
			}
			compareWithModel(rt, x, g, model, step)
		}
	})
}

func checkGetlk(rt *rapid.T, model byteModel, o owner, typ int16, lo, hi int, got graph.Flock) {
	if !model.conflict(o, typ, lo, hi) {
		if got.Type != graph.LockUnlock {
			rt.Fatalf("GETLK %s [%d,%d] by %v: reported %+v, model has no conflict", typeName(typ), lo, hi, o, got)
		}
		return
	}
	if got.Type == graph.LockUnlock {
		rt.Fatalf("GETLK %s [%d,%d] by %v: no conflict reported, model has one", typeName(typ), lo, hi, o)
	}
	glo, ghi := span(got.Start, got.Len)
	if ghi > modelBytes {
		ghi = modelBytes
	}
	if glo > hi || ghi < lo {
		rt.Fatalf("GETLK reported %+v not overlapping [%d,%d]", got, lo, hi)
	}
	if typ == graph.LockRead && got.Type != graph.LockWrite {
		rt.Fatalf("GETLK read reported a non-conflicting %+v", got)
	}
	// Some other owner with these owner bytes holds exactly this type on the whole range.
	for other, bs := range model {
		if other == o || other.lk != string(got.Owner) || int32(other.lk[0]) != got.Pid {
			continue
		}
		whole := true
		for i := glo; i <= ghi; i++ {
			if bs[i] != enc(got.Type) {
				whole = false
				break
			}
		}
		if whole {
			return
		}
	}
	rt.Fatalf("GETLK reported %+v, which no other owner holds", got)
}

// compareWithModel checks the translator's pieces expand to exactly the model's bytes, and that
// they are canonical: one owner's pieces never overlap, and same-type pieces of one owner taken
// through one FD are never adjacent (they would have been merged).
func compareWithModel(rt *rapid.T, x *Locks, g graph.GFID, model byteModel, step int) {
	have := byteModel{}
	for _, o := range modelOwners {
		have[o] = &[modelBytes + 1]int16{}
	}
	var pieces []plock
	if p := x.tab.find(g); p != nil {
		p.mu.Lock()
		for _, l := range p.posix {
			pieces = append(pieces, *l)
		}
		p.mu.Unlock()
		x.tab.put(p)
	}
	for i, l := range pieces {
		if l.end != eof && l.end >= modelBytes {
			rt.Fatalf("step %d: piece %v beyond the modelled bytes", step, &l)
		}
		hi := int(min(l.end, modelBytes))
		for b := int(l.start); b <= hi; b++ {
			if have[l.owner][b] != mNone {
				rt.Fatalf("step %d: owner %v has overlapping pieces at byte %d", step, l.owner, b)
			}
			have[l.owner][b] = enc(l.typ)
		}
		for _, m := range pieces[i+1:] {
			if m.owner == l.owner && m.typ == l.typ && m.fd == l.fd &&
				((l.end != eof && l.end+1 == m.start) || (m.end != eof && m.end+1 == l.start)) {
				rt.Fatalf("step %d: adjacent pieces not merged: %v and %v", step, &l, &m)
			}
		}
	}
	for _, o := range modelOwners {
		if *have[o] != *model[o] {
			rt.Fatalf("step %d: owner %v\n have %v\nmodel %v", step, o, fmtBytes(have[o]), fmtBytes(model[o]))
		}
	}
	if empty := len(pieces) == 0; empty && x.trackedInodes() != 0 {
		rt.Fatalf("step %d: no locks but %d inodes tracked", step, x.trackedInodes())
	}
}

func fmtBytes(bs *[modelBytes + 1]int16) string {
	s := make([]byte, len(bs))
	for i, b := range bs {
		s[i] = ".rw"[b]
	}
	return string(s)
}
