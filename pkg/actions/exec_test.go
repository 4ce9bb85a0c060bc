package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// hostile are variable values that a shell would interpret.
var hostile = map[string]string{
	"semi":   "; rm -rf /",
	"subst":  "$(id)",
	"back":   "`id`",
	"spaces": "a b  c",
	"nl":     "line1\nline2",
	"quotes": `' " \`,
	"flag":   "--kubeconfig=/etc/shadow",
	"glob":   "*",
	"empty":  "",
}

// execExperiment is a Canary whose candidate, recommended for promotion, carries the
// hostile variables; the finish action is tasks.
func execExperiment(t *testing.T, tasks string) *v2alpha1.Experiment {
	t.Helper()
	exp := experiment(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: exec, namespace: default}
spec:
  target: default/app
  strategy:
    testingPattern: Canary
    actions:
      finish: `+tasks+`
  versionInfo:
    baseline: {name: current, variables: [{name: promote, value: baseline.yaml}]}
    candidates: [{name: candidate, variables: [{name: promote, value: candidate.yaml}]}]
status:
  versionRecommendedForPromotion: candidate
  analysis:
    winnerAssessment:
      provenance: test
      timestamp: "2026-01-01T00:00:00Z"
      data: {winnerFound: true, winner: candidate}
`)
	for _, k := range sortedKeys(hostile) {
		exp.Spec.VersionInfo.Candidates[0].Variables = append(exp.Spec.VersionInfo.Candidates[0].Variables, v2alpha1.NamedValue{Name: k, Value: hostile[k]})
	}
	return exp
}

func sortedKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

// helper is the path of the test binary, which prints its argv as JSON when run with
// ACTIONS_TEST_HELPER=argv.
func helper(t *testing.T, mode string) string {
	t.Helper()
	t.Setenv(helperEnv, mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// helperArgv finds the argv lines the helper printed.
func helperArgv(t *testing.T, out string) [][]string {
	t.Helper()
	var all [][]string
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "[") {
			continue
		}
		var argv []string
		if err := json.Unmarshal([]byte(line), &argv); err != nil {
			t.Fatalf("helper output %q: %v", line, err)
		}
		all = append(all, argv)
	}
	return all
}

