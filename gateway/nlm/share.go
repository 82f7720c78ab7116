package nlm

import (
	"strings"
	"sync"
)

// shareEntry is one DOS share reservation (XNFS chapter 10, NLM_SHARE): the access the holder
// has and the access it denies others.
type shareEntry struct {
	host   string
	oh     string
	mode   uint32 // deny bits: 1 read, 2 write
	access uint32 // access bits: 1 read, 2 write
}

// shareTable holds the share reservations of this gateway. They are kept in memory: a graph
// byte-range lock cannot express "access conflicts with deny but deny does not conflict with
// deny", so reservations do not span gateways (Linux and PC-NFS clients that use them talk
// to one server address).
type shareTable struct {
	mu sync.Mutex
	m  map[fileID][]shareEntry
}

func (t *shareTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, es := range t.m {
		n += len(es)
	}
	return n
}

func (t *shareTable) dropHost(host string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for g, es := range t.m {
		kept := es[:0]
		for _, e := range es {
			if !strings.EqualFold(e.host, host) {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			delete(t.m, g)
		} else {
			t.m[g] = kept
		}
	}
}

// share is SHARE and UNSHARE (XNFS chapter 10, NLM_SHARE/NLM_UNSHARE).
func (s *Server) share(a *ShareArgs, set bool) Stat {
	if set && s.InGrace() && !a.Reclaim {
		return DeniedGracePeriod
	}
	h, err := s.cfg.Handles.Decode(a.Share.FH)
	if err != nil {
		return StaleFH
	}
	e := shareEntry{host: a.Share.CallerName, oh: string(a.Share.OH), mode: a.Share.Mode, access: a.Share.Access}
	t := &s.shares
	t.mu.Lock()
	defer t.mu.Unlock()
	id := fileID{h.Volume, h.GFID}
	es := t.m[id]
	kept := es[:0:0]
	for _, o := range es {
		if o.host == e.host && o.oh == e.oh {
			continue // the holder's own reservation is replaced (or removed)
		}
		kept = append(kept, o)
	}
	if set {
		for _, o := range kept {
			if e.access&o.mode != 0 || e.mode&o.access != 0 {
				return Denied
			}
		}
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		delete(t.m, id)
	} else {
		t.m[id] = kept
	}
	return Granted
}
