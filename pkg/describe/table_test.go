package describe

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTableKeepsV0Layout pins the layout of tablewriter v0.0.5 that table keeps on v1; the
// expected text is what v0.0.5 printed for these rows.
func TestTableKeepsV0Layout(t *testing.T) {
	s := &Summary{Versions: []string{"v1.2_x", "b"}}
	var b strings.Builder
	s.table(&b, "Metric", [][]string{
		// Wrapped at 30 with minimal raggedness, not greedily ("first-fourteen a" would
		// fit the first line), and the column 30 wide although no line is.
		{"first-fourteen a other-fourteen seventeen-letters", "12.250", "unavailable"},
		// Aligned line by line: a number right, text left, in the same column and even in
		// the same cell, whose line break is reflowed; the first column is all left.
		{"2000.000", "unavailable\n2000.000", "-3"},
		// Only plain decimals count as numbers; a tab is printed and counted as nothing.
		{"a\tb", "50%", "1e5"},
	})
	want := strings.Join([]string{
		"+--------------------------------+-------------+-------------+",
		"|             METRIC             |   V1.2_X    |      B      |",
		"+--------------------------------+-------------+-------------+",
		"| first-fourteen                 |      12.250 | unavailable |",
		"| a other-fourteen               |             |             |",
		"| seventeen-letters              |             |             |",
		"+--------------------------------+-------------+-------------+",
		"| 2000.000                       | unavailable |          -3 |",
		"|                                |    2000.000 |             |",
		"+--------------------------------+-------------+-------------+",
		"| a\tb                             | 50%         | 1e5         |",
		"+--------------------------------+-------------+-------------+",
		"",
	}, "\n")
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestWrapCell(t *testing.T) {
	for _, tc := range []struct {
		cell  string
		lines []string
		width int
	}{
		{"", []string{""}, 0},
		{"true", []string{"true"}, 4},
		// A line break is a space once the cell is reflowed, and the cell is wrapped
		// at the width of its widest line.
		{"ab\ncd", []string{"ab", "cd"}, 2},
		{"a b\ncd", []string{"a b", "cd"}, 3},
		// Spaces are kept between words, and at the ends.
		{" a  b ", []string{" a  b "}, 6},
		// A word wider than 30 is a line of its own, and the column's width.
		{"x " + strings.Repeat("y", 35) + " z", []string{"x", strings.Repeat("y", 35), "z"}, 35},
		{"95th-percentile-tail-latency <= 100.000", []string{"95th-percentile-tail-latency", "<= 100.000"}, 30},
	} {
		lines, width := wrapCell(tc.cell)
		if diff := cmp.Diff(tc.lines, lines); diff != "" || width != tc.width {
			t.Errorf("wrapCell(%q) = %q, %d; want %q, %d", tc.cell, lines, width, tc.lines, tc.width)
		}
	}
}
