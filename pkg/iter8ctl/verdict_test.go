package iter8ctl

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// deadAddress is a loopback address where nothing listens: every connection is refused.
func deadAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestDeadMetricsBackendIsNotSuccess: Prometheus refuses every query for the whole run.
// The experiment was never judged, so it must not read as a success anywhere: not in its
// conditions, not in the exit status, not to iter8ctl assert -c noFailure.
func TestDeadMetricsBackendIsNotSuccess(t *testing.T) {
	const promSpec = "  type: Gauge\n  provider: prometheus\n  params: [{name: query, value: 'e{v=\"$name\"}'}]\n  jqExpression: .data.result[0].value[1] | tonumber\n"
	abMetrics := mustRead(t, abMetricsExample)
	for _, tc := range []struct {
		name    string
		metrics string
		// versions the message must name
		want []string
	}{{
		name: "every metric unreadable",
		metrics: strings.NewReplacer(
			"  type: Gauge\n  mock:\n  - name: shop-a\n    level: \"10\"\n  - name: shop-b\n    level: \"12.5\"\n", promSpec,
			"  type: Gauge\n  mock:\n  - name: shop-a\n    level: \"20\"\n  - name: shop-b\n    level: \"25\"\n", promSpec).Replace(abMetrics),
		want: []string{"user-engagement (shop-a, shop-b: error", "mean-latency (shop-a, shop-b: error"},
	}, {
		name: "the reward unreadable, the objective read",
		metrics: strings.Replace(abMetrics, "  type: Gauge\n  mock:\n  - name: shop-a\n    level: \"10\"\n  - name: shop-b\n    level: \"12.5\"\n",
			promSpec, 1),
		want: []string{"user-engagement (shop-a, shop-b: error"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if strings.Count(tc.metrics, "provider: prometheus") != len(tc.want) {
				t.Fatal("the test's metrics did not change: the example was edited")
			}
			out := filepath.Join(t.TempDir(), "out.yaml")
			r := runMain([]string{"run", "--interval-seconds", "1", "--out", out, "-f", abExample,
				"-f", writeFile(t, "metrics.yaml", tc.metrics), "--prometheus", "http://" + deadAddress(t)}, "")
			if r.code != ExitError {
				t.Errorf("exit code = %d, want %d (the experiment failed); stderr:\n%s", r.code, ExitError, r.stderr)
			}
			exp, err := v2alpha1.DecodeExperiment([]byte(mustRead(t, out)))
			if err != nil {
				t.Fatal(err)
			}
			c := exp.Status.Condition(v2alpha1.ConditionFailed)
			if c == nil || c.Status != "True" || c.Reason == nil || *c.Reason != v2alpha1.ReasonMetricsUnreadable {
				t.Fatalf("Failed condition = %+v, want True with reason %s", c, v2alpha1.ReasonMetricsUnreadable)
			}
			for _, w := range append(tc.want, "connection refused") {
				if !strings.Contains(*c.Message, w) {
					t.Errorf("Failed condition message %q does not say %q", *c.Message, w)
				}
			}
			if msg := *exp.Status.Message; strings.Contains(msg, "successfully") {
				t.Errorf("status message %q claims success", msg)
			}
			a := runMain([]string{"assert", "-f", out, "-c", "completed", "-c", "noFailure"}, "")
			if a.code == ExitOK {
				t.Errorf("iter8ctl assert -c completed -c noFailure passed an experiment whose metrics were unreadable:\n%s", a.stdout)
			}
		})
	}
}

// TestMissingRewardCrownsNoWinner: an A/B whose reward has no value for one version never
// compared the versions, so nobody wins and run exits ExitAimNotAchieved.
func TestMissingRewardCrownsNoWinner(t *testing.T) {
	t.Parallel()
	metrics := strings.Replace(mustRead(t, abMetricsExample), "  - name: shop-a\n    level: \"10\"\n", "", 1)
	if strings.Count(metrics, "name: shop-a") != 1 {
		t.Fatal("the test's metrics did not change: the example was edited")
	}
	out := filepath.Join(t.TempDir(), "out.yaml")
	r := runMain([]string{"run", "--interval-seconds", "1", "--out", out, "-f", abExample, "-f", writeFile(t, "metrics.yaml", metrics)}, "")
	if r.code != ExitAimNotAchieved {
		t.Errorf("exit code = %d, want %d; stderr:\n%s", r.code, ExitAimNotAchieved, r.stderr)
	}
	if got := readOutcome(t, out).Winner; got != "" {
		t.Errorf("winner = %q, want none: shop-a has no user-engagement value", got)
	}
	if want := "cannot be compared by reward user-engagement"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
	}
}

