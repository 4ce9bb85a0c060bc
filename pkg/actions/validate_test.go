package actions_test

import (
	"strings"
	"testing"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
)

// allTasks is an experiment that uses every task with valid inputs.
const allTasks = `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: all-tasks
  namespace: default
spec:
  target: default/sample-app
  strategy:
    testingPattern: Canary
    actions:
      start:
      - task: knative/init-experiment
        with: {numAttempts: 3, periodSeconds: 1}
      - task: common/readiness
        with:
          initialDelaySeconds: 0
          numRetries: 2
          intervalSeconds: 1
          objRefs:
          - {kind: deploy, name: app-v2, namespace: default, waitFor: condition=Available}
          - {kind: services.v1.serving.knative.dev, name: sample-app, waitFor: Ready}
      - task: metrics/collect
        with:
          time: 5s
          versions:
          - {name: baseline, url: "http://app-v1.default/", headers: {Host: example.com}}
      loop:
      - task: metrics/collect
        with: {numQueries: 10, qps: 2.5, connections: 1, loadOnly: true, payloadStr: x, contentType: text/plain, versions: [{name: a, url: "https://a/"}]}
      finish:
      - task: common/exec
        if: CandidateWon()
        with: {cmd: kubectl, args: [apply, -f, "{{ .promote }}", 3, true]}
      - run: kubectl apply -f {{ .name }}.yaml
        if: not CandidateWon()
      - run: echo '{{'
        with: {disableInterpolation: true}
      - task: notification/http
        with:
          url: https://hooks.example.com/x
          method: post
          authType: Bearer
          secret: token
          headers: [{name: X-Winner, value: "@< .summary.winner >@"}]
          body: '{"text": "@< .this.metadata.name >@"}'
          ignoreFailure: false
      - library: notification
        task: http
        with: {URL: "http://localhost/"}
`

