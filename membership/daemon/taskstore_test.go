package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftfs/weft/membership/api"
)

// TestTaskStatusSurvivesRestart: a task's status is saved in the state directory; after a
// restart the daemon shows the last status of a finished task, and a task that was running
// when the daemon stopped is marked interrupted and, when it cannot be resumed (here: the
// volume is not started), failed with the reason.
func TestTaskStatusSurvivesRestart(t *testing.T) {
	a := newNode(t, "a")
	a.start(t)
	bs := mkBricks(t, 2)
	for _, v := range []string{"done", "cut"} {
		if _, err := a.post("/v1/volumes/create", &api.CreateRequest{Name: v, Bricks: []string{"127.0.0.1:" + bs[0] + "/" + v}, Force: true}); err == nil {
			t.Fatal("create on a missing directory succeeded")
		}
		if err := os.Mkdir(filepath.Join(bs[0], v), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := a.post("/v1/volumes/create", &api.CreateRequest{Name: v, Bricks: []string{"127.0.0.1:" + bs[0] + "/" + v}}); err != nil {
			t.Fatal(err)
		}
	}
	// A completed rebalance, saved as startTask and finish save it.
	tk, err := a.d.startTask("done", "rebalance", nil, 0, func(ctx context.Context, t *task) error {
		t.mu.Lock()
		t.st.Scanned, t.st.Migrated = 7, 3
		t.mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-tk.done
	waitFor(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(a.d.taskPath("done"))
		return strings.Contains(string(b), `"completed"`)
	}, "the completed task saved")
	// A running one, as a daemon killed mid-task leaves it.
	a.d.saveTask(api.TaskStatus{Volume: "cut", Kind: "rebalance", State: api.TaskRunning, Scanned: 5, Started: time.Now().UTC()})
	a.stop()

	resumeWindow = time.Second
	a.start(t)
	status := func(v string) *api.TaskStatus {
		var r api.TaskReply
		if err := a.cli.Do(context.Background(), http.MethodPost, "/v1/volumes/rebalance", &api.TaskRequest{Name: v, Action: "status"}, &r); err != nil {
			t.Fatal(err)
		}
		return r.Task
	}
	if s := status("done"); s.State != api.TaskCompleted || s.Scanned != 7 || s.Migrated != 3 {
		t.Fatalf("after restart: %+v", s)
	}
	waitFor(t, 10*time.Second, func() bool {
		s := status("cut")
		return s.State == api.TaskFailed && strings.Contains(s.Error, "interrupted") && strings.Contains(s.Error, "not started")
	}, "the interrupted task marked failed, with the reason")
	if s := status("cut"); s.Scanned != 5 {
		t.Fatalf("interrupted task lost its progress: %+v", s)
	}
	waitFor(t, 5*time.Second, func() bool {
		b, err := os.ReadFile(a.d.taskPath("cut"))
		var saved api.TaskStatus
		return err == nil && json.Unmarshal(b, &saved) == nil && saved.State == api.TaskFailed && strings.Contains(saved.Error, "not resumed")
	}, "the failed resume saved")
	// A deleted volume's task is forgotten at the next start.
	if _, err := a.post("/v1/volumes/delete", &api.VolumeRequest{Name: "done"}); err != nil {
		t.Fatal(err)
	}
	a.stop()
	a.start(t)
	if _, err := os.Stat(a.d.taskPath("done")); !os.IsNotExist(err) {
		t.Fatalf("task file of a deleted volume: %v", err)
	}
}
