package main

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	in := `goos: linux
BenchmarkQueue1to1/chan-2      	 100	       100.0 ns/op	     144 B/op	       1 allocs/op
BenchmarkQueue1to1/herald-2    	 100	       150.0 ns/op	     172 B/op	       1 allocs/op
BenchmarkQueue1to1/chan-2      	 100	       120.0 ns/op	     144 B/op	       1 allocs/op
BenchmarkQueue1to1/herald-2    	 100	       130.0 ns/op	     172 B/op	       1 allocs/op
BenchmarkQueue1to1/chan-2      	 100	        80.0 ns/op	     144 B/op	       1 allocs/op
BenchmarkQueue1to1/herald-2    	 100	       400.0 ns/op	     172 B/op	       1 allocs/op
BenchmarkLonely/herald-2       	 100	       400.0 ns/op	     172 B/op	       1 allocs/op
PASS
`
	var out strings.Builder
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	// Medians: chan 100, herald 150; ratios of the pairs 1.5, 1.08, 5.
	want := "| Queue1to1 | 100 | 150 | 1.50× | 1.08–5.00 | 1 | 1 |"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("table:\n%s\nwant a row %q", out.String(), want)
	}
	if strings.Contains(out.String(), "Lonely") {
		t.Fatal("a benchmark without a chan baseline got a row")
	}
}
