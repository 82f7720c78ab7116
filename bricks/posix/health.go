package posix

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// startHealthCheck starts the health-check goroutine (posix-helpers.c
// posix_spawn_health_check_thread); an interval of 0 disables it.
func (p *Posix) startHealthCheck() {
	if p.hcInt <= 0 {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	p.hcMu.Lock()
	p.hcStop, p.hcDone = stop, done
	p.hcMu.Unlock()
	go p.healthLoop(p.hcInt, p.hcTimeout, stop, done)
}

// stopHealthCheck stops the goroutine and waits for it (a probe stuck in the kernel is
// abandoned: it holds no lock and uses no shared fd).
func (p *Posix) stopHealthCheck() {
	p.hcMu.Lock()
	stop, done := p.hcStop, p.hcDone
	p.hcStop, p.hcDone = nil, nil
	p.hcMu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

func (p *Posix) healthLoop(interval, timeout time.Duration, stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var inflight chan error // a probe that has not answered yet
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if inflight == nil {
			ch := make(chan error, 1)
			inflight = ch
			go func() { ch <- p.probe() }()
		}
		timer := time.NewTimer(timeout)
		select {
		case err := <-inflight:
			inflight = nil
			p.setHealth(err)
		case <-timer.C:
			p.setHealth(fmt.Errorf("posix: health check on %s hung for more than %v: %w", p.dir, timeout, unix.ETIMEDOUT))
		case <-stop:
			timer.Stop()
			return
		}
		timer.Stop()
	}
}

// probe writes a timestamp to .glusterfs/health_check, syncs it and reads it back
// (posix-helpers.c posix_fs_health_check). It uses the absolute path, never the brick's fd,
// so that a probe stuck past Fini touches nothing that was closed.
func (p *Posix) probe() error {
	if p.hcProbe != nil {
		return p.hcProbe()
	}
	path := p.dir + "/" + HealthCheckFile
	stamp := []byte(time.Now().UTC().Format("2006-01-02 15:04:05.000000000"))
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0644)
	if err != nil {
		return fmt.Errorf("posix: health check: open %s for write: %w", path, err)
	}
	n, err := unix.Write(fd, stamp)
	if err == nil && n != len(stamp) {
		err = unix.EIO
	}
	if err == nil {
		err = unix.Fsync(fd)
	}
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("posix: health check: write %s: %w", path, err)
	}
	fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("posix: health check: open %s for read: %w", path, err)
	}
	buf := make([]byte, 256)
	n, err = unix.Read(fd, buf)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("posix: health check: read %s: %w", path, err)
	}
	if !bytes.Equal(buf[:n], stamp) {
		return fmt.Errorf("posix: health check: %s reads back different data: %w", path, unix.EUCLEAN)
	}
	return nil
}

// setHealth records a probe's outcome: a failure takes the brick down (CHILD_DOWN, fops fail
// with ENOTCONN), a success after a failure brings it back (CHILD_UP).
func (p *Posix) setHealth(err error) {
	ctx := context.Background()
	if err != nil {
		if !p.down.Swap(true) {
			p.Logger().Error("health check failed, brick going down", zap.String("directory", p.dir), zap.Error(err))
			p.ForwardEvent(ctx, graph.EventChildDown)
		}
		return
	}
	if p.down.Swap(false) {
		p.Logger().Info("health check passed again, brick back up", zap.String("directory", p.dir))
		p.ForwardEvent(ctx, graph.EventChildUp)
	}
}

// Healthy reports whether the last health check passed (statedump and tests).
func (p *Posix) Healthy() bool { return !p.down.Load() }
