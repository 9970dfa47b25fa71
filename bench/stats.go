package main

import (
	"math"
	"sort"
)

// Stat summarises the samples of one figure: the median is the number the
// tables and charts show; min and max show the spread.
type Stat struct {
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	N       int       `json:"n"`
	Samples []float64 `json:"samples"`
}

func summarize(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s), Samples: xs}
}

// valid reports whether the figure was measured at all.
func (s Stat) valid() bool { return s.N > 0 && !math.IsNaN(s.Median) }