func TestValidate(t *testing.T) {
	for name, yaml := range map[string]string{"all tasks": allTasks} {
		t.Run(name, func(t *testing.T) {
			if err := actions.Validate(experiment(t, yaml)); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	t.Run("seed", func(t *testing.T) {
		if err := actions.Validate(seedExperiment(t)); err != nil {
			t.Errorf("Validate(seed): %v", err)
		}
	})
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name  string
		tasks string // the finish action
		want  []string
	}{{
		name:  "exec without cmd",
		tasks: `[{task: common/exec, with: {args: [a]}}]`,
		want:  []string{"missing field(s): spec.strategy.actions.finish[0].with.cmd"},
	}, {
		name:  "exec with cmd of the wrong type",
		tasks: `[{task: common/exec}, {task: common/exec, with: {cmd: [a]}}]`,
		want:  []string{"spec.strategy.actions.finish[0].with.cmd", "invalid value: [\"a\"]: spec.strategy.actions.finish[1].with.cmd"},
	}, {
		name:  "exec with a bad template",
		tasks: `[{task: common/exec, with: {cmd: x, args: [a, "{{ .x"]}}]`,
		want:  []string{"spec.strategy.actions.finish[0].with.args[1]", "unclosed action"},
	}, {
		name:  "exec with an object argument",
		tasks: `[{task: common/exec, with: {cmd: x, args: [a, {b: c}]}}]`,
		want:  []string{"spec.strategy.actions.finish[0].with.args[1]"},
	}, {
		name:  "unknown with key",
		tasks: `[{task: common/exec, with: {cmd: x, argz: [a]}}]`,
		want:  []string{"must not set the field(s): spec.strategy.actions.finish[0].with.argz"},
	}, {
		name:  "if does not compile",
		tasks: `[{task: common/exec, with: {cmd: x}}, {task: common/exec, if: "CandidateWon(", with: {cmd: x}}]`,
		want:  []string{"spec.strategy.actions.finish[1].if"},
	}, {
		name:  "if is not a bool",
		tasks: `[{run: echo, if: "1 + 1"}]`,
		want:  []string{"spec.strategy.actions.finish[0].if", "expected bool"},
	}, {
		name:  "run with a pipe",
		tasks: `[{run: "kubectl get pods | grep x"}]`,
		want:  []string{"spec.strategy.actions.finish[0].run", "without a shell"},
	}, {
		name:  "run with a templated command",
		tasks: `[{run: "{{ .cmd }} x"}]`,
		want:  []string{"spec.strategy.actions.finish[0].run", "command name cannot be templated"},
	}, {
		name:  "run without a command",
		tasks: `[{run: "# nothing"}]`,
		want:  []string{"spec.strategy.actions.finish[0].run", "no command"},
	}, {
		name:  "run with unknown with",
		tasks: `[{run: echo, with: {secret: x}}]`,
		want:  []string{"spec.strategy.actions.finish[0].with.secret"},
	}, {
		name:  "http without url",
		tasks: `[{task: notification/http, with: {method: POST}}]`,
		want:  []string{"missing field(s): spec.strategy.actions.finish[0].with.url"},
	}, {
		name:  "http with bad fields",
		tasks: `[{task: notification/http, with: {url: "ftp://x", method: DELETE, authType: Token, secret: "a/b/c", headers: [{value: x}, {name: a, value: "@< .x"}], body: "@< if >@", ignoreFailure: "no"}}]`,
		want: []string{
			"invalid value: ftp://x: spec.strategy.actions.finish[0].with.url",
			"invalid value: DELETE: spec.strategy.actions.finish[0].with.method",
			"invalid value: Token: spec.strategy.actions.finish[0].with.authType",
			"invalid value: a/b/c: spec.strategy.actions.finish[0].with.secret",
			"spec.strategy.actions.finish[0].with.headers[0].name",
			"spec.strategy.actions.finish[0].with.headers[1].value",
			"spec.strategy.actions.finish[0].with.body",
			"spec.strategy.actions.finish[0].with.ignoreFailure",
		},
	}, {
		name:  "http auth without secret",
		tasks: `[{task: notification/http, with: {url: "http://x/", authType: Basic}}]`,
		want:  []string{"authType Basic needs a secret: spec.strategy.actions.finish[0].with.secret"},
	}, {
		name:  "collect without versions",
		tasks: `[{task: metrics/collect, with: {qps: 1}}, {task: metrics/collect, with: {versions: []}}]`,
		want:  []string{"spec.strategy.actions.finish[0].with.versions", "spec.strategy.actions.finish[1].with.versions"},
	}, {
		name:  "collect with bad fields",
		tasks: `[{task: metrics/collect, with: {numQueries: 0, time: 5, qps: 0, connections: 0, payloadURL: "x", versions: [{url: "http://a/"}, {name: b, url: "b"}, {name: b, url: "http://b/"}, {name: c, url: "http://c/", extra: 1}]}}]`,
		want: []string{
			"spec.strategy.actions.finish[0].with.numQueries",
			"spec.strategy.actions.finish[0].with.time",
			"spec.strategy.actions.finish[0].with.qps",
			"spec.strategy.actions.finish[0].with.connections",
			"spec.strategy.actions.finish[0].with.payloadURL",
			"spec.strategy.actions.finish[0].with.versions",
		},
	}, {
		name:  "collect with bad version entries",
		tasks: `[{task: metrics/collect, with: {versions: [{url: "http://a/"}, {name: b, url: "b"}, {name: b, url: "http://b/"}]}}]`,
		want: []string{
			"missing field(s): spec.strategy.actions.finish[0].with.versions[0].name",
			"invalid value: b: spec.strategy.actions.finish[0].with.versions[1].url",
			`duplicate version name "b": spec.strategy.actions.finish[0].with.versions[2].name`,
		},
	}, {
		name:  "collect with a bad duration",
		tasks: `[{task: metrics/collect, with: {time: "-1s", versions: [{name: a, url: "http://a/"}]}}]`,
		want:  []string{"invalid value: -1s: spec.strategy.actions.finish[0].with.time"},
	}, {
		name:  "readiness with bad fields",
		tasks: `[{task: common/readiness, with: {initialDelaySeconds: -1, numRetries: -1, intervalSeconds: 1.5, objRefs: [{name: Bad_Name}, {kind: deploy, name: x, namespace: a.b, waitFor: "condition="}]}}]`,
		want: []string{
			"spec.strategy.actions.finish[0].with.initialDelaySeconds",
			"spec.strategy.actions.finish[0].with.numRetries",
			"spec.strategy.actions.finish[0].with.intervalSeconds",
			"missing field(s): spec.strategy.actions.finish[0].with.objRefs[0].kind",
			"invalid value: Bad_Name: spec.strategy.actions.finish[0].with.objRefs[0].name",
			"invalid value: a.b: spec.strategy.actions.finish[0].with.objRefs[1].namespace",
			"invalid value: condition=: spec.strategy.actions.finish[0].with.objRefs[1].waitFor",
		},
	}, {
		name:  "init-experiment with bad fields",
		tasks: `[{library: knative, task: init-experiment, with: {numAttempts: 0, periodSeconds: -1, indexes: [0]}}]`,
		want: []string{
			"spec.strategy.actions.finish[0].with.numAttempts",
			"spec.strategy.actions.finish[0].with.periodSeconds",
			"spec.strategy.actions.finish[0].with.indexes",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := experiment(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: x}
spec:
  target: default/x
  strategy:
    testingPattern: Conformance
    actions:
      finish: `+tc.tasks)
			err := actions.Validate(exp)
			if err == nil {
				t.Fatalf("Validate succeeded, want errors %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// Validate leaves out what v2alpha1's Validate reports (unknown tasks, task and run both
// or neither), so that the two combine without repeating an error.
func TestValidateLeavesTaskFormToTheAPI(t *testing.T) {
	exp := experiment(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: x}
spec:
  target: default/x
  strategy:
    testingPattern: Conformance
    actions:
      start: [{task: common/nope}, {task: common/exec, run: echo}, {if: "true"}, {run: "  "}]
`)
	if err := actions.Validate(exp); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := exp.Validate(); err == nil {
		t.Error("v2alpha1 Validate accepted an unknown task; then actions.Validate must report it")
	}
}
