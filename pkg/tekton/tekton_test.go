package tekton

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func task(mutate func(*v1.Task)) *v1.Task {
	t := &v1.Task{
		TypeMeta:   metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "Task"},
		ObjectMeta: metav1.ObjectMeta{Name: "t"},
		Spec: v1.TaskSpec{
			Params: v1.ParamSpecs{{Name: "x", Type: v1.ParamTypeString}},
			Steps:  []v1.Step{{Name: "s", Image: "img:1", Command: []string{"/bin"}, Args: []string{"$(params.x)"}}},
		},
	}
	if mutate != nil {
		mutate(t)
	}
	return t
}

func TestValidate(t *testing.T) {
	orig := task(nil)
	if err := ValidateTask(orig); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(task(nil), orig); d != "" {
		t.Errorf("Validate changed its argument (-want +got):\n%s", d)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		task *v1.Task
		want string
	}{{
		name: "undeclared param",
		task: task(func(t *v1.Task) { t.Spec.Steps[0].Args = []string{"$(params.nope)"} }),
		want: `non-existent variable in "$(params.nope)"`,
	}, {
		name: "bad result name",
		task: task(func(t *v1.Task) { t.Spec.Results = []v1.TaskResult{{Name: "Bad_Result!"}} }),
		want: "invalid key name",
	}, {
		name: "beta feature (step workspaces) rejected under stable",
		task: task(func(t *v1.Task) {
			t.Spec.Workspaces = []v1.WorkspaceDeclaration{{Name: "w"}}
			t.Spec.Steps[0].Workspaces = []v1.WorkspaceUsage{{Name: "w", MountPath: "/w"}}
		}),
		want: `enable-api-fields "stable"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTask(tt.task)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateTask() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidatePipelineRunGenerateName(t *testing.T) {
	pr := &v1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "run-"},
		Spec:       v1.PipelineRunSpec{PipelineRef: &v1.PipelineRef{Name: "p"}},
	}
	if err := ValidatePipelineRun(pr); err != nil {
		t.Errorf("ValidatePipelineRun() = %v", err)
	}
	if pr.Name != "" {
		t.Errorf("ValidatePipelineRun named its argument %q", pr.Name)
	}
}

func TestMarshalYAML(t *testing.T) {
	got, err := MarshalYAML(task(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: t
spec:
  params:
  - name: x
    type: string
  steps:
  - args:
    - $(params.x)
    command:
    - /bin
    image: img:1
    name: s
`
	if d := cmp.Diff(want, string(got)); d != "" {
		t.Errorf("MarshalYAML (-want +got):\n%s", d)
	}
}

func TestDecodeStrict(t *testing.T) {
	var got v1.Task
	if err := DecodeStrict([]byte("kind: Task\nspec:\n  steps:\n  - name: s\n    command: [a]\n"), &got); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a"}, got.Spec.Steps[0].Command); d != "" {
		t.Errorf("command (-want +got):\n%s", d)
	}
}

func TestDecodeStrictErrors(t *testing.T) {
	for _, in := range []string{
		"kind: Task\nspec:\n  steps:\n  - name: s\n    comand: [a]\n",
		"kind: Task\nkind: Task\n",
	} {
		var got v1.Task
		if err := DecodeStrict([]byte(in), &got); err == nil {
			t.Errorf("DecodeStrict(%q) succeeded", in)
		}
	}
}

func TestSplitDocuments(t *testing.T) {
	docs, err := SplitDocuments([]byte("# header\n---\na: 1\n---\n# only a comment\n---\nb: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, strings.TrimSpace(string(d)))
	}
	if d := cmp.Diff([]string{"a: 1", "b: 2"}, got); d != "" {
		t.Errorf("documents (-want +got):\n%s", d)
	}
}
