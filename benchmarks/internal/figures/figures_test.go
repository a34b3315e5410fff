package figures

import "testing"

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestNumber(t *testing.T) {
	for in, want := range map[float64]string{
		1694137: "1,694,137", 999: "999", 1000: "1,000", 12.34: "12.3", 0: "0.0",
	} {
		if got := Number(in); got != want {
			t.Errorf("Number(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestNumberAsPeertableShowsNanoseconds(t *testing.T) {
	for v, want := range map[float64]string{75.26: "75.3", 1080: "1,080", 63000: "63,000", 1234567: "1,234,567"} {
		if got := Number(v); got != want {
			t.Errorf("Number(%v) = %q, want %q", v, got, want)
		}
	}
}
