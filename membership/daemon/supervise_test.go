package daemon

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestMain runs the test binary as a supervised child when WEFT_SUPERVISE_CHILD is set: it
// records "start PID CONTENT" when it starts and "hup PID CONTENT" on every SIGHUP (CONTENT:
// its --volfile's content, then each --file's) in the file WEFT_SUPERVISE_RECORD names.
func TestMain(m *testing.M) {
	if os.Getenv("WEFT_SUPERVISE_CHILD") != "" {
		supervisedChild()
		return
	}
	if os.Getenv("WEFT_FAKE_GLUSTERFSD") != "" { // a process that looks like a brick of GlusterFS
		time.Sleep(2 * time.Minute)
		return
	}
	os.Exit(m.Run())
}

func supervisedChild() {
	var files []string
	for i, a := range os.Args {
		if (a == "--volfile" || a == "--file") && i+1 < len(os.Args) {
			files = append(files, os.Args[i+1])
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	rec := func(what string) {
		var parts []string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			parts = append(parts, strings.TrimSpace(string(b)))
		}
		f, err := os.OpenFile(os.Getenv("WEFT_SUPERVISE_RECORD"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			os.Exit(3)
		}
		fmt.Fprintf(f, "%s %d %s\n", what, os.Getpid(), strings.Join(parts, "+"))
		f.Close()
	}
	rec("start")
	for {
		select {
		case <-hup:
			rec("hup")
		case <-term:
			os.Exit(0)
		}
	}
}

type record struct {
	what, content string
	pid           int
}

func readRecords(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r record
		fields := strings.SplitN(sc.Text(), " ", 3)
		if len(fields) != 3 {
			continue
		}
		r.what, r.content = fields[0], fields[2]
		fmt.Sscan(fields[1], &r.pid)
		out = append(out, r)
	}
	return out
}

// TestSupervisorReloadsInsteadOfRestarting runs real processes (this test binary as a child)
// and checks: a content change of a brick's or gateway's files is written and signalled with
// SIGHUP to the same pid; a change of arguments or restart key restarts; a self-heal daemon
// (not reloadable) restarts on a content change.
func TestSupervisorReloadsInsteadOfRestarting(t *testing.T) {
	dir := t.TempDir()
	recPath := filepath.Join(dir, "record")
	t.Setenv("WEFT_SUPERVISE_CHILD", "1")
	t.Setenv("WEFT_SUPERVISE_RECORD", recPath)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{log: zap.NewNop(), exe: exe}
	s := newSupervisor(d)
	defer s.stopAll()
	var mu sync.Mutex
	specs := map[string]spec{}
	s.want = func() (map[string]spec, error) {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]spec{}
		for k, v := range specs {
			out[k] = v
		}
		finishSpecs(out)
		return out, nil
	}
	mk := func(kind, content, extra string) spec {
		vf := filepath.Join(dir, kind+".vol")
		ef := filepath.Join(dir, "sub", kind+".extra")
		return spec{key: kind, kind: kind, volfilePath: vf, volfile: content, logPath: filepath.Join(dir, kind+".log"),
			files: map[string]string{ef: extra}, args: []string{"-test.run=^$", "--volfile", vf, "--file", ef}}
	}
	set := func(sps ...spec) {
		mu.Lock()
		for _, sp := range sps {
			specs[sp.key] = sp
		}
		mu.Unlock()
		s.reconcile()
	}
	// waitRecords waits until the record file holds n lines and returns them.
	waitRecords := func(n int) []record {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			rs := readRecords(t, recPath)
			if len(rs) >= n {
				time.Sleep(100 * time.Millisecond) // nothing more should come
				rs = readRecords(t, recPath)
				if len(rs) != n {
					t.Fatalf("want %d records, got %+v", n, rs)
				}
				return rs
			}
			if time.Now().After(deadline) {
				t.Fatalf("want %d records, got %+v", n, rs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	pidOf := func(key string) int {
		s.mu.Lock()
		p := s.proc[key]
		s.mu.Unlock()
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.pid
	}

	set(mk("brick", "v1", "e1"), mk("shd", "s1", "x"))
	rs := waitRecords(2)
	byKind := map[string]record{}
	for _, r := range rs {
		if r.pid == pidOf("brick") {
			byKind["brick"] = r
		} else {
			byKind["shd"] = r
		}
	}
	if byKind["brick"].content != "v1+e1" || byKind["shd"].content != "s1+x" {
		t.Fatalf("first starts: %+v", rs)
	}
	brickPid := byKind["brick"].pid

	// The brick's volfile changes: SIGHUP to the same process, which reads the new content.
	set(mk("brick", "v2", "e1"))
	rs = waitRecords(3)
	if r := rs[2]; r.what != "hup" || r.pid != brickPid || r.content != "v2+e1" {
		t.Fatalf("volfile change: want a hup of pid %d reading v2+e1, got %+v", brickPid, r)
	}
	// A further file changes: again a reload.
	set(mk("brick", "v2", "e2"))
	rs = waitRecords(4)
	if r := rs[3]; r.what != "hup" || r.pid != brickPid || r.content != "v2+e2" {
		t.Fatalf("file change: got %+v", r)
	}
	if pidOf("brick") != brickPid || s.reloads != 2 {
		t.Fatalf("pid %d (was %d), reloads %d", pidOf("brick"), brickPid, s.reloads)
	}
	// Nothing changes: nothing happens.
	s.reconcile()
	waitRecords(4)
	// A reloaded process's status follows its new spec: a gateway that now serves another set
	// of volumes is listed under them (regression: the status kept the volumes of the first start).
	g := mk("brick", "v2", "e3")
	g.volume, g.volumes = "b", []string{"b", "c"}
	set(g)
	rs = waitRecords(5)
	if r := rs[4]; r.what != "hup" || r.pid != brickPid {
		t.Fatalf("volumes change: got %+v", r)
	}
	for _, ps := range s.status().Processes {
		if ps.Pid == brickPid && (!ps.Serves("c") || ps.Volume != "b") {
			t.Fatalf("status after the reload: %+v", ps)
		}
	}

	// The self-heal daemon is not reloadable: a content change restarts it.
	shdPid := pidOf("shd")
	set(mk("shd", "s2", "x"))
	rs = waitRecords(6)
	if r := rs[5]; r.what != "start" || r.pid == shdPid || r.content != "s2+x" {
		t.Fatalf("shd change: want a new start, got %+v", r)
	}

	// A changed restart key (a brick's topology) restarts the brick.
	sp := mk("brick", "v3", "e2")
	sp.restartKey = "another topology"
	set(sp)
	rs = waitRecords(7)
	if r := rs[6]; r.what != "start" || r.pid == brickPid || r.content != "v3+e2" {
		t.Fatalf("restart key change: want a new start, got %+v", r)
	}
	if s.reloads != 3 {
		t.Fatalf("reloads %d", s.reloads)
	}
}
