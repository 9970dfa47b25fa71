package cgroupmgr

import (
	"context"
	"os/exec"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRealOOMEvent(t *testing.T) {
	needRealCgroups(t)
	m, err := New("oom", "/"+randomName(t))
	if err != nil {
		t.Fatal(err)
	}
	cleanupManager(t, m)
	// tail buffers one endless line, so it grows until the OOM killer hits.
	cmd := exec.Command("sh", "-c", `read x; head -c 500000000 /dev/zero | tail -n 1 >/dev/null; exec sleep 300`)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); killWait(cmd) })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	limit := int64(16 << 20)
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := m.OOMEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("channel closed without an OOM event")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no OOM event within 20s")
	}
	cancel()
	// After cancel the channel must close.
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("channel not closed after cancel")
		}
	}
}
