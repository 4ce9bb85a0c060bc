package iter8ctl

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/tekton"
)

func TestPipelineRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantNS     string
		wantSA     string
		wantParams map[string]string
		wantTasks  int
	}{{
		name:       "seed file, defaults",
		args:       []string{"pipelinerun", "-f", seedFile},
		wantNS:     "default",
		wantSA:     "iter8-tekton",
		wantParams: map[string]string{"experiment": "mirroring", "namespace": "default"},
		wantTasks:  1 + 2*7,
	}, {
		name: "object from the cluster on stdin, test flags",
		args: []string{"pipelinerun", "-f", "-", "-n", "ci", "--service-account", "runner",
			"--image", "localhost/iter8-tekton/stages:e2e", "--image-pull-policy", "Never", "--interval-seconds", "2"},
		stdin:  strings.Replace(mustRead(t, seedFile), "metadata:\n  name: mirroring\n", kubectlMetadata, 1),
		wantNS: "ci",
		wantSA: "runner",
		wantParams: map[string]string{"experiment": "mirroring", "namespace": "default", "interval-seconds": "2",
			"image": "localhost/iter8-tekton/stages:e2e", "image-pull-policy": "Never"},
		wantTasks: 1 + 2*7,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := runPipelineRun(t, tt.args, tt.stdin)
			if pr.Namespace != tt.wantNS || pr.Spec.TaskRunTemplate.ServiceAccountName != tt.wantSA {
				t.Errorf("namespace %q, serviceAccountName %q; want %q, %q", pr.Namespace, pr.Spec.TaskRunTemplate.ServiceAccountName, tt.wantNS, tt.wantSA)
			}
			params := map[string]string{}
			for _, p := range pr.Spec.Params {
				params[p.Name] = p.Value.StringVal
			}
			if d := cmp.Diff(tt.wantParams, params); d != "" {
				t.Errorf("params (-want +got):\n%s", d)
			}
			if pr.Spec.PipelineSpec == nil || len(pr.Spec.PipelineSpec.Tasks) != tt.wantTasks {
				t.Errorf("want an embedded pipelineSpec with %d tasks", tt.wantTasks)
			}
			if pr.Spec.Timeouts == nil || pr.Spec.Timeouts.Pipeline == nil || pr.Spec.Timeouts.Finally == nil {
				t.Errorf("timeouts = %+v", pr.Spec.Timeouts)
			}
		})
	}
}

// TestPipelineRunWithoutInlineSpec: for clusters whose disable-inline-spec forbids an
// inline pipelineSpec, -o pipeline prints the Pipeline of the experiment's size and
// --pipeline-ref a PipelineRun that references it by name.
func TestPipelineRunWithoutInlineSpec(t *testing.T) {
	r := runMain([]string{"pipelinerun", "-f", seedFile, "-o", "pipeline"}, "")
	if r.code != ExitOK {
		t.Fatalf("-o pipeline: exit code %d, stderr %q", r.code, r.stderr)
	}
	var p v1.Pipeline
	if err := tekton.DecodeStrict([]byte(r.stdout), &p); err != nil {
		t.Fatal(err)
	}
	if err := tekton.ValidatePipeline(&p); err != nil {
		t.Error(err)
	}
	if diff := cmp.Diff([]any{"iter8-experiment-7", "default", 1 + 2*7}, []any{p.Name, p.Namespace, len(p.Spec.Tasks)}); diff != "" {
		t.Errorf("pipeline name, namespace, tasks (-want +got):\n%s", diff)
	}

	r = runMain([]string{"pipelinerun", "-f", seedFile, "--pipeline-ref"}, "")
	if r.code != ExitOK {
		t.Fatalf("--pipeline-ref: exit code %d, stderr %q", r.code, r.stderr)
	}
	var pr v1.PipelineRun
	if err := tekton.DecodeStrict([]byte(r.stdout), &pr); err != nil {
		t.Fatal(err)
	}
	if err := tekton.ValidatePipelineRun(&pr); err != nil {
		t.Error(err)
	}
	if pr.Spec.PipelineSpec != nil || pr.Spec.PipelineRef == nil || pr.Spec.PipelineRef.Name != p.Name {
		t.Errorf("pipelineSpec %v, pipelineRef %+v; want no spec and a reference to %s", pr.Spec.PipelineSpec != nil, pr.Spec.PipelineRef, p.Name)
	}
}

