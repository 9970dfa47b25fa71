package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Latency figures, in the order the tables and the bar chart show them.
const (
	figRun    = "run /bin/true"
	figCreate = "create"
	figStart  = "start"
	figState  = "state"
	figExec   = "exec /bin/true"
	figKill   = "kill"
	figDelete = "delete"
	figCSKD   = "create+start+kill+delete"
	figAll5   = "create+start+state+kill+delete"
)

var latencyFigures = []string{figRun, figCreate, figStart, figState, figKill, figDelete, figCSKD, figAll5, figExec}

// RSS figures (MiB).
const (
	rssCreate = "peak RSS of create"
	rssRun    = "peak RSS of run /bin/true"
)

var rssFigures = []string{rssCreate, rssRun}

// samples collects one runtime's measurements, figure by figure.
type samples map[string][]float64

func (s samples) add(fig string, v float64) { s[fig] = append(s[fig], v) }

// lifecycleOnce measures one round for runtime r:
//
//   - run of the true bundle in the foreground (the runtime creates,
//     starts, waits for and deletes the container);
//   - create, start, state, exec of true, kill -KILL and delete of a
//     container whose process is `sleep 1000`. Between kill and delete the
//     bench reaps the container's init (it is the bench's child: the bench
//     is a subreaper), untimed, since delete refuses a running container.
func lifecycleOnce(ctx context.Context, r *runtime, b *bundles, iter int, lat, rss samples) error {
	id := fmt.Sprintf("sb%d-%s-%d", os.Getpid(), r.Name, iter)

	o, err := r.run(ctx, stdio{}, "run", "--bundle", b.trueB, id+"-run")
	if err != nil {
		_ = r.remove(ctx, id+"-run")
		return err
	}
	lat.add(figRun, o.ms())
	rss.add(rssRun, float64(o.MaxRSS)/1024)

	p, err := newPipes()
	if err != nil {
		return err
	}
	defer p.close()
	ok := false
	defer func() {
		if !ok {
			_ = r.remove(context.Background(), id)
		}
	}()
	create, err := r.run(ctx, p.stdio(), "create", "--bundle", b.sleepB, id)
	p.closeChild()
	if err != nil {
		return fmt.Errorf("%v %s", err, p.stderr())
	}
	start, err := r.run(ctx, stdio{}, "start", id)
	if err != nil {
		return err
	}
	st, state, err := r.state(ctx, id)
	if err != nil {
		return err
	}
	if st.Status != "running" || st.Pid <= 0 {
		return fmt.Errorf("%s: container %s is %q (pid %d) after start", r.Name, id, st.Status, st.Pid)
	}
	exe, err := r.run(ctx, stdio{}, "exec", id, "true")
	if err != nil {
		return err
	}
	kill, err := r.run(ctx, stdio{}, "kill", id, "KILL")
	if err != nil {
		return err
	}
	if err := reap(st.Pid, 10*time.Second); err != nil {
		return fmt.Errorf("%s: %v", r.Name, err)
	}
	del, err := r.run(ctx, stdio{}, "delete", id)
	if err != nil {
		return err
	}
	ok = true

	lat.add(figCreate, create.ms())
	lat.add(figStart, start.ms())
	lat.add(figState, state.ms())
	lat.add(figExec, exe.ms())
	lat.add(figKill, kill.ms())
	lat.add(figDelete, del.ms())
	lat.add(figCSKD, create.ms()+start.ms()+kill.ms()+del.ms())
	lat.add(figAll5, create.ms()+start.ms()+state.ms()+kill.ms()+del.ms())
	rss.add(rssCreate, float64(create.MaxRSS)/1024)
	return nil
}

// runLifecycle interleaves the runtimes (A B A B ...) for warmup+n rounds
// and keeps the last n.
func runLifecycle(ctx context.Context, cfg *config, rts []*runtime, b *bundles) (map[string]samples, map[string]samples, error) {
	lat := map[string]samples{}
	rss := map[string]samples{}
	for _, r := range rts {
		lat[r.Name], rss[r.Name] = samples{}, samples{}
	}
	total := cfg.warmup + cfg.n
	for i := 0; i < total; i++ {
		for _, r := range rts {
			if ctx.Err() != nil {
				return nil, nil, errInterrupted
			}
			l, m := lat[r.Name], rss[r.Name]
			if i < cfg.warmup {
				l, m = samples{}, samples{}
			}
			if err := lifecycleOnce(ctx, r, b, i, l, m); err != nil {
				if ctx.Err() != nil {
					return nil, nil, errInterrupted
				}
				return nil, nil, err
			}
		}
		progress("lifecycle: round %d/%d", i+1, total)
	}
	return lat, rss, nil
}
