package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/describe"
)

// SVG renders the chart of one metric, named by its name or reference, as a standalone
// SVG document.
func SVG(exp *v2alpha1.Experiment, metric string) ([]byte, error) {
	f := gather(exp)
	c, err := findChart(charts(exp, f.s), metric)
	if err != nil {
		return nil, err
	}
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + metricSVG(c, f.s.CompletedIterations)), nil
}

// The layout of a chart, in SVG user units.
const (
	chartW = 760
	chartH = 280
	padL   = 70
	padR   = 190
	padT   = 16
	padB   = 44
	plotX0 = padL
	plotX1 = chartW - padR
	plotY0 = padT
	plotY1 = chartH - padB
	// missingY is where no-data and error markers sit: under the plot, above the ticks.
	missingY = plotY1 + 10
)

// palette is Okabe and Ito's colour-blind safe palette; version i gets palette[i%8], and
// from the ninth version on a dash pattern as well.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"}

func color(i int) string { return palette[i%len(palette)] }

func dash(i int) string {
	if i < len(palette) {
		return ""
	}
	return ` stroke-dasharray="6 3"`
}

// esc escapes text for SVG and HTML text and attributes.
func esc(s string) string { return html.EscapeString(s) }

// num writes a coordinate.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// formatValue is a value as the charts label it: at most 6 significant digits.
func formatValue(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// axis maps [lo, hi] onto [p0, p1].
type axis struct {
	lo, hi, p0, p1 float64
	ticks          []float64
	// decimals of the tick labels; negative: exponent form.
	decimals int
}

func (a axis) at(v float64) float64 {
	if a.hi == a.lo {
		return (a.p0 + a.p1) / 2
	}
	return a.p0 + (clamp(v)-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

// label is a tick's text: with the step's decimals, or in exponent form (decimals < 0)
// for very small steps and very large values.
func (a axis) label(v float64) string {
	if a.decimals < 0 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return strconv.FormatFloat(v, 'f', a.decimals, 64)
}

// niceStep is a step of 1, 2, 2.5 or 5 times a power of ten near span/n.
func niceStep(span float64, n int) float64 {
	if span <= 0 || math.IsNaN(span) || math.IsInf(span, 0) {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// maxPlotted bounds the values an axis spans, so that its span stays a finite number:
// a point beyond it is drawn at the edge (its tooltip has the value).
const maxPlotted = 1e300

// valueAxis is a y axis over values, widened to whole steps.
func valueAxis(values []float64) axis {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		v = clamp(v)
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	switch {
	case len(values) == 0:
		lo, hi = 0, 1
	case hi-lo < 1e-300:
		// Equal (or closer than a float's step can tell): a band around the value.
		d := math.Abs(lo) / 10
		if d < 1e-300 {
			d = 1
		}
		lo, hi = lo-d, hi+d
	}
	step := niceStep(hi-lo, 5)
	a := axis{lo: math.Floor(lo/step) * step, hi: math.Ceil(hi/step) * step, p0: plotY1, p1: plotY0}
	if a.lo == a.hi {
		a.hi += step
	}
	a.decimals = max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	if step*math.Pow(10, float64(a.decimals)) != math.Round(step*math.Pow(10, float64(a.decimals))) {
		a.decimals++ // 2.5 × 10^k
	}
	if a.decimals > 6 || math.Max(math.Abs(a.lo), math.Abs(a.hi)) >= 1e9 {
		a.decimals = -1 // exponent form
	}
	for i := 0; ; i++ {
		t := a.lo + float64(i)*step
		if t > a.hi+step/1e6 || i > 20 {
			break
		}
		a.ticks = append(a.ticks, t)
	}
	return a
}

func clamp(v float64) float64 { return math.Max(-maxPlotted, math.Min(maxPlotted, v)) }

// iterationAxis is an x axis over iterations lo..hi, with whole-number ticks.
func iterationAxis(lo, hi int32) axis {
	if hi <= lo {
		if lo > 0 {
			lo--
		}
		hi = lo + 2
	}
	a := axis{lo: float64(lo), hi: float64(hi), p0: plotX0, p1: plotX1}
	step := math.Max(1, math.Ceil(niceStep(float64(hi-lo), 8)))
	for t := math.Ceil(a.lo/step) * step; t <= a.hi; t += step {
		a.ticks = append(a.ticks, t)
	}
	return a
}

// frame writes the grid, the ticks and the axis titles.
func frame(b *strings.Builder, x, y axis, yTitle string) {
	fmt.Fprintf(b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", chartW, chartH)
	for _, t := range y.ticks {
		py := num(y.at(t))
		fmt.Fprintf(b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#e3e3e3" stroke-width="1"/>`, plotX0, py, plotX1, py)
		fmt.Fprintf(b, `<text x="%d" y="%s" font-size="11" text-anchor="end" dominant-baseline="middle" fill="#444">%s</text>`+"\n", plotX0-6, py, esc(y.label(t)))
	}
	for _, t := range x.ticks {
		px := num(x.at(t))
		fmt.Fprintf(b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#999" stroke-width="1"/>`, px, plotY1, px, plotY1+4)
		fmt.Fprintf(b, `<text x="%s" y="%d" font-size="11" text-anchor="middle" fill="#444">%s</text>`+"\n", px, plotY1+28, strconv.FormatFloat(t, 'f', 0, 64))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-width="1"/>`+"\n", plotX0, plotY1, plotX1, plotY1)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" text-anchor="middle" fill="#444">iteration</text>`+"\n", (plotX0+plotX1)/2, chartH-4)
	if yTitle != "" {
		fmt.Fprintf(b, `<text x="12" y="%d" font-size="11" text-anchor="middle" fill="#444" transform="rotate(-90 12 %d)">%s</text>`+"\n", (plotY0+plotY1)/2, (plotY0+plotY1)/2, esc(yTitle))
	}
}

// legend writes the versions' swatches right of the plot; extra lines follow them.
func legend(b *strings.Builder, versions []string, extra ...string) {
	y := plotY0 + 8
	for i, v := range versions {
		name := v
		if r := []rune(name); len(r) > 22 {
			name = string(r[:21]) + "…"
		}
		fmt.Fprintf(b, `<g class="legend-entry"><title>%s</title><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.5"%s/><text x="%d" y="%d" font-size="12" dominant-baseline="middle" fill="#222">%s</text></g>`+"\n",
			esc(v), plotX1+14, y, plotX1+34, y, color(i), dash(i), plotX1+40, y, esc(name))
		y += 18
	}
	for _, e := range extra {
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" dominant-baseline="middle" fill="#444">%s</text>`+"\n", plotX1+14, y, esc(e))
		y += 16
	}
}

// metricSVG draws one metric: a line per version over the iterations, a point per value
// (its <title> says version, iteration and value), markers under the plot for iterations
// without a value (hollow: no data, filled square: error), and a dashed horizontal line per
// objective limit.
func metricSVG(c metricChart, completed int32) string {
	var values []float64
	lo, hi := int32(math.MaxInt32), int32(math.MinInt32)
	for _, s := range c.series {
		for _, p := range s.points {
			lo, hi = min(lo, p.Iteration), max(hi, p.Iteration)
			if p.State == v2alpha1.MetricStateValue {
				values = append(values, p.Value)
			}
		}
	}
	for _, l := range c.limits {
		values = append(values, l.value)
	}
	if lo > hi {
		lo, hi = 0, completed
	}
	hi = max(hi, completed)
	x := iterationAxis(lo, hi)
	y := valueAxis(values)

	title := c.name
	if c.units != "" {
		title += " (" + c.units + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-metric="%s" viewBox="0 0 %d %d" width="%d" height="%d" font-family="system-ui, sans-serif" role="img">`+"\n",
		esc(c.ref), chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, "<title>%s per version over the iterations</title>\n", esc(title))
	frame(&b, x, y, c.units)

	for _, l := range c.limits {
		py := num(y.at(l.value))
		fmt.Fprintf(&b, `<line class="limit" x1="%d" y1="%s" x2="%d" y2="%s" stroke="#c00000" stroke-width="1.5" stroke-dasharray="5 4"><title>%s</title></line>`, plotX0, py, plotX1, py, esc(l.label))
		fmt.Fprintf(&b, `<text x="%d" y="%s" font-size="11" text-anchor="end" fill="#c00000">%s</text>`+"\n", plotX1-4, num(y.at(l.value)-4), esc(l.label))
	}

	var hasError, hasNoData bool
	for i, s := range c.series {
		var d strings.Builder
		pen := false
		for _, p := range s.points {
			if p.State != v2alpha1.MetricStateValue {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%s %s", cmd, num(x.at(float64(p.Iteration))), num(y.at(p.Value)))
			pen = true
		}
		path := ""
		if d.Len() > 0 {
			path = ` d="` + d.String() + `"`
		}
		fmt.Fprintf(&b, `<path class="series" data-version="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"%s%s/>`+"\n", esc(s.version), color(i), dash(i), path)
		for _, p := range s.points {
			px := num(x.at(float64(p.Iteration)))
			switch p.State {
			case v2alpha1.MetricStateValue:
				fmt.Fprintf(&b, `<circle class="point" cx="%s" cy="%s" r="3" fill="%s"><title>%s, iteration %d: %s</title></circle>`+"\n",
					px, num(y.at(p.Value)), color(i), esc(s.version), p.Iteration, esc(formatValue(p.Value)))
			case v2alpha1.MetricStateError:
				hasError = true
				fmt.Fprintf(&b, `<rect class="missing error" x="%s" y="%s" width="6" height="6" fill="%s"><title>%s, iteration %d: error</title></rect>`+"\n",
					num(x.at(float64(p.Iteration))-3), num(missingY-3+float64(i%3)*2), color(i), esc(s.version), p.Iteration)
			default:
				hasNoData = true
				fmt.Fprintf(&b, `<circle class="missing nodata" cx="%s" cy="%s" r="3" fill="none" stroke="%s" stroke-width="1.5"><title>%s, iteration %d: no data</title></circle>`+"\n",
					px, num(missingY+float64(i%3)*2), color(i), esc(s.version), p.Iteration)
			}
		}
	}
	versions := make([]string, len(c.series))
	for i, s := range c.series {
		versions[i] = s.version
	}
	var extra []string
	if hasError {
		extra = append(extra, "■ under the axis: error")
	}
	if hasNoData {
		extra = append(extra, "○ under the axis: no data")
	}
	if c.latestOnly {
		extra = append(extra, "latest value only:", "no history recorded")
	}
	if c.problem != "" {
		extra = append(extra, "history unreadable")
		fmt.Fprintf(&b, "<desc>%s</desc>\n", esc(c.problem))
	}
	legend(&b, versions, extra...)
	b.WriteString("</svg>\n")
	return b.String()
}

// weightsSVG draws the weights of status.weightHistory as steps: each version's weight
// holds from the iteration it was set until the next change.
func weightsSVG(s *describe.Summary) string {
	if len(s.WeightHistory) == 0 {
		return ""
	}
	last := s.WeightHistory[len(s.WeightHistory)-1].Iteration
	x := iterationAxis(s.WeightHistory[0].Iteration, max(last, s.CompletedIterations))
	y := axis{lo: 0, hi: 100, p0: plotY1, p1: plotY0, ticks: []float64{0, 25, 50, 75, 100}}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart weights" viewBox="0 0 %d %d" width="%d" height="%d" font-family="system-ui, sans-serif" role="img">`+"\n", chartW, chartH, chartW, chartH)
	b.WriteString("<title>Traffic weight per version (percent) over the iterations</title>\n")
	frame(&b, x, y, "weight (%)")
	for i, v := range s.Versions {
		var d strings.Builder
		for _, h := range s.WeightHistory {
			for _, w := range h.Weights {
				if w.Name != v {
					continue
				}
				px, py := num(x.at(float64(h.Iteration))), num(y.at(float64(w.Value)))
				if d.Len() == 0 {
					fmt.Fprintf(&d, "M%s %s", px, py)
				} else {
					fmt.Fprintf(&d, "H%s V%s", px, py)
				}
			}
		}
		if d.Len() == 0 {
			continue
		}
		fmt.Fprintf(&d, "H%s", num(x.at(x.hi)))
		fmt.Fprintf(&b, `<path class="weight-series" data-version="%s" fill="none" stroke="%s" stroke-width="2"%s d="%s"/>`+"\n", esc(v), color(i), dash(i), d.String())
	}
	legend(&b, s.Versions)
	b.WriteString("</svg>\n")
	return b.String()
}
