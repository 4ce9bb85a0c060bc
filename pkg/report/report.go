// Package report renders an Experiment as a self-contained HTML page, an SVG chart of one
// metric, or Markdown for a pull-request comment (iter8ctl report). It is pure: an
// Experiment in, bytes out, no I/O. The facts (outcome, verdicts, values, reasons) come
// from describe.Summarize and experiment.FinalResult, so the report never disagrees with
// iter8ctl describe, iter8ctl run or the finalize Task; the charts come from
// status.analysis.history and status.weightHistory.
package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/describe"
	"github.com/iter8-tools/iter8-tekton/pkg/experiment"
)

// Format is an output format of the report.
type Format string

// The formats.
const (
	FormatHTML     Format = "html"
	FormatSVG      Format = "svg"
	FormatMarkdown Format = "markdown"
)

// Formats are the valid formats.
var Formats = []Format{FormatHTML, FormatSVG, FormatMarkdown}

// Render renders exp in format; metric names the metric of an SVG chart (its name, or
// its reference as status.analysis.aggregatedMetrics names it).
func Render(exp *v2alpha1.Experiment, format Format, metric string) ([]byte, error) {
	switch format {
	case FormatHTML, "":
		return HTML(exp)
	case FormatSVG:
		return SVG(exp, metric)
	case FormatMarkdown:
		return Markdown(exp)
	}
	return nil, fmt.Errorf("unknown report format %q, want one of %v", format, Formats)
}

// facts is what every format says about the experiment.
type facts struct {
	s *describe.Summary
	// outcome is Succeeded, NoWinner, RolledBack or Failed once the experiment completed,
	// else its stage ("Running", or "Not started").
	outcome string
	// completed says whether outcome is final.
	completed bool
	// why are the reasons: finalize's reason first, then describe's details (but for its
	// lines on how the experiment ended, which finalize's reason says).
	why []string
}

func gather(exp *v2alpha1.Experiment) *facts {
	f := &facts{s: describe.Summarize(exp)}
	if exp.Status.GetStage() == v2alpha1.StageCompleted {
		r := experiment.FinalResult(exp)
		f.outcome, f.completed = string(r.Outcome), true
		if r.Reason != "" {
			f.why = append(f.why, r.Reason)
		}
	} else {
		f.outcome = string(exp.Status.GetStage())
		if f.outcome == "" {
			f.outcome = "Not started"
		}
	}
	for _, d := range f.s.Details() {
		// finalize's reason already says how a rolled back or failed experiment ended.
		if f.completed && (strings.HasPrefix(d, "Rolled back: ") && f.outcome == "RolledBack" ||
			strings.HasPrefix(d, "Experiment failed: ") && f.outcome == "Failed") {
			continue
		}
		if !containsString(f.why, d) {
			f.why = append(f.why, d)
		}
	}
	if len(f.why) == 0 && f.s.WinnerMessage != "" {
		f.why = append(f.why, "Winner assessment: "+f.s.WinnerMessage)
	}
	return f
}

// title is "namespace/name".
func (f *facts) title() string { return f.s.Namespace + "/" + f.s.Name }

// recommendedLabel is describe's wording of the recommended version.
func (f *facts) recommendedLabel() string {
	if f.s.IsV2alpha1() {
		return "Recommended baseline"
	}
	return "Version recommended for promotion"
}

// winnerText is the winner, or "not found", or "not assessed yet".
func (f *facts) winnerText() string {
	switch {
	case f.s.WinnerFound && f.s.Winner != "":
		return f.s.Winner
	case f.s.WinnerAssessed:
		return "not found"
	}
	return "not assessed yet"
}

// series is one version's points of a metric, or weights, over the iterations.
type series struct {
	version string
	points  []v2alpha1.HistoryPoint
}

// metricChart is what a metric's chart draws.
type metricChart struct {
	name, ref, units string
	series           []series
	// limits are the objectives' limits on the metric.
	limits []limit
	// latestOnly says there was no history: the series hold the latest value only.
	latestOnly bool
	// problem says why the history could not be read, when it could not.
	problem string
}

type limit struct {
	label string
	value float64
}

