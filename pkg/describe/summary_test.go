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

func TestCeil3(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"50", "50.000"},
		{"0.01", "0.010"},
		{"0.879", "0.879"},
		{"0.8791", "0.880"},
		{"0.1", "0.100"},
		{"136084m", "136.084"},
		{"4835m", "4.835"},
		{"10m", "0.010"},
		{"1e3", "1000.000"},
		{"-0.0015", "-0.001"},
		{"0", "0.000"},
		{"-0.0001", "0.000"},
		{"-2", "-2.000"},
		{"1234567.0001", "1234567.001"},
		{"0.0000001", "0.001"},
	} {
		if got := ceil3Number(*v2alpha1.ParseNumber(tc.in)); got != tc.want {
			t.Errorf("ceil3Number(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestCeil3Float(t *testing.T) {
	for in, want := range map[float64]string{0.1: "0.100", 0.8791: "0.880", 136.084: "136.084", 1e-9: "0.001"} {
		if got := ceil3(in); got != want {
			t.Errorf("ceil3(%v) = %s, want %s", in, got, want)
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
