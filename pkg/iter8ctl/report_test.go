package iter8ctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	reportExperiment = "../report/testdata/progressive.yaml"
	reportGolden     = "../report/testdata/progressive"
)

// TestReport: iter8ctl report writes what pkg/report renders (its golden files), from a
// file or standard input, to standard output or --out.
func TestReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.html")
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"html from a file", []string{"report", "-f", reportExperiment}, "", mustRead(t, reportGolden+".html.golden")},
		{"markdown from stdin", []string{"report", "-f", "-", "-o", "markdown"}, mustRead(t, reportExperiment), mustRead(t, reportGolden+".md.golden")},
		{"svg of one metric", []string{"report", "-f", reportExperiment, "-o", "svg", "--metric", "mean-latency"}, "", mustRead(t, reportGolden+".mean-latency.svg.golden")},
		{"html to --out", []string{"report", "-f", reportExperiment, "--out", out}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runMain(tc.args, tc.stdin)
			if r.code != ExitOK || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if d := cmp.Diff(tc.want, r.stdout); d != "" {
				t.Errorf("stdout (-want +got):\n%s", d)
			}
		})
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(mustRead(t, reportGolden+".html.golden"), string(b)); d != "" {
		t.Errorf("--out (-want +got):\n%s", d)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".report.html.*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestReportFails(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"report", "-f", reportExperiment, "-o", "pdf"}, ExitUsage, `invalid output format "pdf": want one of [html svg markdown]`},
		{[]string{"report", "-f", reportExperiment, "-o", "svg"}, ExitUsage, "-o svg draws one metric: name it with --metric"},
		{[]string{"report", "-f", reportExperiment, "--metric", "mean-latency"}, ExitUsage, "--metric selects the chart of -o svg, not of -o html"},
		{[]string{"report", "-f", reportExperiment, "-o", "svg", "--metric", "latency"}, ExitError, `no metric "latency": want one of mean-latency, error-rate, request-count`},
		{[]string{"report"}, ExitUsage, "an experiment NAME (from the cluster) or -f FILE|- is required"},
		{[]string{"report", "-f", "nosuch.yaml"}, ExitError, "reading nosuch.yaml"},
		{[]string{"report", "-f", reportExperiment, "--out", filepath.Join(t.TempDir(), "nosuch", "r.html")}, ExitError, "writing the report to"},
	} {
		r := runMain(tc.args, "")
		if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("iter8ctl %v: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, tc.code, tc.stderr)
		}
	}
}

// TestRunWritesAReport: iter8ctl run --report writes the HTML report of the finished
// experiment, with the history iterate recorded: a chart series per version and metric.
func TestRunWritesAReport(t *testing.T) {
	t.Parallel()
	ab := writeFile(t, "ab.yaml", strings.Replace(mustRead(t, abExample), "iterationsPerLoop: 3", "iterationsPerLoop: 2", 1))
	path := filepath.Join(t.TempDir(), "ab.html")
	r := runMain([]string{"run", "-f", ab, "-f", abMetricsExample, "--interval-seconds", "1", "--report", path}, "")
	if r.code != ExitOK {
		t.Fatalf("exit code = %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Report: "+path+"\n") {
		t.Errorf("stderr does not name the report:\n%s", r.stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	// 2 versions × 2 metrics, each with a point per iteration.
	if got := strings.Count(page, `<path class="series"`); got != 4 {
		t.Errorf("%d chart series, want 4", got)
	}
	if got := strings.Count(page, `<circle class="point"`); got != 8 {
		t.Errorf("%d points, want 8 (2 iterations × 2 versions × 2 metrics)", got)
	}
	for _, want := range []string{`id="outcome">Succeeded<`, `id="winner">shop-b<`} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(page, "No history recorded") {
		t.Error("the report says no history was recorded")
	}
}
