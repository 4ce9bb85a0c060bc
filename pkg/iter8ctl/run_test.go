package iter8ctl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/sampleapp"
)

// helperEnv makes the test binary behave as iter8ctl, so that a test can send a real
// SIGINT to a real process without building one.
const helperEnv = "ITER8CTL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

const (
	conformanceExample = "../../examples/conformance.yaml"
	canaryExample      = "../../examples/canary.yaml"
	progressiveExample = "../../examples/progressive.yaml"
	abExample          = "../../examples/ab.yaml"
	abMetricsExample   = "../../examples/ab-metrics.yaml"
	comparisonExample  = "../../examples/comparison.yaml"
)

// startApp serves a sample app version and returns its URL.
func startApp(t *testing.T, cfg sampleapp.Config) string {
	t.Helper()
	app, err := sampleapp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// example writes the example file with its loopback URLs replaced, as make demo does.
func example(t *testing.T, path string, urls map[string]string) string {
	t.Helper()
	s := mustRead(t, path)
	replaced := false
	for from, to := range urls {
		replaced = replaced || strings.Contains(s, from)
		s = strings.ReplaceAll(s, from, to)
	}
	if !replaced {
		t.Fatalf("%s has none of the URLs %v", path, urls)
	}
	return writeFile(t, filepath.Base(path), s)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// outcome is what the tests check of a finished experiment.
type outcome struct {
	Stage       v2alpha1.ExperimentStageType
	Iterations  int32
	Completed   bool
	Failed      bool
	Recommended string
	Winner      string
	RolledBack  []string
	Message     string
}

func readOutcome(t *testing.T, path string) outcome {
	t.Helper()
	exp, err := v2alpha1.DecodeExperiment([]byte(mustRead(t, path)))
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	o := outcome{
		Stage:       exp.Status.GetStage(),
		Iterations:  exp.Status.GetCompletedIterations(),
		Completed:   exp.Status.IsTrue(v2alpha1.ConditionCompleted),
		Failed:      exp.Status.IsTrue(v2alpha1.ConditionFailed),
		Recommended: exp.Status.RecommendedVersion(),
		RolledBack:  exp.Status.RolledBack,
	}
	if a := exp.Status.Analysis; a != nil && a.WinnerAssessment != nil && a.WinnerAssessment.Data.Winner != nil {
		o.Winner = *a.WinnerAssessment.Data.Winner
	}
	if c := exp.Status.Condition(v2alpha1.ConditionFailed); c != nil && c.Status == corev1.ConditionTrue && c.Message != nil {
		o.Message = *c.Message
	}
	return o
}

func TestRunOutcomes(t *testing.T) {
	current := startApp(t, sampleapp.Config{Version: "current"})
	candidate := startApp(t, sampleapp.Config{Version: "candidate", Latency: 80 * time.Millisecond, ErrorRate: 0.2})
	good := startApp(t, sampleapp.Config{Version: "candidate"})
	jittery := sampleapp.Config{Version: "current", Latency: 20 * time.Millisecond, LatencyJitter: 10 * time.Millisecond}
	steady := startApp(t, jittery)
	jittery.Version = "candidate"
	same := startApp(t, jittery)
	// The example's candidate is 15 % slower (23 ms), which an idle machine sees at the first
	// iteration; while this package's other tests load both cores, two identical apps measure
	// up to about 10 % apart (see "a comparison passes a candidate like the baseline"), and
	// a CI run once saw the 15 % shift only at the second iteration. 30 ms (+50 %) is beyond
	// that noise, so the test asserts the first-iteration rollback it means to.
	jittery.Latency = 30 * time.Millisecond
	slower := startApp(t, jittery)
	urls := map[string]string{"http://127.0.0.1:18080/": current, "http://127.0.0.1:18081/": candidate, "http://127.0.0.1:18082/": good,
		"http://127.0.0.1:18083/": steady, "http://127.0.0.1:18084/": slower}
	sameURLs := map[string]string{"http://127.0.0.1:18083/": steady, "http://127.0.0.1:18084/": same}
	abMetrics := mustRead(t, abMetricsExample)
	ab := mustRead(t, abExample)
	// Prometheus answers each version's latency from the query's revision label.
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		value := map[bool]string{true: "300", false: "30"}[strings.Contains(r.Form.Get("query"), `revision_name="shop-b"`)]
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,%q]}]}}`, value)
	}))
	t.Cleanup(prom.Close)
	promMetric := writeFile(t, "prom.yaml", strings.Replace(abMetrics, `  type: Gauge
  mock:
  - name: shop-a
    level: "20"
  - name: shop-b
    level: "25"
