package main

import (
	"strings"
	"testing"
)

func TestCheckTargetsLifecycleThresholds(t *testing.T) {
	st := func(m float64) Stat { return summarize([]float64{m}) }
	res := &results{
		Latency: map[string]map[string]Stat{
			"stasis": {figCSKD: st(7), figRun: st(8), figExec: st(7)},
			"runc":   {figCSKD: st(10), figRun: st(10), figExec: st(10)},
		},
		RSS: map[string]map[string]Stat{
			"stasis": {rssCreate: st(9), rssRun: st(11)},
			"runc":   {rssCreate: st(9), rssRun: st(10)},
		},
	}
	res.checkTargets()
	met := map[string]bool{}
	for _, tg := range res.Targets {
		met[strings.SplitN(tg.What, " ≤", 2)[0]] = tg.Met
	}
	want := map[string]bool{figCSKD: true, figRun: false, figExec: true, rssCreate: true, rssRun: false}
	for k, v := range want {
		got, ok := met[k]
		if !ok || got != v {
			t.Errorf("%s: met=%v (present %v), want %v; targets %+v", k, got, ok, v, res.Targets)
		}
	}
}

func TestFrozenTargets(t *testing.T) {
	st := func(m float64) Stat { return summarize([]float64{m}) }
	res := &results{CR: []crRow{
		{SizeMiB: 0, Runner: "criu", Checkpoint: st(30), CRIUFrozen: st(20)},
		{SizeMiB: 0, Runner: "stasis", Checkpoint: st(50), CRIUFrozen: st(35)},
		{SizeMiB: 256, Runner: "criu", Checkpoint: st(200), CRIUFrozen: st(190)},
		{SizeMiB: 256, Runner: "stasis", Checkpoint: st(260), CRIUFrozen: st(195)},
	}}
	res.frozenTargets()
	got := map[string]bool{}
	for _, tg := range res.Targets {
		got[tg.What] = tg.Met
	}
	// 195 ms > 40 ms misses; 35-30 and 195-200 are within +10 ms.
	if got["stasis frozen time ≤ 40 ms at every size"] {
		t.Error("40 ms target should be missed at 256 MiB")
	}
	if !got["stasis frozen time ≤ raw CRIU total dump + 10 ms at every size"] {
		t.Errorf("relative target should be met: %+v", res.Targets)
	}
}
