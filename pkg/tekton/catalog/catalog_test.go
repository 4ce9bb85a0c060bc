package catalog

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/tekton"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const root = "../../.."

// TestCommittedFilesAreCurrent fails when catalog/ or config/tekton/ differ from what
// `go run ./tasks/gen` writes.
func TestCommittedFilesAreCurrent(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v; run `make generate`", p, err)
			continue
		}
		if d := cmp.Diff(string(want), string(got)); d != "" {
			t.Errorf("%s is stale; run `make generate` (-want +got):\n%s", p, d)
		}
	}
	stale, err := Stale(root, files)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Errorf("generated files that gen no longer writes: %v; run `make generate`", stale)
	}
}

// TestLayout checks the TEP-0115 layout: <kind>/<name>/<name>.yaml, README.md, samples/
// and tests/ for every resource, and the resource's name equal to its directory's.
func TestLayout(t *testing.T) {
	for _, kind := range []string{"task", "pipeline"} {
		dirs, err := os.ReadDir(filepath.Join(root, "catalog", kind))
		if err != nil {
			t.Fatal(err)
		}
		if len(dirs) == 0 {
			t.Errorf("catalog/%s is empty", kind)
		}
		for _, d := range dirs {
			dir := filepath.Join(root, "catalog", kind, d.Name())
			for _, f := range []string{d.Name() + ".yaml", "README.md", "samples", "tests"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("catalog/%s/%s: %v", kind, d.Name(), err)
				}
			}
			b, err := os.ReadFile(filepath.Join(dir, d.Name()+".yaml"))
			if err != nil {
				continue
			}
			var m metav1.PartialObjectMetadata
			if err := yaml.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if m.Name != d.Name() || !strings.EqualFold(m.Kind, kind) {
				t.Errorf("catalog/%s/%s/%s.yaml holds %s %q", kind, d.Name(), d.Name(), m.Kind, m.Name)
			}
		}
	}
}

// TestEveryYAMLDecodesStrictlyAndValidates reads every YAML file of catalog/ and
// config/tekton/ as a user would apply it, decodes each document strictly and runs
// Tekton's validation on the Tekton objects.
func TestEveryYAMLDecodesStrictlyAndValidates(t *testing.T) {
	var paths []string
	for _, dir := range []string{"catalog", ConfigDir} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") && d.Name() != "kustomization.yaml" {
				paths = append(paths, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(paths)
	kinds := map[string]int{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := tekton.SplitDocuments(b)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for i, d := range docs {
			kind, err := decodeAndValidate(d)
			if err != nil {
				t.Errorf("%s, document %d: %v", p, i, err)
			}
			kinds[kind]++
		}
	}
	want := map[string]int{"Task": 8, "Pipeline": 2, "PipelineRun": 6, "TaskRun": 4, "Experiment": 5}
	if d := cmp.Diff(want, kinds); d != "" {
		t.Errorf("kinds of the documents (-want +got):\n%s", d)
	}
}

func decodeAndValidate(b []byte) (string, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(b, &tm); err != nil {
		return "", err
	}
	switch tm.Kind {
	case "Task":
		var o v1.Task
		if err := tekton.DecodeStrict(b, &o); err != nil {
			return tm.Kind, err
		}
		return tm.Kind, tekton.ValidateTask(&o)
	case "Pipeline":
		var o v1.Pipeline
		if err := tekton.DecodeStrict(b, &o); err != nil {
			return tm.Kind, err
		}
		return tm.Kind, tekton.ValidatePipeline(&o)
	case "PipelineRun":
		var o v1.PipelineRun
		if err := tekton.DecodeStrict(b, &o); err != nil {
			return tm.Kind, err
		}
		return tm.Kind, tekton.ValidatePipelineRun(&o)
	case "TaskRun":
		var o v1.TaskRun
		if err := tekton.DecodeStrict(b, &o); err != nil {
			return tm.Kind, err
		}
		return tm.Kind, tekton.ValidateTaskRun(&o)
	case "Experiment":
		exp, err := v2alpha1.DecodeExperiment(b)
		if err != nil {
			return tm.Kind, err
		}
		if fe := exp.Validate(); fe != nil {
			return tm.Kind, fe
		}
		return tm.Kind, nil
	}
	return tm.Kind, nil
}

// TestRBAC decodes config/rbac strictly and checks that the bindings grant the roles to
// the ServiceAccount that PipelineRuns use.
func TestRBAC(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(root, "config/rbac/*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	shared, err := filepath.Glob(filepath.Join(root, "config/rbac/shared/*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, shared...)
	var bound []string
	for _, p := range paths {
		if filepath.Base(p) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := tekton.SplitDocuments(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(d, &tm); err != nil {
				t.Fatal(err)
			}
			var obj any
			switch tm.Kind {
			case "ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "Role", "ClusterRole":
				obj = &rbacv1.Role{}
			case "RoleBinding", "ClusterRoleBinding":
				rb := &rbacv1.RoleBinding{}
				if err := tekton.DecodeStrict(d, rb); err != nil {
					t.Errorf("%s: %v", p, err)
					continue
				}
				for _, s := range rb.Subjects {
					if s.Kind != "ServiceAccount" || s.Name != tekton.ServiceAccount || s.Namespace == "" {
						t.Errorf("%s: %s %s binds %+v", p, tm.Kind, rb.Name, s)
					}
				}
				bound = append(bound, tm.Kind+"/"+rb.RoleRef.Kind+"/"+rb.RoleRef.Name)
				continue
			default:
				t.Errorf("%s: unexpected kind %q", p, tm.Kind)
				continue
			}
			if err := tekton.DecodeStrict(d, obj); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	sort.Strings(bound)
	// No cluster-wide grant: the shared Metrics are read through a Role in each of their
	// namespaces.
	want := []string{"RoleBinding/Role/iter8-tekton", "RoleBinding/Role/iter8-tekton-metrics", "RoleBinding/Role/iter8-tekton-metrics", "RoleBinding/Role/iter8-tekton-metrics", "RoleBinding/Role/iter8-tekton-secrets"}
	if d := cmp.Diff(want, bound); d != "" {
		t.Errorf("bindings (-want +got):\n%s", d)
	}
}

// TestGeneratedObjectsHaveNoStatus: what a user applies has no status (a sample TaskRun
// used to carry status: {podName: ""}), and every PipelineTask and Task has a displayName.
func TestGeneratedObjectsHaveNoStatus(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range files {
		if !strings.HasSuffix(p, ".yaml") {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line == "status:" {
				t.Errorf("%s has a status", p)
			}
		}
	}
	for _, p := range []string{"catalog/pipeline/iter8-experiment/iter8-experiment.yaml", "catalog/task/iter8-assess/iter8-assess.yaml"} {
		var obj struct {
			Spec struct {
				DisplayName string `json:"displayName"`
				Tasks       []struct {
					Name, DisplayName string
				} `json:"tasks"`
				Finally []struct {
					Name, DisplayName string
				} `json:"finally"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(files[p], &obj); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if strings.Contains(p, "/task/") && obj.Spec.DisplayName == "" {
			t.Errorf("%s has no displayName", p)
		}
		for _, pt := range append(obj.Spec.Tasks, obj.Spec.Finally...) {
			if pt.DisplayName == "" {
				t.Errorf("%s: pipeline task %s has no displayName", p, pt.Name)
			}
		}
	}
}
