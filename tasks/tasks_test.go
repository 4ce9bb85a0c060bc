package tasks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/iter8-tools/iter8-tekton/pkg/tekton"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

func TestAllValidate(t *testing.T) {
	for _, task := range All(DefaultOptions()) {
		if err := tekton.ValidateTask(task); err != nil {
			t.Errorf("%s: %v", task.Name, err)
		}
	}
}

// TestContract checks every Task against the contract of the stage binaries: the flags it
// passes, one --result per declared result, and a step that needs no shell and no registry.
func TestContract(t *testing.T) {
	want := map[string]struct {
		binary  string
		params  []string
		results []string
		flags   []string
	}{
		InitExperiment: {"/ko-app/init-experiment", []string{"experiment", "namespace", "pipelinerun", "image", "image-pull-policy"},
			[]string{"iterations", "target"}, []string{"--pipelinerun=$(params.pipelinerun)"}},
		Iterate: {"/ko-app/iterate", []string{"experiment", "namespace", "iteration", "interval-seconds", "image", "image-pull-policy"},
			[]string{"iteration"}, []string{"--iteration=$(params.iteration)", "--interval-seconds=$(params.interval-seconds)"}},
		Assess: {"/ko-app/assess", []string{"experiment", "namespace", "iteration", "interval-seconds", "image", "image-pull-policy"},
			[]string{"continue", "winner", "recommended", "iteration"}, []string{"--iteration=$(params.iteration)", "--interval-seconds=$(params.interval-seconds)"}},
		Finalize: {"/ko-app/finalize", []string{"experiment", "namespace", "pipeline-status", "image", "image-pull-policy"},
			[]string{"outcome", "winner", "recommended"}, []string{"--pipeline-status=$(params.pipeline-status)", "--report-dir=$(workspaces.report.path)"}},
	}
	all := All(Options{Image: "example.com/stages:v9", Version: "9.9.9"})
	if len(all) != len(want) {
		t.Fatalf("%d tasks, want %d", len(all), len(want))
	}
	for _, task := range all {
		w, ok := want[task.Name]
		if !ok {
			t.Errorf("unexpected task %s", task.Name)
			continue
		}
		var params, results []string
		for _, p := range task.Spec.Params {
			params = append(params, p.Name)
		}
		for _, r := range task.Spec.Results {
			results = append(results, r.Name)
		}
		if d := cmp.Diff(w.params, params); d != "" {
			t.Errorf("%s params (-want +got):\n%s", task.Name, d)
		}
		if d := cmp.Diff(w.results, results); d != "" {
			t.Errorf("%s results (-want +got):\n%s", task.Name, d)
		}
		if len(task.Spec.Steps) != 1 {
			t.Fatalf("%s has %d steps, want 1", task.Name, len(task.Spec.Steps))
		}
		s := task.Spec.Steps[0]
		wantArgs := append([]string{"--experiment=$(params.experiment)", "--namespace=$(params.namespace)", "--kubeconfig-dir=$(workspaces.kubeconfig.path)"}, w.flags...)
		if d := cmp.Diff(v1.WorkspaceDeclaration{Name: "kubeconfig", Description: kubeconfigDescription, ReadOnly: true, Optional: true}, task.Spec.Workspaces[0]); d != "" {
			t.Errorf("%s workspaces (-want +got):\n%s", task.Name, d)
		}
		for _, r := range w.results {
			wantArgs = append(wantArgs, fmt.Sprintf("--result=%s=$(results.%s.path)", r, r))
		}
		if d := cmp.Diff(wantArgs, s.Args); d != "" {
			t.Errorf("%s args (-want +got):\n%s", task.Name, d)
		}
		if d := cmp.Diff([]string{w.binary}, s.Command); d != "" {
			t.Errorf("%s command (-want +got):\n%s", task.Name, d)
		}
		if s.Script != "" || s.Image != "$(params.image)" || s.ImagePullPolicy != "$(params.image-pull-policy)" {
			t.Errorf("%s step: script %q image %q pull policy %q", task.Name, s.Script, s.Image, s.ImagePullPolicy)
		}
		if d := cmp.Diff(RestrictedSecurityContext(), s.SecurityContext); d != "" {
			t.Errorf("%s securityContext (-want +got):\n%s", task.Name, d)
		}
		for _, p := range task.Spec.Params {
			if p.Name == ParamImage && p.Default.StringVal != "example.com/stages:v9" {
				t.Errorf("%s image default = %q", task.Name, p.Default.StringVal)
			}
			if p.Name == ParamImagePullPolicy && p.Default.StringVal != "IfNotPresent" {
				t.Errorf("%s image-pull-policy default = %q", task.Name, p.Default.StringVal)
			}
			if p.Description == "" {
				t.Errorf("%s param %s has no description", task.Name, p.Name)
			}
		}
		if task.Labels["app.kubernetes.io/version"] != "9.9.9" {
			t.Errorf("%s version label = %q", task.Name, task.Labels["app.kubernetes.io/version"])
		}
		if !strings.Contains(task.Spec.Description, "\n\n") {
			t.Errorf("%s description lacks the summary line + blank line + body shape", task.Name)
		}
	}
}

func TestGetAndBinary(t *testing.T) {
	task, err := Get(Assess, DefaultOptions())
	if err != nil || task.Name != Assess {
		t.Errorf("Get(%q) = %v, %v", Assess, task, err)
	}
	if b, err := Binary(Finalize); err != nil || b != "/ko-app/finalize" {
		t.Errorf("Binary(%q) = %q, %v", Finalize, b, err)
	}
}

func TestGetAndBinaryErrors(t *testing.T) {
	if _, err := Get("iter8-nope", DefaultOptions()); err == nil {
		t.Error("Get of an unknown task succeeded")
	}
	if _, err := Binary("iter8-nope"); err == nil {
		t.Error("Binary of an unknown task succeeded")
	}
}
