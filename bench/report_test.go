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
