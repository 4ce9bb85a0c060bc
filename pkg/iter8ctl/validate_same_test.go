package iter8ctl

import (
	"strings"
	"testing"
)

// TestValidateRejectsWhatInitRejects: iter8ctl validate runs the checks init runs, so each
// of these is refused by validate and by run (which stops before init), with the field
// named. A new case is one line.
func TestValidateRejectsWhatInitRejects(t *testing.T) {
	base := mustRead(t, abExample)
	const hook = "    deploymentPattern: FixedSplit\n"
	withAction := func(task string) string {
		return strings.Replace(base, hook, hook+"    actions:\n      finish:\n      - "+task+"\n", 1)
	}
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"unterminated {{ in run", withAction(`run: "echo {{ .name"`), "spec.strategy.actions.finish[0].run"},
		{"an undefined template function in with.args", withAction(`{task: common/exec, with: {cmd: echo, args: ["{{ nope .name }}"]}}`), "spec.strategy.actions.finish[0].with.args[0]"},
		{"a file: URL in notification/http", withAction(`{task: notification/http, with: {url: "file:///etc/passwd"}}`), "spec.strategy.actions.finish[0].with.url"},
		{"connections: 0 in metrics/collect", withAction(`{task: metrics/collect, with: {connections: 0, versions: [{name: shop-a, url: "http://127.0.0.1:1/"}]}}`), "spec.strategy.actions.finish[0].with.connections"},
		{"an invalid if expression", withAction(`{task: notification/http, if: "WinnerFound(", with: {url: "http://127.0.0.1:1/"}}`), "spec.strategy.actions.finish[0].if"},
		{"a missing with.cmd", withAction(`{task: common/exec, with: {args: [x]}}`), "spec.strategy.actions.finish[0].with.cmd"},
		{"an unknown task", withAction(`{task: common/bash}`), "spec.strategy.actions.finish[0].task"},
		{"65536 x 65536 iterations", strings.Replace(base, "iterationsPerLoop: 3", "iterationsPerLoop: 65536\n    maxLoops: 65536", 1), "spec.duration.iterationsPerLoop"},
		{"a version name that is a flag", strings.Replace(base, "- name: shop-b", "- name: --output=/tmp/x", 1), "spec.versionInfo.candidates[0].name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.doc == base {
				t.Fatal("the case did not change the example")
			}
			f := writeFile(t, "exp.yaml", tc.doc)
			v := runMain([]string{"validate", "-f", f}, "")
			if v.code == ExitOK || !strings.Contains(v.stdout+v.stderr, tc.field) {
				t.Errorf("validate: exit %d, want an error naming %s; output:\n%s%s", v.code, tc.field, v.stdout, v.stderr)
			}
			r := runMain([]string{"run", "--allow-exec", "--interval-seconds", "1", "-f", f, "-f", abMetricsExample}, "")
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.field) {
				t.Errorf("run: exit %d, want %d and an error naming %s; stderr:\n%s", r.code, ExitUsage, tc.field, r.stderr)
			}
		})
	}
}