`, `  type: Gauge
  provider: prometheus
  params:
  - name: query
    value: latency{revision_name="$revision"}
  jqExpression: .data.result[0].value[1] | tonumber
`, 1))

	for _, tc := range []struct {
		name  string
		files []string
		args  []string
		code  int
		want  outcome
		// detectBy, when set, accepts any iteration up to it in place of want.Iterations:
		// which iteration's samples first show a shift depends on the machine's load.
		detectBy int32
		// stdout and stderr hold lines the output must have.
		stdout []string
		stderr []string
	}{{
		name:  "conformance passes after 7 iterations",
		files: []string{example(t, conformanceExample, urls)},
		code:  ExitOK,
		want:  outcome{Stage: v2alpha1.StageCompleted, Iterations: 7, Completed: true, Recommended: "current", Winner: "current"},
		stdout: []string{
			"Experiment name: conformance",
			"Number of completed iterations: 7",
			"Winning version: current",
		},
		stderr: []string{"iterate 7: iter8-system/error-rate current=0.000;"},
	}, {
		name:  "canary rolls the candidate back",
		files: []string{example(t, canaryExample, urls)},
		code:  ExitAimNotAchieved,
		want: outcome{Stage: v2alpha1.StageCompleted, Iterations: 1, Completed: true, Recommended: "current", Winner: "current",
			RolledBack: []string{"candidate"}},
		stdout: []string{
			"Version recommended for promotion: current",
			"- candidate fails error-rate <= 0.010: iter8-system/error-rate = 0.200 > 0.010: not satisfied (rollback objective)",
			"- Rolled back: candidate",
		},
		stderr: []string{"Error: experiment did not achieve its aim (RolledBack): rolled back: candidate violated a rollback objective"},
	}, {
		name: "a comparison rolls back a shifted candidate that passes every objective",
		// The case is about the comparison: the example's 50 ms mean-latency limit, which
		// the loopback apps can exceed while the e2e loads both cores (a baseline that
		// fails it leaves no winner), is raised out of the way.
		files: []string{writeFile(t, "shifted.yaml", strings.Replace(mustRead(t, example(t, comparisonExample, urls)), "upperLimit: 50\n", "upperLimit: 5000\n", 1))},
		code:  ExitAimNotAchieved,
		want: outcome{Stage: v2alpha1.StageCompleted, Iterations: 1, Completed: true, Recommended: "current", Winner: "current",
			RolledBack: []string{"candidate"}},
		detectBy: 3,
		stdout: []string{
			"****** Comparison Assessment ******",
			"candidate: Fail, score 0",
			"- High: iter8-system/mean-latency shifted +",
			"- Rolled back: candidate",
		},
		stderr: []string{"failed a rollback objective or its comparisons (candidate: comparisons Fail: critical comparison iter8-system/mean-latency failed: High: iter8-system/mean-latency shifted +"},
	}, {
		name: "a comparison passes a candidate like the baseline",
		// Two identical apps on loopback, measured while the other tests of this package
		// load the machine's two cores, differ by up to about 5 % (measured +5.3 %, CI
		// +0.4 … +10.2 %): a real difference of the moments they were measured, not of the
		// apps. A 15 % allowance keeps that from failing the test; the 12 % slower
		// candidate above is caught with the example's 5 %.
		files: []string{writeFile(t, "same.yaml", strings.Replace(mustRead(t, example(t, comparisonExample, sameURLs)), `allowedIncrease: "0.05"`, `allowedIncrease: "0.15"`, 1))},
		code:  ExitOK,
		want:  outcome{Stage: v2alpha1.StageCompleted, Iterations: 3, Completed: true, Recommended: "candidate", Winner: "candidate"},
		stdout: []string{
			"candidate: Pass, score 100",
			"- Pass: iter8-system/mean-latency shifted ",
		},
	}, {
		name:   "a/b picks the higher reward",
		files:  []string{abExample, abMetricsExample},
		code:   ExitOK,
		want:   outcome{Stage: v2alpha1.StageCompleted, Iterations: 3, Completed: true, Recommended: "shop-b", Winner: "shop-b"},
		stdout: []string{"Winning version: shop-b"},
	}, {
		name: "a/b picks the higher reward, whichever version has it",
		files: []string{abExample, writeFile(t, "swapped.yaml", strings.NewReplacer(
			`level: "10"`, `level: "12.5"`, `level: "12.5"`, `level: "10"`).Replace(abMetrics))},
		code:   ExitOK,
		want:   outcome{Stage: v2alpha1.StageCompleted, Iterations: 3, Completed: true, Recommended: "shop-a", Winner: "shop-a"},
		stdout: []string{"Winning version: shop-a"},
	}, {
		name: "a/b without a winner",
		files: []string{abExample, writeFile(t, "slow.yaml", strings.NewReplacer(
			`level: "20"`, `level: "200"`, `level: "25"`, `level: "250"`).Replace(abMetrics))},
		code:   ExitAimNotAchieved,
		want:   outcome{Stage: v2alpha1.StageCompleted, Iterations: 3, Completed: true, Recommended: "shop-a"},
		stderr: []string{"Error: experiment did not achieve its aim (NoWinner): no winner was found"},
	}, {
		name:  "metrics from prometheus",
		files: []string{writeFile(t, "ab1.yaml", strings.Replace(ab, "iterationsPerLoop: 3", "iterationsPerLoop: 1", 1)), promMetric},
		args:  []string{"--prometheus", prom.URL},
		code:  ExitOK,
		// shop-b's latency of 300 ms fails the objective, so shop-a wins with less reward.
		want:   outcome{Stage: v2alpha1.StageCompleted, Iterations: 1, Completed: true, Recommended: "shop-a", Winner: "shop-a"},
		stderr: []string{"iterate 1: mean-latency shop-a=30.000 shop-b=300.000; user-engagement shop-a=10.000 shop-b=12.500"},
	}, {
		name: "common/exec runs as a finish action",
		files: []string{writeFile(t, "finish.yaml", strings.NewReplacer("iterationsPerLoop: 3", "iterationsPerLoop: 1",
			"    deploymentPattern: FixedSplit\n", `    deploymentPattern: FixedSplit
    actions:
      finish:
      - task: common/exec
        with:
          cmd: echo
          args: ["promoting", "{{ .name }}"]
