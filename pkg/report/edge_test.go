package report

import (
	"regexp"
	"strings"
	"testing"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// TestChartsOfExtremeValues: values at a float's limits, equal values and values a float
// step apart give finite coordinates and short tick labels.
func TestChartsOfExtremeValues(t *testing.T) {
	label := regexp.MustCompile(`dominant-baseline="middle" fill="#444">([^<]*)<`)
	for _, vals := range [][]float64{
		{1e308, -1e308}, {5e-324, 0}, {5e-324, 5e-324}, {1e-300, 2e-300}, {-5, -5}, {0, 0}, {1e15, 1e15 + 1}, {0.001, 0.0012}, {1e12, 3e12},
	} {
		c := metricChart{name: "m", ref: "m", series: []series{{version: "v", points: []v2alpha1.HistoryPoint{
			{Iteration: 1, State: v2alpha1.MetricStateValue, Value: vals[0]},
			{Iteration: 2, State: v2alpha1.MetricStateValue, Value: vals[1]},
		}}}}
		out := metricSVG(c, 2)
		if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
			t.Errorf("%v: the chart has a coordinate that is not a number:\n%s", vals, out)
		}
		ticks := label.FindAllStringSubmatch(out, -1)
		if len(ticks) < 2 {
			t.Errorf("%v: %d tick labels", vals, len(ticks))
		}
		for _, m := range ticks {
			if len(m[1]) > 12 {
				t.Errorf("%v: tick label %q is longer than 12 characters", vals, m[1])
			}
		}
	}
}

// FuzzChart: any series text the status may hold is either refused by Series or drawn
// with finite coordinates.
func FuzzChart(f *testing.F) {
	for _, s := range []string{"1 2 3", "- ! 0.5", "1e308 -1e308 5e-324", "0 0 0", "1 x 3", "1  2"} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, text string, n uint8) {
		h := &v2alpha1.MetricHistory{Data: map[string]map[string]string{"m": {"v": text}}}
		for k := 1; k <= int(n); k++ {
			h.Iterations = append(h.Iterations, int32(k))
		}
		pts, err := h.Series("m", "v")
		if err != nil {
			return
		}
		if len(pts) != int(n) {
			t.Fatalf("%d points for %d iterations", len(pts), n)
		}
		out := metricSVG(metricChart{name: "m", ref: "m", series: []series{{version: "v", points: pts}},
			limits: []limit{{label: "upper limit", value: 1}}}, int32(n))
		if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
			t.Fatalf("%q: a coordinate is not a number", text)
		}
		// Recording on top of it keeps one entry per iteration.
		next := v2alpha1.RecordHistory(h, int32(n)+1, &v2alpha1.AggregatedMetricsAnalysis{Data: map[string]v2alpha1.AggregatedMetricsData{
			"m": {Data: map[string]v2alpha1.AggregatedMetricsVersionData{"v": {Value: v2alpha1.NewNumber(1), State: v2alpha1.MetricStateValue}}}}}, v2alpha1.AnalysisMetaData{})
		if _, err := next.Series("m", "v"); err != nil {
			t.Fatalf("after recording on %q: %v", text, err)
		}
	})
}
