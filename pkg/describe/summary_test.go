package describe

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gotest.tools/v3/golden"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func TestMachineFormats(t *testing.T) {
	for _, tc := range []struct {
		file   string
		format Format
		golden string
	}{
		{"missing-values.yaml", FormatJSON, "missing-values.json.golden"},
		{"canary-rollback.yaml", FormatYAML, "canary-rollback.yaml.golden"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var out bytes.Buffer
			if err := Write(&out, readExperiment(t, tc.file), tc.format); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, out.String(), tc.golden)
		})
	}
}

func TestSummaryJSONRoundTrips(t *testing.T) {
	var out bytes.Buffer
	if err := Write(&out, readExperiment(t, "missing-values.yaml"), FormatJSON); err != nil {
		t.Fatal(err)
	}
	var got Summary
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("summary is not JSON: %v", err)
	}
	v := func(f float64) *float64 { return &f }
	want := []MetricValue{
		{Version: "sample-app-v1", Value: v(0), State: "Value"},
		{Version: "sample-app-v2", State: "Error", Reason: "error: HTTP 503"},
	}
	if d := cmp.Diff(want, got.Metrics[2].Values, cmp.AllowUnexported(MetricValue{}), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".text"
	}, cmp.Ignore())); d != "" {
		t.Errorf("error-rate values (-want +got):\n%s", d)
	}
	if !got.WinnerFound || got.Winner != "sample-app-v1" || got.RecommendedVersion != "sample-app-v1" {
		t.Errorf("winner = %v %q, recommended %q", got.WinnerFound, got.Winner, got.RecommendedVersion)
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	err := Write(&bytes.Buffer{}, readExperiment(t, "seed-experiment.yaml"), "table")
	want := `unknown output format "table", want one of [text json yaml]`
	if err == nil || err.Error() != want {
		t.Errorf("Write(table) = %v, want %s", err, want)
	}
}

func TestNumber3(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"50", "50.000"},
		{"0.01", "0.010"},
		{"0.879", "0.879"},
		{"0.8791", "0.879"},
		{"0.8795", "0.880"},
		{"123.188035", "123.188"},
		{"0.0100001", "0.010"},
		{"0.1", "0.100"},
		{"136084m", "136.084"},
		{"4835m", "4.835"},
		{"10m", "0.010"},
		{"1e3", "1000.000"},
		{"-0.0015", "-0.002"},
		{"0", "0.000"},
		{"-0.0001", "0.000"},
		{"-2", "-2.000"},
		{"1234567.0001", "1234567.000"},
		{"0.0000001", "0.000"},
	} {
		if got := number3(*v2alpha1.ParseNumber(tc.in)); got != tc.want {
			t.Errorf("number3(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestValueText(t *testing.T) {
	for _, tc := range []struct {
		in     string
		limits []float64
		want   string
	}{
		{"0.0100001", []float64{0.01}, "0.0100001"},
		{"0.0099999", []float64{0.01}, "0.0099999"},
		{"0.01", []float64{0.01}, "0.010"},
		{"123.188035", []float64{100}, "123.188"},
		{"50.0004", []float64{10, 50}, "50.0004"},
		{"136084m", nil, "136.084"},
	} {
		n := v2alpha1.ParseNumber(tc.in)
		f, err := n.Float()
		if err != nil {
			t.Fatal(err)
		}
		if got := valueText(*n, f, tc.limits); got != tc.want {
			t.Errorf("valueText(%s, %v) = %s, want %s", tc.in, tc.limits, got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	agg := map[string]v2alpha1.AggregatedMetricsData{
		"mean-latency":        {Max: v2alpha1.NewNumber(1)},
		"iter8-istio/latency": {Max: v2alpha1.NewNumber(2)},
		"a/dup":               {Max: v2alpha1.NewNumber(3)},
		"b/dup":               {Max: v2alpha1.NewNumber(4)},
	}
	for _, tc := range []struct {
		ref     string
		wantKey string
		found   bool
	}{
		{"mean-latency", "mean-latency", true},
		{"iter8-knative/mean-latency", "mean-latency", true},
		{"latency", "iter8-istio/latency", true},
		{"iter8-istio/latency", "iter8-istio/latency", true},
		{"other/latency", "", false},
		{"dup", "", false}, // ambiguous: two namespaces
		{"missing", "", false},
	} {
		key, _, found := lookup(agg, tc.ref)
		if found != tc.found || (found && key != tc.wantKey) {
			t.Errorf("lookup(%q) = %q, %v, want %q, %v", tc.ref, key, found, tc.wantKey, tc.found)
		}
	}
}
