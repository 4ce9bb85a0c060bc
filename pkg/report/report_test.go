package report

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gotest.tools/v3/golden"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/describe"
)

// The testdata experiments: four written by iter8ctl run of the examples (history and
// weights as the stages record them), one with no-data and error entries and a version
// name that needs escaping, one from before the history existed, one not started, and
// two from pkg/describe/testdata that failed (aborted, failed at init).
var testExperiments = []string{"progressive", "canary", "comparison", "ab", "history-states", "no-history", "not-started", "aborted", "failed-at-init"}

func readTestExperiment(t *testing.T, name string) *v2alpha1.Experiment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	exp, ignored, err := v2alpha1.ReadExperiment(b)
	if err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	if len(ignored) > 0 {
		t.Fatalf("%s: fields ignored: %v", name, ignored)
	}
	return exp
}

// TestGolden: go test ./pkg/report -update rewrites the golden files.
func TestGolden(t *testing.T) {
	for _, name := range testExperiments {
		t.Run(name, func(t *testing.T) {
			exp := readTestExperiment(t, name)
			for _, f := range []struct {
				format Format
				ext    string
			}{{FormatHTML, ".html"}, {FormatMarkdown, ".md"}} {
				b, err := Render(exp, f.format, "")
				if err != nil {
					t.Fatal(err)
				}
				golden.Assert(t, string(b), name+f.ext+".golden")
			}
		})
	}
	for _, tc := range []struct{ name, metric string }{
		{"progressive", "mean-latency"},
		{"history-states", "error-rate"},
		{"history-states", "iter8-knative/mean-latency"},
	} {
		b, err := SVG(readTestExperiment(t, tc.name), tc.metric)
		if err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, string(b), tc.name+"."+strings.ReplaceAll(tc.metric, "/", "_")+".svg.golden")
	}
}

// TestChartsHaveEverySeries: every metric chart has one series per version, and the
// weights chart one per version that has a weight.
func TestChartsHaveEverySeries(t *testing.T) {
	for _, name := range testExperiments {
		exp := readTestExperiment(t, name)
		b, err := HTML(exp)
		if err != nil {
			t.Fatal(err)
		}
		s := describe.Summarize(exp)
		if got, want := strings.Count(string(b), `<path class="series"`), len(s.Versions)*len(s.Metrics); got != want {
			t.Errorf("%s: %d series, want %d (%d versions × %d metrics)", name, got, want, len(s.Versions), len(s.Metrics))
		}
		if got, want := strings.Count(string(b), `<svg `), len(s.Metrics)+min(1, len(s.WeightHistory)); got != want {
			t.Errorf("%s: %d charts, want %d", name, got, want)
		}
	}
}

// TestHTMLFetchesNothing: the page refers to nothing outside itself and runs no script.
func TestHTMLFetchesNothing(t *testing.T) {
	external := regexp.MustCompile(`(?i)<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(|@import|https?://`)
	for _, name := range testExperiments {
		b, err := HTML(readTestExperiment(t, name))
		if err != nil {
			t.Fatal(err)
		}
		// The SVG namespace is a name, not a fetch.
		page := strings.ReplaceAll(string(b), `xmlns="http://www.w3.org/2000/svg"`, "")
		if m := external.FindString(page); m != "" {
			t.Errorf("%s: the page refers to something outside itself: %q", name, m)
		}
	}
}

// TestReportAgreesWithDescribe: the outcome, the winner and every verdict of the report
// are describe's (the goldens show the layout; this checks the facts on every input).
func TestReportAgreesWithDescribe(t *testing.T) {
	for _, name := range testExperiments {
		exp := readTestExperiment(t, name)
		s := describe.Summarize(exp)
		b, err := Markdown(exp)
		if err != nil {
			t.Fatal(err)
		}
		md := string(b)
		for _, o := range s.Objectives {
			row := "| " + mdEscaper.Replace(o.Objective)
			var line string
			for _, l := range strings.Split(md, "\n") {
				if strings.HasPrefix(l, row) {
					line = l
				}
			}
			if line == "" {
				t.Errorf("%s: no row for objective %s", name, o.Objective)
				continue
			}
			for _, v := range o.Verdicts {
				want := describe.Unavailable
				if v.Satisfied != nil {
					want = map[bool]string{true: "✅ true", false: "❌ false"}[*v.Satisfied]
				}
				if !strings.Contains(line, want+" ("+mdEscaper.Replace(v.Text())+")") {
					t.Errorf("%s: %s for %s: want %q in %q", name, o.Objective, v.Version, want, line)
				}
			}
		}
		if s.WinnerFound && !strings.Contains(md, "- Winning version: "+mdEscaper.Replace(s.Winner)+"\n") {
			t.Errorf("%s: the winner %s is not in the report", name, s.Winner)
		}
	}
}

func TestSVGErrors(t *testing.T) {
	exp := readTestExperiment(t, "progressive")
	for _, tc := range []struct{ metric, want string }{
		{"", "name the metric to chart: one of mean-latency, error-rate, request-count"},
		{"latency", `no metric "latency": want one of mean-latency, error-rate, request-count`},
	} {
		_, err := SVG(exp, tc.metric)
		if err == nil || err.Error() != tc.want {
			t.Errorf("SVG(%q) error %v, want %q", tc.metric, err, tc.want)
		}
	}
	if _, err := Render(exp, "pdf", ""); err == nil || !strings.Contains(err.Error(), `unknown report format "pdf"`) {
		t.Errorf("Render pdf: %v", err)
	}
}

func TestMarkdownEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"a|b":                 `a\|b`,
		"<img src=x>":         "&lt;img src=x&gt;",
		"[link](http://x)":    `\[link\](http://x)`,
		"*bold* _it_ `code`":  "\\*bold\\* \\_it\\_ \\`code\\`",
		"line\nbreak\r\nhere": "line break here",
	} {
		if got := md(in); got != want {
			t.Errorf("md(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHostileNamesAreEscaped: a version named sample-app-v2<i>&"' never reaches a page, a
// chart or a comment as markup.
func TestHostileNamesAreEscaped(t *testing.T) {
	exp := readTestExperiment(t, "history-states")
	for _, f := range []Format{FormatHTML, FormatMarkdown, FormatSVG} {
		b, err := Render(exp, f, "error-rate")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "<i>") {
			t.Errorf("%s: the version name's <i> is not escaped", f)
		}
		if !strings.Contains(string(b), "sample-app-v2&lt;i&gt;&amp;") {
			t.Errorf("%s: the version name is missing or escaped otherwise", f)
		}
	}
}