// TestHostileTextIsEscaped: names and messages with control characters (BEL, ESC
// sequences, a right-to-left override) reach the terminal escaped, from describe and from
// run's progress and error lines.
func TestHostileTextIsEscaped(t *testing.T) {
	t.Parallel()
	hostile := "\x1b[2J\a\u202e"
	// A Metric whose name carries the hostile text: run names it in its error.
	quoted := strconvQuote(hostile)
	hostileMetric := "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: \"x" + quoted[1:len(quoted)-1] + "\"}\nspec: {type: Gauge}\n"
	r := runMain([]string{"run", "--interval-seconds", "1", "-f", abExample, "-f", abMetricsExample, "-f", writeFile(t, "hostile.yaml", hostileMetric)}, "")
	for name, s := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		for _, c := range []string{"\x1b", "\a", "\u202e"} {
			if strings.Contains(s, c) {
				t.Errorf("%s holds %q raw:\n%s", name, c, s)
			}
		}
	}
	if !strings.Contains(r.stderr+r.stdout, `\x1b[2J\a\u202e`) {
		t.Errorf("the hostile text is not shown escaped; stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	d := runMain([]string{"describe", "-f", "-"}, describeHostile(hostile))
	for _, c := range []string{"\x1b", "\a", "\u202e"} {
		if strings.Contains(d.stdout, c) {
			t.Errorf("describe printed %q raw:\n%s", c, d.stdout)
		}
	}
	if !strings.Contains(d.stdout, `v\x1b[2J\a\u202e`) {
		t.Errorf("describe does not show the version name escaped:\n%s", d.stdout)
	}
}

func strconvQuote(s string) string { return fmt.Sprintf("%+q", s) }

// describeHostile is a completed Canary whose candidate has a hostile name, as an
// Experiment written by something that did not validate names.
func describeHostile(hostile string) string {
	name := "v" + hostile
	return fmt.Sprintf(`apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: hostile}
spec:
  target: default/app
  strategy: {testingPattern: Canary}
  criteria:
    objectives: [{metric: latency, upperLimit: 50}]
  versionInfo:
    baseline: {name: current}
    candidates: [{name: %q}]
status:
  stage: Completed
  completedIterations: 1
  conditions:
  - {type: Failed, status: "True", reason: Aborted, message: %q}
  analysis:
    aggregatedMetrics:
      data:
        latency:
          data:
            current: {value: 10, state: Value}
            %q: {value: 70, state: Value}
    versionAssessments:
      data:
        current: [true]
        %q: [false]
`, name, "stopped by "+hostile, name, name)
}

// TestExecNeedsAllowExec: an experiment file is not trusted to run commands as the user.
// Without --allow-exec (or with a list that does not name the command) run refuses it
// before anything runs, naming the field; with it the command runs.
func TestExecNeedsAllowExec(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "ran")
	exp := writeFile(t, "exec.yaml", strings.NewReplacer("iterationsPerLoop: 3", "iterationsPerLoop: 1",
		"    deploymentPattern: FixedSplit\n", "    deploymentPattern: FixedSplit\n    actions:\n      start:\n      - run: \"touch "+marker+"\"\n").Replace(mustRead(t, abExample)))
	for _, tc := range []struct {
		name string
		args []string
		code int
		ran  bool
	}{
		{"no flag", nil, ExitUsage, false},
		{"another command", []string{"--allow-exec=ls"}, ExitUsage, false},
		{"the command", []string{"--allow-exec=touch"}, ExitOK, true},
		{"any command", []string{"--allow-exec"}, ExitOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(marker)
			r := runMain(append([]string{"run", "--interval-seconds", "1", "-f", exp, "-f", abMetricsExample}, tc.args...), "")
			if r.code != tc.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			if _, err := os.Stat(marker); (err == nil) != tc.ran {
				t.Errorf("the command ran: %t, want %t", err == nil, tc.ran)
			}
			if !tc.ran && !strings.Contains(r.stderr, "spec.strategy.actions.start[0].run") {
				t.Errorf("stderr does not name the field:\n%s", r.stderr)
			}
		})
	}
}

// TestPrometheusURLIsCheckedFirst: prometheus metrics without urlTemplate and no
// --prometheus used to run all their iterations before failing; run stops before the
// first iteration and names the flag and the metrics.
func TestPrometheusURLIsCheckedFirst(t *testing.T) {
	t.Parallel()
	const promSpec = "  type: Gauge\n  provider: prometheus\n  params: [{name: query, value: 'e{v=\"$name\"}'}]\n  jqExpression: .data.result[0].value[1] | tonumber\n"
	metrics := strings.Replace(mustRead(t, abMetricsExample), "  type: Gauge\n  mock:\n  - name: shop-a\n    level: \"10\"\n  - name: shop-b\n    level: \"12.5\"\n", promSpec, 1)
	out := filepath.Join(t.TempDir(), "out.yaml")
	r := runMain([]string{"run", "--interval-seconds", "1", "--out", out, "-f", abExample, "-f", writeFile(t, "metrics.yaml", metrics)}, "")
	if r.code != ExitUsage {
		t.Errorf("exit code = %d, want %d; stderr:\n%s", r.code, ExitUsage, r.stderr)
	}
	for _, want := range []string{"--prometheus", "default/user-engagement"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "iterate 1") {
		t.Errorf("an iteration ran:\n%s", r.stderr)
	}
}