// charts are the charts of every metric of the summary, in its order.
func charts(exp *v2alpha1.Experiment, s *describe.Summary) []metricChart {
	var h *v2alpha1.MetricHistory
	if a := exp.Status.Analysis; a != nil {
		h = a.History
	}
	var out []metricChart
	for _, m := range s.Metrics {
		c := metricChart{name: m.Name, ref: m.Ref, units: m.Units, limits: limitsOf(s, m.Ref)}
		key, ok := historyKey(h, m.Ref)
		if !ok {
			c.latestOnly = true
			for _, v := range m.Values {
				sr := series{version: v.Version}
				if v.Value != nil && s.CompletedIterations > 0 {
					sr.points = []v2alpha1.HistoryPoint{{Iteration: s.CompletedIterations, State: v2alpha1.MetricStateValue, Value: *v.Value}}
				}
				c.series = append(c.series, sr)
			}
			out = append(out, c)
			continue
		}
		for _, v := range s.Versions {
			pts, err := h.Series(key, v)
			if err != nil {
				c.problem = err.Error()
				pts = nil
			}
			c.series = append(c.series, series{version: v, points: pts})
		}
		out = append(out, c)
	}
	return out
}

// historyKey finds a metric's series in the history under its reference as written, or
// under the other spelling (bare name or namespace/name), as describe finds its values.
func historyKey(h *v2alpha1.MetricHistory, ref string) (string, bool) {
	if h == nil {
		return "", false
	}
	if _, ok := h.Data[ref]; ok {
		return ref, true
	}
	if _, name, ok := strings.Cut(ref, "/"); ok {
		_, found := h.Data[name]
		return name, found
	}
	var key string
	n := 0
	for k := range h.Data {
		if _, name, ok := strings.Cut(k, "/"); ok && name == ref {
			key = k
			n++
		}
	}
	return key, n == 1
}

func bareName(ref string) string {
	if _, name, ok := strings.Cut(ref, "/"); ok {
		return name
	}
	return ref
}

// limitsOf are the limits of the objectives on metric ref, matched by name as describe
// matches them.
func limitsOf(s *describe.Summary, ref string) []limit {
	var out []limit
	for _, o := range s.Objectives {
		if bareName(o.Metric) != bareName(ref) {
			continue
		}
		if o.LowerLimit != nil {
			out = append(out, limit{label: "lower limit " + formatValue(*o.LowerLimit), value: *o.LowerLimit})
		}
		if o.UpperLimit != nil {
			out = append(out, limit{label: "upper limit " + formatValue(*o.UpperLimit), value: *o.UpperLimit})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].value > out[j].value })
	return out
}

// findChart returns the chart of metric, named by its name or reference.
func findChart(cs []metricChart, metric string) (metricChart, error) {
	var names []string
	for _, c := range cs {
		if c.name == metric || c.ref == metric {
			return c, nil
		}
		names = append(names, c.name)
	}
	if metric == "" {
		return metricChart{}, fmt.Errorf("name the metric to chart: one of %s", strings.Join(names, ", "))
	}
	if len(names) == 0 {
		return metricChart{}, fmt.Errorf("no metric %q: the experiment has no metrics", metric)
	}
	return metricChart{}, fmt.Errorf("no metric %q: want one of %s", metric, strings.Join(names, ", "))
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// verdictCell is a verdict as the tables print it: "true"/"false" as describe prints
// them, or "unavailable", and the value.
func verdictCell(v describe.Verdict) (mark, value string) {
	mark = describe.Unavailable
	if v.Satisfied != nil {
		mark = fmt.Sprint(*v.Satisfied)
	}
	return mark, v.Text()
}

// comparisonView is one candidate's judgement as describe prints it.
type comparisonView struct {
	Version, Outcome, Score string
	// Lines are the comparisons' reasons, "(dry run)" appended where it applies.
	Lines []string
}

func comparisons(s *describe.Summary) []comparisonView {
	var out []comparisonView
	for _, c := range s.Comparisons {
		v := comparisonView{Version: c.Version, Outcome: string(c.Outcome), Score: describe.Unavailable}
		if c.Score != nil {
			v.Score = fmt.Sprintf("%.4g", c.Score.Value())
		}
		for _, m := range c.Comparisons {
			line := m.Reason
			if m.DryRun {
				line += " (dry run)"
			}
			v.Lines = append(v.Lines, line)
		}
		out = append(out, v)
	}
	return out
}
