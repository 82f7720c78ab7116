package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
)

// Task state on disk: one JSON file per volume under STATE/tasks, the latest task this daemon
// ran for it.

// resumeWindow bounds how long a restarted daemon tries to resume an interrupted task (its
// bricks may still be starting).
var resumeWindow = 2 * time.Minute

func (d *Daemon) taskPath(volume string) string { return d.path("tasks", volume+".json") }

// saveTask writes a task's status to the state directory.
func (d *Daemon) saveTask(s api.TaskStatus) {
	b, _ := json.MarshalIndent(s, "", "  ")
	err := os.MkdirAll(d.path("tasks"), 0o700)
	if err == nil {
		err = store.WriteFileAtomic(d.taskPath(s.Volume), append(b, '\n'), 0o600)
	}
	if err != nil {
		d.log.Warn("saving task status", zap.String("volume", s.Volume), zap.Error(err))
	}
}

// finishedTask is a task known only from its saved status.
func finishedTask(s api.TaskStatus, save func(api.TaskStatus)) *task {
	t := &task{st: s, cancel: func() {}, done: make(chan struct{}), save: save}
	close(t.done)
	return t
}

// loadTasks reads the saved tasks (called at start, before the API serves). A task saved as
// running was interrupted by the restart: it is shown as running ("interrupted ...; resuming")
// by a placeholder that resumeTasks replaces with the resumed task, or turns into a failed one.
func (d *Daemon) loadTasks() []*task {
	ents, err := os.ReadDir(d.path("tasks"))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.log.Warn("reading saved tasks", zap.Error(err))
		}
		return nil
	}
	st, _ := d.fsm.State()
	var interrupted []*task
	d.tasksMu.Lock()
	defer d.tasksMu.Unlock()
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.path("tasks"), e.Name()))
		var s api.TaskStatus
		if err == nil {
			err = json.Unmarshal(b, &s)
		}
		if err != nil || s.Volume != name || s.Kind == "" {
			d.log.Warn("ignoring a damaged saved task", zap.String("file", e.Name()), zap.Error(err))
			continue
		}
		if st.Volumes[name] == nil {
			_ = os.Remove(filepath.Join(d.path("tasks"), e.Name())) // the volume was deleted
			continue
		}
		s.Node = d.cfg.Advertise
		if s.State != api.TaskRunning {
			d.tasks[name] = finishedTask(s, d.saveTask)
			continue
		}
		s.Error, s.Current = "interrupted by a restart of its daemon; resuming", ""
		ctx, cancel := context.WithCancel(d.ctx)
		t := &task{st: s, cancel: cancel, done: make(chan struct{}), save: d.saveTask, placeholder: ctx}
		d.tasks[name] = t
		interrupted = append(interrupted, t)
	}
	return interrupted
}

// resumeTasks starts the interrupted tasks again, each in the background, retrying while the
// volume's bricks come up; a task that cannot be resumed is marked failed, with the reason (or
// stopped, when stopped meanwhile).
func (d *Daemon) resumeTasks(ts []*task) {
	for _, t := range ts {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer close(t.done)
			defer t.cancel()
			s := t.status()
			err := d.resumeTask(t.placeholder, s)
			if err == nil {
				return
			}
			t.mu.Lock()
			t.st.Ended = time.Now().UTC()
			if t.placeholder.Err() != nil && d.ctx.Err() == nil {
				t.st.State, t.st.Error = api.TaskStopped, "stopped"
			} else {
				t.st.State = api.TaskFailed
				t.st.Error = fmt.Sprintf("interrupted by a restart of its daemon; not resumed: %v (run start again)", err)
			}
			t.mu.Unlock()
			if d.ctx.Err() == nil {
				t.persist(true)
			}
			d.log.Warn("interrupted task not resumed", zap.String("volume", s.Volume), zap.String("kind", s.Kind), zap.Error(err))
		}()
	}
}

// resumeTask starts the task s describes again (ctx: the placeholder's).
func (d *Daemon) resumeTask(ctx context.Context, s api.TaskStatus) error {
	deadline := time.Now().Add(resumeWindow)
	for {
		_, v, err := d.volume(s.Volume)
		if err != nil {
			return err
		}
		if v.Status != store.StatusStarted {
			return fmt.Errorf("volume %s is not started", s.Volume)
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		switch s.Kind {
		case "rebalance":
			if v.RemoveBrick != nil {
				cancel()
				return errors.New("a remove-brick was started since")
			}
			st, _ := d.fsm.State()
			_, err = d.startRebalance(actx, st, v, s.Resumed+1)
		case "remove-brick":
			if v.RemoveBrick == nil || strings.Join(v.RemoveBrick.Bricks, " ") != strings.Join(s.Bricks, " ") {
				cancel()
				return errors.New("the remove-brick was stopped or committed since")
			}
			_, err = d.startRemoveBrick(actx, s.Volume, s.Resumed+1)
		default:
			err = fmt.Errorf("unknown task kind %q", s.Kind)
		}
		cancel()
		if err == nil {
			d.log.Info("interrupted task resumed", zap.String("volume", s.Volume), zap.String("kind", s.Kind))
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