func TestExecAndRun(t *testing.T) {
	exe := helper(t, "argv")
	q, _ := json.Marshal(exe)
	tests := []struct {
		name  string
		tasks string
		want  [][]string
	}{{
		name:  "exec: hostile values stay one argument each",
		tasks: `[{task: common/exec, with: {cmd: ` + string(q) + `, args: ["{{ .semi }}", "{{ .subst }}", "{{ .back }}", "{{ .spaces }}", "{{ .nl }}", "{{ .quotes }}", "{{ .flag }}", "{{ .glob }}", "{{ .empty }}", "x-{{ .spaces }}-{{ .semi }}"]}}]`,
		want:  [][]string{{"; rm -rf /", "$(id)", "`id`", "a b  c", "line1\nline2", `' " \`, "--kubeconfig=/etc/shadow", "*", "", "x-a b  c-; rm -rf /"}},
	}, {
		name:  "exec: name, variables, literals, numbers and booleans",
		tasks: `[{task: common/exec, with: {cmd: ` + string(q) + `, args: [apply, -f, "{{ .promote }}", "{{ .name }}", 3, 1.5, true, "{{ printf \"%q\" .spaces }}"]}}]`,
		want:  [][]string{{"apply", "-f", "candidate.yaml", "candidate", "3", "1.5", "true", `"a b  c"`}},
	}, {
		name:  "exec: disableInterpolation keeps placeholders",
		tasks: `[{task: common/exec, with: {cmd: ` + string(q) + `, disableInterpolation: true, args: ["{{ .promote }}", "{{ .nope }}"]}}]`,
		want:  [][]string{{"{{ .promote }}", "{{ .nope }}"}},
	}, {
		name:  "run: hostile values stay one argument each",
		tasks: `[{run: '` + exe + ` {{ .semi }} "{{ .subst }}" {{ .back }} {{ .spaces }} {{ .nl }} {{ .quotes }} {{ .glob }} {{ .empty }} a{{ .spaces }}b'}]`,
		want:  [][]string{{"; rm -rf /", "$(id)", "`id`", "a b  c", "line1\nline2", `' " \`, "*", "", "aa b  cb"}},
	}, {
		name:  "run: quotes and templates",
		tasks: `[{run: "` + exe + ` apply -f {{ .promote }} 'two words' \"{{ .name }} x\" --set=a={{ .name }}\n"}]`,
		want:  [][]string{{"apply", "-f", "candidate.yaml", "two words", "candidate x", "--set=a=candidate"}},
	}, {
		name:  "run: disableInterpolation",
		tasks: `[{run: "` + exe + ` {{ .nope }}", with: {disableInterpolation: true}}]`,
		want:  [][]string{{"{{ .nope }}"}},
	}, {
		name:  "tasks run in order, a false if skips",
		tasks: `[{run: "` + exe + ` 1"}, {run: "` + exe + ` 2", if: "not CandidateWon()"}, {run: "` + exe + ` 3", if: "not Failed()"}]`,
		want:  [][]string{{"1"}, {"3"}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			exp := execExperiment(t, tc.tasks)
			if err := actions.Run(context.Background(), actions.Env{Out: &out, Exec: actions.ExecPolicy{AllowAll: true}}, exp, "finish"); err != nil {
				t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
			}
			if diff := cmp.Diff(tc.want, helperArgv(t, out.String())); diff != "" {
				t.Errorf("argv (-want +got):\n%s\noutput:\n%s", diff, out.String())
			}
		})
	}
}

func TestExecAndRunErrors(t *testing.T) {
	exe := helper(t, "argv")
	q, _ := json.Marshal(exe)
	tests := []struct {
		name   string
		tasks  string
		mutate func(*v2alpha1.Experiment)
		want   string
	}{{
		name:   "no version recommended yet",
		tasks:  `[{task: common/exec, with: {cmd: ` + string(q) + `, args: ["{{ .promote }}"]}}]`,
		mutate: func(e *v2alpha1.Experiment) { e.Status.VersionRecommendedForPromotion = nil },
		want:   "finish action, task 0 (common/exec): no version is recommended for promotion yet",
	}, {
		name:   "recommended version not in versionInfo",
		tasks:  `[{run: "` + exe + ` {{ .promote }}"}]`,
		mutate: func(e *v2alpha1.Experiment) { s := "gone"; e.Status.VersionRecommendedForPromotion = &s },
		want:   `finish action, task 0 (run): version "gone", recommended for promotion, is not in spec.versionInfo`,
	}, {
		name:  "missing variable",
		tasks: `[{task: common/exec, with: {cmd: ` + string(q) + `, args: [a, "{{ .nope }}"]}}]`,
		want:  `finish action, task 0 (common/exec): interpolating argument 1: template: arg 1:1:3: executing "arg 1" at <.nope>: map has no entry for key "nope"`,
	}, {
		name:  "command not found",
		tasks: `[{run: "no-such-command-iter8 x"}]`,
		want:  `finish action, task 0 (run): executing no-such-command-iter8: exec: "no-such-command-iter8": executable file not found in $PATH`,
	}, {
		name:  "the first failure stops the action",
		tasks: `[{run: "` + exe + ` 1"}, {task: common/exec, with: {cmd: /bin/false}}, {run: "` + exe + ` 3"}]`,
		want:  "finish action, task 1 (common/exec): executing /bin/false: exit status 1",
	}, {
		name:  "an invalid task stops the action before anything runs",
		tasks: `[{run: "` + exe + ` 1"}, {run: "` + exe + ` 2"}, {run: "a | b"}]`,
		want:  "finish action, task 2 (run): invalid: invalid value: a | b: run",
	}, {
		name:  "an if that fails at run time",
		tasks: `[{run: "` + exe + ` 1", if: "Spec.VersionInfo.Candidates[3].Name == 'x'"}]`,
		want:  `finish action, task 0 (run): evaluating if "Spec.VersionInfo.Candidates[3].Name == 'x'": index out of range: 3 (array length is 1)`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			exp := execExperiment(t, tc.tasks)
			if tc.mutate != nil {
				tc.mutate(exp)
			}
			err := actions.Run(context.Background(), actions.Env{Out: &out, Exec: actions.ExecPolicy{AllowAll: true}}, exp, "finish")
			if err == nil {
				t.Fatalf("Run succeeded, want %q\noutput:\n%s", tc.want, out.String())
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Run error:\n%s\nwant it to start with:\n%s", err, tc.want)
			}
			if got := helperArgv(t, out.String()); len(got) > 1 {
				t.Errorf("tasks ran after the failure: %q", got)
			}
		})
	}
}

// A failing command's error quotes the end of its stderr.
func TestExecFailureQuotesStderr(t *testing.T) {
	exe := helper(t, "fail")
	var out bytes.Buffer
	exp := execExperiment(t, `[{run: "`+exe+` x"}]`)
	err := actions.Run(context.Background(), actions.Env{Out: &out, Exec: actions.ExecPolicy{AllowAll: true}}, exp, "finish")
	want := "finish action, task 0 (run): executing " + exe + ": exit status 3: helper: something broke"
	if err == nil || err.Error() != want {
		t.Errorf("Run error = %v, want %q", err, want)
	}
	if !strings.Contains(out.String(), "helper: something broke") {
		t.Errorf("the command's stderr is not in the output:\n%s", out.String())
	}
}

func TestRunLogsEveryDecision(t *testing.T) {
	exe := helper(t, "argv")
	var out bytes.Buffer
	exp := execExperiment(t, `[{run: "`+exe+` a", if: CandidateWon()}, {run: "`+exe+` b", if: "not CandidateWon()"}]`)
	if err := actions.Run(context.Background(), actions.Env{Out: &out, Exec: actions.ExecPolicy{AllowAll: true}}, exp, "finish"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`finish action, task 0 (run): if "CandidateWon()" is true`,
		"finish action, task 0 (run): running",
		"finish action, task 0 (run): executing " + `"` + exe + `" "a"`,
		"finish action, task 0 (run): done in ",
		`finish action, task 1 (run): skipped: if "not CandidateWon()" is false`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not contain %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := actions.Run(context.Background(), actions.Env{Out: &out, Exec: actions.ExecPolicy{AllowAll: true}}, exp, "start"); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "start action: no tasks\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}
