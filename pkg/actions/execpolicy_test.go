package actions_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func policyExperiment(t *testing.T, actionsYAML string) *v2alpha1.Experiment {
	t.Helper()
	exp, err := v2alpha1.DecodeExperiment([]byte(`apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: e}
spec:
  target: default/app
  strategy:
    testingPattern: Conformance
    actions:
` + actionsYAML + `
  versionInfo: {baseline: {name: current}}
`))
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func TestCheckExec(t *testing.T) {
	const two = `      start:
      - {task: common/exec, with: {cmd: /usr/bin/touch, args: [x]}}
      finish:
      - run: "kubectl apply -f x"
      - {task: notification/http, with: {url: "http://127.0.0.1:1/"}}`
	for _, tc := range []struct {
		name   string
		policy actions.ExecPolicy
		want   []string // refused field paths
	}{
		{"nothing allowed by default", actions.ExecPolicy{}, []string{"spec.strategy.actions.finish[0].run", "spec.strategy.actions.start[0].with.cmd"}},
		{"allow all", actions.ExecPolicy{AllowAll: true}, nil},
		{"an allowlist", actions.ExecPolicy{Commands: []string{"kubectl"}}, []string{"spec.strategy.actions.start[0].with.cmd"}},
		{"an absolute path", actions.ExecPolicy{Commands: []string{"/usr/bin/touch", "kubectl"}}, nil},
		{"a bare name does not allow a path", actions.ExecPolicy{Commands: []string{"touch", "kubectl"}}, []string{"spec.strategy.actions.start[0].with.cmd"}},
		{"a path does not allow another", actions.ExecPolicy{Commands: []string{"/bin/touch", "kubectl"}}, []string{"spec.strategy.actions.start[0].with.cmd"}},
		{"parsed from the environment", actions.ParseExecAllowlist(" kubectl , ,/usr/bin/touch"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := actions.CheckExec(policyExperiment(t, two), tc.policy)
			var got []string
			for _, e := range fe.WrappedErrors() {
				got = append(got, e.Paths...)
				if !strings.Contains(e.Message, "is not allowed") || !strings.Contains(e.Message, "--allow-exec") {
					t.Errorf("message %q does not say how to allow the command", e.Message)
				}
			}
			sort.Strings(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("refused fields (-want +got):\n%s\nerror: %v", diff, fe)
			}
		})
	}
}

// TestRunDoesNotExecuteADisallowedCommand: whatever calls Run, a command the policy does
// not allow never starts.
func TestRunDoesNotExecuteADisallowedCommand(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	exp := policyExperiment(t, "      finish:\n      - {task: common/exec, with: {cmd: /usr/bin/touch, args: ["+marker+"]}}")
	err := actions.Run(context.Background(), actions.Env{}, exp, "finish")
	if err == nil || !strings.Contains(err.Error(), "is not allowed") {
		t.Errorf("Run error = %v, want the command refused", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("the command ran: %s exists", marker)
	}
	if err := actions.Run(context.Background(), actions.Env{Exec: actions.ExecPolicy{Commands: []string{"/usr/bin/touch"}}}, exp, "finish"); err != nil {
		t.Fatalf("Run with the command allowed: %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the allowed command did not run: %v", err)
	}
}