`).Replace(ab)), abMetricsExample},
		args:   []string{"--allow-exec=echo"},
		code:   ExitOK,
		want:   outcome{Stage: v2alpha1.StageCompleted, Iterations: 1, Completed: true, Recommended: "shop-b", Winner: "shop-b"},
		stderr: []string{"] promoting shop-b\n", "finalize: finish actions completed"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out.yaml")
			args := append([]string{"run", "--interval-seconds", "1", "--out", out}, tc.args...)
			for _, f := range tc.files {
				args = append(args, "-f", f)
			}
			r := runMain(args, "")
			if r.code != tc.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			got := readOutcome(t, out)
			if tc.detectBy > 0 && got.Iterations >= 1 && got.Iterations <= tc.detectBy {
				got.Iterations = tc.want.Iterations
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("experiment (-want +got):\n%s", diff)
			}
			for _, l := range tc.stdout {
				if !hasLine(r.stdout, l) {
					t.Errorf("stdout has no line %q:\n%s", l, r.stdout)
				}
			}
			for _, l := range tc.stderr {
				if !strings.Contains(r.stderr, l) {
					t.Errorf("stderr does not say %q:\n%s", l, r.stderr)
				}
			}
		})
	}
}

func hasLine(s, prefix string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func TestRunPrintsTheExperiment(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			// Two iterations are enough: the test is about the output.
			ab := writeFile(t, "ab.yaml", strings.Replace(mustRead(t, abExample), "iterationsPerLoop: 3", "iterationsPerLoop: 2", 1))
			r := runMain([]string{"run", "-f", ab, "-f", abMetricsExample, "--interval-seconds", "1", "-o", format}, "")
			if r.code != ExitOK {
				t.Fatalf("exit code = %d; stderr:\n%s", r.code, r.stderr)
			}
			exp, err := v2alpha1.DecodeExperiment([]byte(r.stdout))
			if err != nil {
				t.Fatalf("stdout is not an Experiment: %v\n%s", err, r.stdout)
			}
			got := []any{exp.Name, exp.Status.GetCompletedIterations(), exp.Status.RecommendedVersion(), len(exp.Status.Metrics)}
			if diff := cmp.Diff([]any{"ab", int32(2), "shop-b", 2}, got); diff != "" {
				t.Errorf("name, iterations, recommended, metrics (-want +got):\n%s", diff)
			}
		})
	}
}

// lineWatcher is a stderr that closes seen when a line containing want is written.
type lineWatcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// interruptInterval is long enough for an interrupt sent when the first assessment is
// logged to land in the wait for the second iteration's slot, even on a busy machine.
const interruptInterval = "3"

// interruptedExperiment has 5 iterations of mock metrics.
func interruptedExperiment(t *testing.T) string {
	return writeFile(t, "ab.yaml", strings.Replace(mustRead(t, abExample), "iterationsPerLoop: 3", "iterationsPerLoop: 5", 1))
}

func wantInterrupted() outcome {
	return outcome{Stage: v2alpha1.StageCompleted, Iterations: 1, Completed: true, Failed: true, Recommended: "shop-a", Winner: "shop-b",
		Message: "ended after 1 of 5 iterations (pipeline tasks Cancelled)"}
}

func TestRunCancelledFinalizes(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lineWatcher{want: "assess 1:", seen: make(chan struct{})}
	go func() {
		<-stderr.seen
		cancel()
	}()
	var stdout bytes.Buffer
	code := Main(ctx, []string{"run", "-f", interruptedExperiment(t), "-f", abMetricsExample, "--interval-seconds", interruptInterval, "--out", out},
		strings.NewReader(""), &stdout, stderr)
	if code != ExitInterrupted {
		t.Errorf("exit code = %d, want %d; stderr:\n%s", code, ExitInterrupted, stderr)
	}
	if diff := cmp.Diff(wantInterrupted(), readOutcome(t, out)); diff != "" {
		t.Errorf("experiment (-want +got):\n%s", diff)
	}
	if want := "Error: interrupted: Aborted: ended after 1 of 5 iterations (pipeline tasks Cancelled)\n"; !strings.HasSuffix(stderr.String(), want) {
		t.Errorf("stderr does not end with %q:\n%s", want, stderr)
	}
	if !hasLine(stdout.String(), "Number of completed iterations: 1") {
		t.Errorf("stdout is not the describe of the interrupted experiment:\n%s", stdout.String())
	}
}

func TestRunSIGINTFinalizes(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "run", "-f", interruptedExperiment(t), "-f", abMetricsExample, "--interval-seconds", interruptInterval, "--out", out)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(pipe)
	signalled := false
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if !signalled && strings.Contains(sc.Text(), "assess 1:") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	err = cmd.Wait()
	if !signalled {
		t.Fatalf("iter8ctl run never assessed iteration 1, so it was not interrupted; stderr:\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitInterrupted {
		t.Errorf("iter8ctl run ended with %v, want exit status %d; stderr:\n%s", err, ExitInterrupted, stderr.String())
	}
	if diff := cmp.Diff(wantInterrupted(), readOutcome(t, out)); diff != "" {
		t.Errorf("experiment (-want +got):\n%s", diff)
	}
	if !strings.Contains(stderr.String(), "Error: interrupted: Aborted: ended after 1 of 5 iterations (pipeline tasks Cancelled)") {
		t.Errorf("stderr does not give the reason:\n%s", stderr.String())
	}
	if !hasLine(stdout.String(), "Number of completed iterations: 1") {
		t.Errorf("stdout is not the describe of the interrupted experiment:\n%s", stdout.String())
	}
}

func TestRunFails(t *testing.T) {
	t.Parallel()
	conformance := mustRead(t, conformanceExample)
	abMetrics := mustRead(t, abMetricsExample)
	knative := writeFile(t, "knative.yaml", strings.Replace(conformance, "      loop:\n",
		"      start:\n      - task: knative/init-experiment\n      loop:\n", 1))
	unknownField := writeFile(t, "unknown.yaml", strings.Replace(conformance, "      upperLimit: 50\n", "      upperLimt: 50\n", 1))
	badMetric := writeFile(t, "metrics.yaml", strings.Replace(abMetrics, "  units: milliseconds\n", "  unit: milliseconds\n", 1))
	invalid := writeFile(t, "invalid.yaml", strings.NewReplacer(
		"    maxLoops: 7\n", "    maxLoops: 0\n",
		"          numQueries: 20\n", "          numQueries: -1\n").Replace(conformance))
	missingMetric := writeFile(t, "missing.yaml", strings.Replace(conformance, "iter8-system/mean-latency", "no-such-metric", 1))
	metricsOnly := writeFile(t, "only.yaml", abMetrics)
	twoExperiments := writeFile(t, "two.yaml", conformance+"---\n"+conformance)
	comparison := mustRead(t, comparisonExample)
	noSamples := writeFile(t, "nosamples.yaml", strings.Replace(comparison, "    - metric: iter8-system/mean-latency\n      direction", "    - metric: iter8-system/error-rate\n      direction", 1))
	conformanceComparison := writeFile(t, "conformance-comparison.yaml", strings.Replace(comparison, "testingPattern: Canary", "testingPattern: Conformance", 1))

	for _, tc := range []struct {
		name string
		args []string
		code int
		// stderr holds what standard error must say.
		stderr []string
		// out, when set, is the outcome --out must hold.
		out *outcome
	}{{
		name:   "missing file",
		args:   []string{"-f", "/nonexistent/experiment.yaml"},
		code:   ExitUsage,
		stderr: []string{"Error: reading /nonexistent/experiment.yaml: open /nonexistent/experiment.yaml: no such file or directory\n"},
	}, {
		name:   "an empty file",
		args:   []string{"-f", "/dev/null"},
		code:   ExitUsage,
		stderr: []string{"Error: reading /dev/null: input is empty\n"},
	}, {
		name:   "unknown field in the experiment",
		args:   []string{"-f", unknownField},
		code:   ExitUsage,
		stderr: []string{"Error: " + unknownField + `: document 0: decoding Experiment: unknown field "spec.criteria.objectives[0].upperLimt"` + "\n"},
	}, {
		name:   "unknown field in the second metric",
		args:   []string{"-f", abExample, "-f", badMetric},
		code:   ExitUsage,
		stderr: []string{"Error: " + badMetric + `: document 1: decoding Metric: unknown field "spec.unit"` + "\n"},
	}, {
		name: "invalid values are named by file, object and field",
		args: []string{"-f", invalid},
		code: ExitUsage,
		stderr: []string{
			invalid + ": Experiment/conformance: spec.duration.maxLoops:",
			invalid + ": Experiment/conformance: spec.strategy.actions.loop[0].with.numQueries:",
		},
	}, {
		name:   "no experiment",
		args:   []string{"-f", metricsOnly},
		code:   ExitUsage,
		stderr: []string{"Error: no Experiment in " + metricsOnly + "\n"},
	}, {
		name:   "two experiments",
		args:   []string{"-f", twoExperiments},
		code:   ExitUsage,
		stderr: []string{"Error: " + twoExperiments + ": Experiment/conformance: a second Experiment (the first is in " + twoExperiments + "); run takes one\n"},
	}, {
		name: "knative task in local mode",
		args: []string{"-f", knative},
		code: ExitError,
		stderr: []string{"Error: init-experiment: HandlerFailed: start actions failed: start action, task 0 (knative/init-experiment): " +
			"knative/init-experiment needs a cluster; it cannot run with iter8ctl run\n"},
		out: &outcome{Stage: v2alpha1.StageCompleted, Completed: true, Failed: true, Recommended: "current",
			Message: "start actions failed: start action, task 0 (knative/init-experiment): knative/init-experiment needs a cluster; it cannot run with iter8ctl run"},
	}, {
		name: "metric not found",
		args: []string{"-f", missingMetric},
		code: ExitError,
		stderr: []string{"Error: init-experiment: MetricUnavailable: unable to find metric no-such-metric " +
			"(looked in default, iter8-knative, iter8-istio, iter8-system)\n"},
	}, {
		name: "a comparison of a metric without samples",
		args: []string{"-f", noSamples},
		code: ExitError,
		stderr: []string{"Error: init-experiment: InvalidExperiment: spec.criteria.comparisons[0].metric: metric iter8-system/error-rate: " +
			"builtin metric error-rate has no samples; the builtin latency metrics do\n"},
	}, {
		name:   "a comparison in a conformance test",
		args:   []string{"-f", conformanceComparison},
		code:   ExitUsage,
		stderr: []string{"spec.criteria.comparisons: testing pattern Conformance has no candidate to compare with the baseline"},
	}, {
		name:   "no file",
		args:   nil,
		code:   ExitUsage,
		stderr: []string{"Error: flag -f is required"},
	}, {
		name:   "bad output format",
		args:   []string{"-f", abExample, "-o", "xml"},
		code:   ExitUsage,
		stderr: []string{`Error: invalid output format "xml"`},
	}, {
		name:   "negative interval",
		args:   []string{"-f", abExample, "--interval-seconds", "-1"},
		code:   ExitUsage,
		stderr: []string{"Error: --interval-seconds must not be negative, got -1"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out.yaml")
			r := runMain(append([]string{"run", "--out", out}, tc.args...), "")
			if r.code != tc.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not say %q:\n%s", s, r.stderr)
				}
			}
			if tc.out != nil {
				if diff := cmp.Diff(*tc.out, readOutcome(t, out)); diff != "" {
					t.Errorf("experiment (-want +got):\n%s", diff)
				}
			}
		})
	}
}
