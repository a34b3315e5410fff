// Package figures holds what the benchmark table commands share: the
// median of a benchmark's runs and the way a figure is written.
package figures

import (
	"slices"
	"strconv"
	"strings"
)

// Median returns the median of xs (the mean of the two middle values for
// an even count); xs is not changed.
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// Number formats v with thousands separators, with one decimal below 100.
func Number(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	if v < 100 {
		s = strconv.FormatFloat(v, 'f', 1, 64)
	}
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}
