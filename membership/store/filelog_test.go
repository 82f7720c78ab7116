package store

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func mkLogs(from, to uint64, term uint64) []*raft.Log {
	var ls []*raft.Log
	for i := from; i <= to; i++ {
		ls = append(ls, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("entry-%d", i)), AppendedAt: time.Unix(100, int64(i))})
	}
	return ls
}

func checkRange(t *testing.T, l *FileLog, first, last uint64) {
	t.Helper()
	f, _ := l.FirstIndex()
	z, _ := l.LastIndex()
	if f != first || z != last {
		t.Fatalf("range = [%d, %d], want [%d, %d]", f, z, first, last)
	}
	for i := first; i <= last && i != 0; i++ {
		var lg raft.Log
		if err := l.GetLog(i, &lg); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if lg.Index != i || string(lg.Data) != fmt.Sprintf("entry-%d", i) || lg.AppendedAt.UnixNano() != time.Unix(100, int64(i)).UnixNano() {
			t.Fatalf("GetLog(%d) = %+v", i, lg)
		}
	}
}

func TestFileLogPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, l, 0, 0)
	if err := l.StoreLogs(mkLogs(1, 10, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRange(1, 3); err != nil {
		t.Fatal(err)
	}
	if err := l.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := l.Set([]byte("LastVoteCand"), []byte("node-a")); err != nil {
		t.Fatal(err)
	}
	var lg raft.Log
	if err := l.GetLog(2, &lg); err != raft.ErrLogNotFound {
		t.Fatalf("deleted entry: err = %v", err)
	}
	l.Close()

	l, err = OpenFileLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkRange(t, l, 4, 10)
	if v, _ := l.GetUint64([]byte("CurrentTerm")); v != 7 {
		t.Fatalf("CurrentTerm = %d", v)
	}
	if v, err := l.Get([]byte("LastVoteCand")); err != nil || string(v) != "node-a" {
		t.Fatalf("LastVoteCand = %q, %v", v, err)
	}
	if _, err := l.Get([]byte("missing")); err == nil {
		t.Fatal("missing key: no error")
	}
	if v, err := l.GetUint64([]byte("missing")); v != 0 || err != nil {
		t.Fatalf("missing uint64 = %d, %v", v, err)
	}
	// Suffix truncation (a follower dropping conflicting entries), then new entries.
	if err := l.DeleteRange(8, 10); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs(mkLogs(8, 12, 2)); err != nil {
		t.Fatal(err)
	}
	checkRange(t, l, 4, 12)
	if err := l.GetLog(9, &lg); err != nil || lg.Term != 2 {
		t.Fatalf("rewritten entry 9: %+v %v", lg, err)
	}
}

func TestFileLogTornTail(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs(mkLogs(1, 5, 1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	path := filepath.Join(dir, "raft.log")
	b, _ := os.ReadFile(path)
	for _, cut := range []int{1, 5, 9, len(b) / 10} {
		if err := os.WriteFile(path, b[:len(b)-cut], 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := OpenFileLog(dir)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		checkRange(t, l, 1, 4)
		// The file was truncated to the last whole record: appending works.
		if err := l.StoreLogs(mkLogs(5, 5, 1)); err != nil {
			t.Fatal(err)
		}
		l.Close()
		l, err = OpenFileLog(dir)
		if err != nil {
			t.Fatal(err)
		}
		checkRange(t, l, 1, 5)
		l.Close()
	}
	// Damage in the middle is reported, not skipped.
	b, _ = os.ReadFile(path)
	b[20] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileLog(dir); err == nil {
		t.Fatal("corrupt middle record: no error")
	}
}

func TestFileLogCompaction(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenFileLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 30; i++ {
		if err := l.StoreLogs(mkLogs(i*100+1, i*100+100, 1)); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := l.DeleteRange(1, i*100-5); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, _ := os.Stat(filepath.Join(dir, "raft.log"))
	checkRange(t, l, 2896, 3000)
	l.Close()
	if st.Size() > 80000 { // uncompacted: about 135 kB
		t.Fatalf("log file is %d bytes after compaction", st.Size())
	}
	l, err = OpenFileLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkRange(t, l, 2896, 3000)
}

func TestFileLogRejectsGarbage(t *testing.T) {
	dir := t.TempDir()
	garbage := bytes.Repeat([]byte{0x00, 0x00, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef}, 1000)
	if err := os.WriteFile(filepath.Join(dir, "raft.log"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileLog(dir); err == nil {
		t.Fatal("garbage log: no error")
	}
	if err := os.WriteFile(filepath.Join(dir, "raft.log"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stable.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileLog(dir); err == nil {
		t.Fatal("garbage stable store: no error")
	}
}

// TestFileLogUnderRaft runs a single-node raft on the file log, applies commands, restarts it
// from the same directory and checks the state is rebuilt.
func TestFileLogUnderRaft(t *testing.T) {
	dir := t.TempDir()
	start := func() (*raft.Raft, *FSM, *FileLog) {
		l, err := OpenFileLog(filepath.Join(dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		addr, tr := raft.NewInmemTransport("n1")
		cfg := TestRaftConfig("n1")
		fsm := NewFSM()
		r, err := raft.NewRaft(cfg, fsm, l, l, snaps, tr)
		if err != nil {
			t.Fatal(err)
		}
		has, _ := raft.HasExistingState(l, l, snaps)
		if !has {
			t.Fatal("state vanished")
		}
		_ = addr
		return r, fsm, l
	}
	{
		l, err := OpenFileLog(filepath.Join(dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		snaps, _ := raft.NewFileSnapshotStore(dir, 2, io.Discard)
		if err := raft.BootstrapCluster(TestRaftConfig("n1"), l, l, snaps, nil, raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: "n1"}}}); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	r, fsm, l := start()
	waitLeader(t, r)
	apply(t, r, &Command{Op: OpInit, ClusterID: "c1", Secret: "0123456789abcdef0123456789abcdef", Peer: &Peer{ID: "n1", Address: "127.0.0.1"}})
	apply(t, r, &Command{Op: OpVolumeCreate, Volume: &Volume{Name: "v", ID: "id", Replica: 1, Bricks: []Brick{{PeerID: "n1", Host: "127.0.0.1", Path: "/b1"}}}})
	if err := r.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	apply(t, r, &Command{Op: OpVolumeStart, Name: "v"})
	if err := r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	st, _ := fsm.State()
	if st.Volumes["v"].Status != StatusStarted {
		t.Fatalf("before restart: %+v", st.Volumes["v"])
	}

	r, fsm, l = start()
	defer l.Close()
	defer r.Shutdown()
	waitLeader(t, r)
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := fsm.State()
		if v := st.Volumes["v"]; v != nil && v.Status == StatusStarted && v.Bricks[0].Port == DefaultBrickPortBase {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state not rebuilt after restart: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitLeader(t *testing.T, r *raft.Raft) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.State() != raft.Leader {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func apply(t *testing.T, r *raft.Raft, c *Command) {
	t.Helper()
	res, err := Apply(r, c, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", c.Op, err)
	}
	_ = res
}