// TestPipelineRunBundle: --bundle references the catalog Pipeline of a release's bundle
// through Tekton's bundles resolver, and the PipelineRun validates under Tekton's default
// feature flags.
func TestPipelineRunBundle(t *testing.T) {
	const ref = "ghcr.io/iter8-tools/iter8-tekton/pipeline@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pr := runPipelineRun(t, []string{"pipelinerun", "-f", seedFile, "--bundle", ref}, "")
	got := map[string]string{}
	if ref := pr.Spec.PipelineRef; ref != nil {
		got["resolver"] = string(ref.Resolver)
		for _, p := range ref.Params {
			got[p.Name] = p.Value.StringVal
		}
	}
	want := map[string]string{"resolver": "bundles", "bundle": ref, "name": "iter8-experiment", "kind": "pipeline"}
	if d := cmp.Diff(want, got); d != "" || pr.Spec.PipelineSpec != nil {
		t.Errorf("pipelineRef (-want +got):\n%s\npipelineSpec embedded: %v", d, pr.Spec.PipelineSpec != nil)
	}
}

func TestPipelineRunErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		wantErr  string
	}{{
		name:     "no file",
		args:     []string{"pipelinerun"},
		wantCode: ExitUsage,
		wantErr:  "flag -f is required",
	}, {
		name:     "bad pull policy",
		args:     []string{"pipelinerun", "-f", seedFile, "--image-pull-policy", "Sometimes"},
		wantCode: ExitUsage,
		wantErr:  `invalid --image-pull-policy "Sometimes"`,
	}, {
		name:     "bad output",
		args:     []string{"pipelinerun", "-f", seedFile, "-o", "taskrun"},
		wantCode: ExitUsage,
		wantErr:  `invalid --output "taskrun": want pipelinerun or pipeline`,
	}, {
		name:     "too many iterations",
		args:     []string{"pipelinerun", "-f", "-"},
		stdin:    strings.Replace(mustRead(t, seedFile), "iterationsPerLoop: 7", "iterationsPerLoop: 500", 1),
		wantCode: ExitError,
		wantErr:  "iterations must be between 1 and 200, not 500",
	}, {
		name:     "bundle with -o pipeline",
		args:     []string{"pipelinerun", "-f", seedFile, "--bundle", "r/pipeline@sha256:00", "-o", "pipeline"},
		wantCode: ExitUsage,
		wantErr:  `--bundle "r/pipeline@sha256:00": the bundle brings the Pipeline; it excludes --pipeline-ref and -o pipeline`,
	}, {
		name:     "bundle of a Pipeline shorter than the experiment",
		args:     []string{"pipelinerun", "-f", "-", "--bundle", "r/pipeline@sha256:00"},
		stdin:    strings.Replace(mustRead(t, seedFile), "iterationsPerLoop: 7", "iterationsPerLoop: 31", 1),
		wantCode: ExitError,
		wantErr:  `experiment "mirroring" has 31 iterations: the Pipeline of the bundle runs at most 30`,
	}, {
		name:     "not an experiment",
		args:     []string{"pipelinerun", "-f", "-"},
		stdin:    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
		wantCode: ExitError,
		wantErr:  "decoding experiment from stdin",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runMain(tt.args, tt.stdin)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("exit code %d, stderr %q; want %d and %q", r.code, r.stderr, tt.wantCode, tt.wantErr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

// TestPipelineRunReportClaim: --report-claim binds the report workspace to the claim.
func TestPipelineRunReportClaim(t *testing.T) {
	pr := runPipelineRun(t, []string{"pipelinerun", "-f", seedFile, "--report-claim", "iter8-reports"}, "")
	if len(pr.Spec.Workspaces) != 1 || pr.Spec.Workspaces[0].Name != "report" || pr.Spec.Workspaces[0].PersistentVolumeClaim == nil ||
		pr.Spec.Workspaces[0].PersistentVolumeClaim.ClaimName != "iter8-reports" {
		t.Errorf("workspaces = %+v, want report bound to the claim iter8-reports", pr.Spec.Workspaces)
	}
}

// runPipelineRun runs iter8ctl with args and stdin, and returns the PipelineRun it printed,
// which must decode strictly and pass Tekton's validation.
func runPipelineRun(t *testing.T, args []string, stdin string) v1.PipelineRun {
	t.Helper()
	r := runMain(args, stdin)
	if r.code != ExitOK {
		t.Fatalf("exit code %d, stderr %q", r.code, r.stderr)
	}
	var pr v1.PipelineRun
	if err := tekton.DecodeStrict([]byte(r.stdout), &pr); err != nil {
		t.Fatal(err)
	}
	if err := tekton.ValidatePipelineRun(&pr); err != nil {
		t.Error(err)
	}
	return pr
}
