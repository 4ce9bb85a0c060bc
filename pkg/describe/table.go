package describe

import (
	"bytes"
	"io"
	"math"
	"regexp"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// The tables of describe keep the layout that tablewriter v0.0.5 gave them, which the seed
// tutorial and the golden files show. Tablewriter v1 lays cells out otherwise: it wraps
// each line of a cell on its own at a fixed width, collapsing runs of spaces, where v0
// joined the lines and wrapped them at the widest one's width (at most 30); and it aligns
// a column as a whole, where v0 aligned each line of a cell by whether it reads as a
// number. So the cells are laid out here as v0 laid them out, wrapped, measured and padded
// to their column's width, and tablewriter only draws the borders around lines that already
// fill their columns.

// wrapWidth is the width at which v0 wrapped a cell's text (its MAX_ROW_WIDTH).
const wrapWidth = 30

// decimal is v0's test of a line that reads as a number, which it aligned right.
var decimal = regexp.MustCompile(`^-?(?:\d{1,3}(?:,\d{3})*|\d+)(?:\.\d+)?$`)

// tabStandIn takes the place of a tab while tablewriter draws the table: v1 would expand
// a tab to a width it guesses from the environment and the working directory's
// .editorconfig, where v0 printed the tab and counted it as nothing. Cells are escaped
// before the layout, so no NUL is in them.
const tabStandIn = "\x00"

// textWidth is the width of s in a terminal, as tablewriter measures it, less its tabs,
// which v0 counted as nothing.
func textWidth(s string) int {
	return twwidth.Width(strings.ReplaceAll(s, "\t", ""))
}

// renderTable writes header and rows as tablewriter v0.0.5 did with row lines, headers
// not reformatted and centred, the first column aligned left and the others aligned line
// by line: right where the line reads as a number, left otherwise.
func renderTable(w io.Writer, header []string, rows [][]string) error {
	cells := make([][][]string, 0, len(rows)+1) // the header, then the rows: each cell's lines
	widths := map[int]int{}
	heights := make([]int, 0, len(rows)+1)
	for _, row := range append([][]string{header}, rows...) {
		laid := make([][]string, len(row))
		height := 0
		for col, cell := range row {
			lines, width := wrapCell(cell)
			laid[col] = lines
			widths[col] = max(widths[col], width)
			height = max(height, len(lines))
		}
		cells = append(cells, laid)
		heights = append(heights, height)
	}

	// Every line of every cell is padded to its column's width here, so that tablewriter
	// has nothing left to wrap, trim or align. A cell with fewer lines than its row gets
	// blank ones as wide as the column (v0's were two spaces wide even in a column 0 or 1
	// wide, which pushed the border out of line).
	padded := make([][]string, len(cells))
	for r, row := range cells {
		padded[r] = make([]string, len(row))
		for col, lines := range row {
			out := make([]string, heights[r])
			for i := range out {
				line := ""
				if i < len(lines) {
					line = lines[i]
				}
				switch {
				case r == 0:
					line = padCenter(line, widths[col])
				case col > 0 && decimal.MatchString(strings.TrimSpace(line)):
					line = padLeft(line, widths[col])
				default:
					line = padRight(line, widths[col])
				}
				out[i] = strings.ReplaceAll(line, "\t", tabStandIn)
			}
			padded[r][col] = strings.Join(out, "\n")
		}
	}

	var b bytes.Buffer
	t := tablewriter.NewTable(&b,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Symbols: tw.NewSymbols(tw.StyleASCII),
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenRows: tw.On},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithTrimSpace(tw.Off),
		tablewriter.WithTrimLine(tw.Off),
	)
	t.Header(padded[0])
	if err := t.Bulk(padded[1:]); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	_, err := io.WriteString(w, strings.ReplaceAll(b.String(), tabStandIn, "\t"))
	return err
}

// wrapCell lays out a cell as v0 did: its lines joined into one paragraph and wrapped at the
// width of its widest line, at most wrapWidth, or at that of its widest word when wider.
// It returns the lines and the width the cell claims for its column, which is at least
// that at which it was wrapped even where every line came out narrower.
func wrapCell(cell string) ([]string, int) {
	width := 0
	for _, line := range strings.Split(cell, "\n") {
		width = max(width, textWidth(line))
	}
	width = min(width, wrapWidth)

	words := strings.Split(strings.ReplaceAll(cell, "\n", " "), " ")
	limit := width
	for _, word := range words {
		limit = max(limit, textWidth(word))
	}
	var lines []string
	for _, line := range wrapWords(words, 1, limit, 1e5) {
		text := strings.Join(line, " ")
		lines = append(lines, text)
		width = max(width, textWidth(text))
	}
	return lines, width
}

// wrapWords is v0's WrapWords: it splits words into lines with minimal raggedness, the sum
// over the lines of the square of what each lacks of lim, spc being the width between two
// words and pen the penalty of a line longer than lim (a single word wider than lim).
func wrapWords(words []string, spc, lim, pen int) [][]string {
	n := len(words)

	length := make([][]int, n)
	for i := 0; i < n; i++ {
		length[i] = make([]int, n)
		length[i][i] = textWidth(words[i])
		for j := i + 1; j < n; j++ {
			length[i][j] = length[i][j-1] + spc + textWidth(words[j])
		}
	}
	nbrk := make([]int, n)
	cost := make([]int, n)
	for i := range cost {
		cost[i] = math.MaxInt32
	}
	for i := n - 1; i >= 0; i-- {
		if length[i][n-1] <= lim {
			cost[i] = 0
			nbrk[i] = n
		} else {
			for j := i + 1; j < n; j++ {
				d := lim - length[i][j-1]
				c := d*d + cost[j]
				if length[i][j-1] > lim {
					c += pen
				}
				if c < cost[i] {
					cost[i] = c
					nbrk[i] = j
				}
			}
		}
	}
	var lines [][]string
	for i := 0; i < n; i = nbrk[i] {
		lines = append(lines, words[i:nbrk[i]])
	}
	return lines
}

// padLeft, padRight and padCenter pad s with spaces to width, s at the right, at the left,
// or in the middle with the odd space at the right.
func padLeft(s string, width int) string {
	return strings.Repeat(" ", max(width-textWidth(s), 0)) + s
}

func padRight(s string, width int) string {
	return s + strings.Repeat(" ", max(width-textWidth(s), 0))
}

func padCenter(s string, width int) string {
	gap := max(width-textWidth(s), 0)
	return strings.Repeat(" ", gap/2) + s + strings.Repeat(" ", gap-gap/2)
}
