package iter8ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

const (
	seedFile   = "../describe/testdata/seed-experiment.yaml"
	seedGolden = "../describe/testdata/seed.golden"
	canaryFile = "../describe/testdata/canary-rollback.yaml"
	abFile     = "../describe/testdata/ab-rewards.yaml"
)

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// kubectlMetadata is the metadata kubectl get -o yaml adds to the seed's experiment.
const kubectlMetadata = `metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"iter8.tools/v2alpha1","kind":"Experiment","metadata":{"annotations":{},"name":"mirroring","namespace":"default"}}
  creationTimestamp: "2021-02-24T21:20:30Z"
  generation: 2
  managedFields:
  - apiVersion: iter8.tools/v2alpha1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        .: {}
        f:target: {}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2021-02-24T21:20:30Z"
  name: mirroring
  namespace: default
  resourceVersion: "2764"
  uid: 2f3e7f8a-32b4-4a55-9e0f-6a1c4c1f5b0e
`

type result struct {
	code           int
	stdout, stderr string
}

func runMain(args []string, stdin string) result {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func TestCommandsSucceed(t *testing.T) {
	seedJSON, err := yaml.YAMLToJSON([]byte(mustRead(t, seedFile)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		stdout string
	}{{
		name:   "describe the seed from stdin",
		args:   []string{"describe", "-f", "-"},
		stdin:  mustRead(t, seedFile),
		stdout: mustRead(t, seedGolden),
	}, {
		name:   "describe the seed from a file",
		args:   []string{"describe", "--file", seedFile, "-o", "text"},
		stdout: mustRead(t, seedGolden),
	}, {
		name:   "describe what kubectl get -o yaml prints",
		args:   []string{"describe", "-f", "-"},
		stdin:  strings.Replace(mustRead(t, seedFile), "metadata:\n  name: mirroring\n", kubectlMetadata, 1),
		stdout: mustRead(t, seedGolden),
	}, {
		name:   "describe JSON input",
		args:   []string{"describe", "-f", "-"},
		stdin:  string(seedJSON),
		stdout: mustRead(t, seedGolden),
	}, {
		name:   "assert what holds",
		args:   []string{"assert", "-f", "-", "-c", "completed", "-c", "noFailure"},
		stdin:  mustRead(t, seedFile),
		stdout: "All conditions satisfied.\n",
	}, {
		name:   "assert a candidate win",
		args:   []string{"assert", "-f", abFile, "-c", "winnerFound", "-c", "candidateWon", "-c", "noFailure"},
		stdout: "All conditions satisfied.\n",
	}, {
		name:   "validate several files, one with two documents",
		args:   []string{"validate", "-f", "testdata/valid.yaml", "-f", seedFile},
		stdout: "3 objects valid.\n",
	}, {
		name:   "validate stdin",
		args:   []string{"validate", "-f", "-"},
		stdin:  mustRead(t, seedFile),
		stdout: "1 object valid.\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := runMain(tc.args, tc.stdin)
			want := result{code: ExitOK, stdout: tc.stdout}
			if d := cmp.Diff(want, got, cmp.AllowUnexported(result{})); d != "" {
				t.Errorf("iter8ctl %v (-want +got):\n%s", tc.args, d)
			}
		})
	}
}

func TestDescribeMachineOutput(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			got := runMain([]string{"describe", "-f", canaryFile, "-o", format}, "")
			if got.code != ExitOK {
				t.Fatalf("exit %d: %s", got.code, got.stderr)
			}
			b := []byte(got.stdout)
			if format == "yaml" {
				var err error
				if b, err = yaml.YAMLToJSON(b); err != nil {
					t.Fatalf("output is not YAML: %v", err)
				}
			}
			var s struct {
				Stage              string   `json:"stage"`
				WinnerFound        bool     `json:"winnerFound"`
				Winner             string   `json:"winner"`
				RecommendedVersion string   `json:"recommendedVersion"`
				RolledBack         []string `json:"rolledBack"`
				Objectives         []struct {
					Verdicts []struct {
						Version   string `json:"version"`
						Satisfied *bool  `json:"satisfied"`
						Reason    string `json:"reason"`
					} `json:"verdicts"`
				} `json:"objectives"`
			}
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatalf("output is not the summary: %v\n%s", err, got.stdout)
			}
			if s.Stage != "Completed" || !s.WinnerFound || s.Winner != "productpage-v1" || s.RecommendedVersion != "productpage-v1" {
				t.Errorf("summary = %+v", s)
			}
			if d := cmp.Diff([]string{"productpage-v2"}, s.RolledBack); d != "" {
				t.Errorf("rolledBack (-want +got):\n%s", d)
			}
			v := s.Objectives[1].Verdicts[1]
			if v.Version != "productpage-v2" || v.Satisfied == nil || *v.Satisfied || v.Reason != "value 0.043 is above the upper limit 0.010" {
				t.Errorf("error-rate verdict of the candidate = %+v", v)
			}
		})
	}
}

func TestCommandsFail(t *testing.T) {
	seed := mustRead(t, seedFile)
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string
		stderr string
	}{{
		// validate is strict; describe reads what controllers wrote (TestCorpus).
		name:   "unknown field",
		args:   []string{"validate", "-f", "-"},
		stdin:  strings.Replace(seed, "  target:", "  tagret: x\n  target:", 1),
		code:   ExitError,
		stdout: "stdin: document 0: decoding Experiment: unknown field \"spec.tagret\"\n",
		stderr: "Error: 1 problem found\n",
	}, {
		// describe ignores fields it does not know (issue 20), but a field it reports that
		// cannot be read is an error naming the field, not a wrong report.
		name:   "a reported field of the wrong type",
		args:   []string{"describe", "-f", "-"},
		stdin:  strings.Replace(seed, "completedIterations: 7", "completedIterations: seven", 1),
		code:   ExitError,
		stderr: "Error: decoding experiment from stdin: document 0: reading Experiment: field status.completedIterations: want integer, got string \"seven\"\n",
	}, {
		name:   "assert: a reported field of the wrong type",
		args:   []string{"assert", "-f", "-", "-c", "completed"},
		stdin:  strings.Replace(seed, "    winnerFound: false", "    winnerFound: \"no\"", 1),
		code:   ExitError,
		stderr: "Error: decoding experiment from stdin: document 0: reading Experiment: field status.analysis.winnerAssessment.data.winnerFound: want boolean, got string \"no\"\n",
	}, {
		name:   "wrong apiVersion and kind",
		args:   []string{"describe", "-f", "-"},
		stdin:  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n",
		code:   ExitError,
		stderr: "Error: decoding experiment from stdin: document 0: apiVersion \"apps/v1\" is not iter8.tools/v2alpha1 or iter8.tools/v2alpha2\n",
	}, {
		name:   "wrong kind",
		args:   []string{"describe", "-f", "-"},
		stdin:  "apiVersion: iter8.tools/v2alpha2\nkind: Pipeline\nmetadata:\n  name: x\n",
		code:   ExitError,
		stderr: "Error: decoding experiment from stdin: document 0: kind \"Pipeline\" is not Experiment or Metric\n",
	}, {
		name:   "a metric is not an experiment",
		args:   []string{"describe", "-f", "-"},
		stdin:  "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata:\n  name: x\nspec: {}\n",
		code:   ExitError,
		stderr: "Error: decoding experiment from stdin: no Experiment found\n",
	}, {
		name:   "empty input",
		args:   []string{"describe", "-f", "-"},
		stdin:  "\n  \n",
		code:   ExitError,
		stderr: "Error: reading stdin: input is empty\n",
	}, {
		name:   "not YAML",
		args:   []string{"describe", "-f", "-"},
		stdin:  "{ this is: [not yaml\n",
		code:   ExitError,
		stderr: "Error: decoding experiment from stdin: document 0: error converting YAML to JSON: yaml: line 1: did not find expected ',' or ']'\n",
	}, {
		name:   "missing file",
		args:   []string{"describe", "-f", "testdata/nonexistent.yaml"},
		code:   ExitError,
		stderr: "Error: reading testdata/nonexistent.yaml: open testdata/nonexistent.yaml: no such file or directory\n",
	}, {
		name:   "describe without -f",
		args:   []string{"describe"},
		code:   ExitUsage,
		stderr: "Error: an experiment NAME (from the cluster) or -f FILE|- is required\nRun 'iter8ctl describe --help' for usage.\n",
	}, {
		name:   "unknown output format",
		args:   []string{"describe", "-f", seedFile, "-o", "table"},
		code:   ExitUsage,
		stderr: "Error: invalid output format \"table\": want one of [text json yaml]\nRun 'iter8ctl describe --help' for usage.\n",
	}, {
		name:   "a name and a file",
		args:   []string{"describe", "mirroring", "-f", seedFile},
		code:   ExitUsage,
		stderr: "Error: an experiment NAME and -f " + seedFile + ": give one of them\nRun 'iter8ctl describe --help' for usage.\n",
	}, {
		name:   "two names",
		args:   []string{"describe", "a", "b"},
		code:   ExitUsage,
		stderr: "Error: unexpected argument \"b\": iter8ctl describe takes one experiment\nRun 'iter8ctl describe --help' for usage.\n",
	}, {
		name:   "unknown flag",
		args:   []string{"describe", "--bogus"},
		code:   ExitUsage,
		stderr: "Error: unknown flag: --bogus\nRun 'iter8ctl describe --help' for usage.\n",
	}, {
		name:   "unknown command",
		args:   []string{"descibe"},
		code:   ExitUsage,
		stderr: "Error: unknown command \"descibe\" for \"iter8ctl\"\nRun 'iter8ctl --help' for usage.\n",
	}, {
		name:   "unknown condition",
		args:   []string{"assert", "-f", seedFile, "-c", "completed", "-c", "won"},
		code:   ExitUsage,
		stderr: "Error: unknown condition \"won\", valid conditions are completed, noFailure, winnerFound, candidateWon, baselineWon, rolledBack\nRun 'iter8ctl assert --help' for usage.\n",
	}, {
		name:   "assert without conditions",
		args:   []string{"assert", "-f", seedFile},
		code:   ExitUsage,
		stderr: "Error: at least one -c condition is required: one of completed, noFailure, winnerFound, candidateWon, baselineWon, rolledBack\nRun 'iter8ctl assert --help' for usage.\n",
	}, {
		name:   "one unmet condition",
		args:   []string{"assert", "-f", "-", "-c", "completed", "-c", "candidateWon"},
		stdin:  strings.Replace(seed, "winnerFound: false", "winnerFound: true\n        winner: current", 1),
		code:   ExitError,
		stderr: "Error: condition candidateWon not satisfied: winner is current, the experiment has no candidate\n",
	}, {
		name: "every unmet condition",
		args: []string{"assert", "-f", canaryFile, "-c", "completed", "-c", "noFailure", "-c", "candidateWon"},
		code: ExitError,
		stderr: "Error: 2 of 3 conditions not satisfied:\n" +
			"  condition noFailure not satisfied: experiment failed: Rollback: version productpage-v2 violated rollback objective iter8-istio/error-rate\n" +
			"  condition candidateWon not satisfied: winner is productpage-v1, candidate is productpage-v2\n",
	}, {
		name: "validate reports every problem",
		args: []string{"validate", "-f", "testdata/invalid.yaml", "-f", "testdata/undecodable.yaml", "-f", "testdata/valid.yaml", "-f", "-"},
		code: ExitError,
		stdout: "testdata/invalid.yaml: Experiment/broken: spec.duration.intervalSeconds: invalid value: 0: must be at least 1\n" +
			"testdata/invalid.yaml: Experiment/broken: spec.strategy.actions.start[0].task: invalid value: knative/init-experimentt: known tasks: knative/init-experiment, common/exec, common/readiness, notification/http, metrics/collect\n" +
			"testdata/invalid.yaml: Experiment/broken: spec.target: missing field(s)\n" +
			"testdata/invalid.yaml: Experiment/broken: spec.versionInfo.candidates: testing pattern Canary takes exactly one candidate, got 0\n" +
			"testdata/invalid.yaml: Metric/bad-type: spec.jqExpression: missing field(s)\n" +
			"testdata/invalid.yaml: Metric/bad-type: spec.type: invalid value: Histogram: must be Counter or Gauge\n" +
			"testdata/invalid.yaml: Metric/bad-type: spec.urlTemplate: a metric needs urlTemplate, mock levels, or provider prometheus or iter8\n" +
			"testdata/undecodable.yaml: document 1: decoding Experiment: unknown field \"spec.critera\"\n" +
			"stdin: no Experiment or Metric found\n",
		stdin:  "# nothing but a comment\n---\n",
		stderr: "Error: 9 problems found\n",
	}, {
		name:   "validate an empty file",
		args:   []string{"validate", "-f", "-"},
		code:   ExitError,
		stdout: "reading stdin: input is empty\n",
		stderr: "Error: 1 problem found\n",
	}, {
		name:   "validate without -f",
		args:   []string{"validate"},
		code:   ExitUsage,
		stderr: "Error: flag -f is required: a file, or - for standard input\nRun 'iter8ctl validate --help' for usage.\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := runMain(tc.args, tc.stdin)
			want := result{code: tc.code, stdout: tc.stdout, stderr: tc.stderr}
			if d := cmp.Diff(want, got, cmp.AllowUnexported(result{})); d != "" {
				t.Errorf("iter8ctl %v (-want +got):\n%s", tc.args, d)
			}
		})
	}
}

func TestRunReturnsUsageErrors(t *testing.T) {
	err := Run(context.Background(), []string{"assert", "-f", seedFile, "-c", "won"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if !IsUsageError(err) {
		t.Errorf("Run(assert -c won) = %v, want a usage error", err)
	}
	err = Run(context.Background(), []string{"assert", "-f", canaryFile, "-c", "candidateWon"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || IsUsageError(err) {
		t.Errorf("Run(assert -c candidateWon) = %v, want an error that is not a usage error", err)
	}
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"Usage:", "describe", "assert", "validate", "report", "kubectl get experiment mirroring -o yaml | iter8ctl describe -f -"}},
		{[]string{"describe", "--help"}, []string{"iter8ctl describe NAME | -f FILE|-", "kubectl get experiment mirroring -o yaml | iter8ctl describe -f -", "-o, --output"}},
		{[]string{"assert", "--help"}, []string{"candidateWon", "rolledBack", "All conditions satisfied."}},
		{[]string{"validate", "--help"}, []string{"FILE: Kind/name: field.path: message", "-f, --file stringArray"}},
		{[]string{"report", "--help"}, []string{"iter8ctl report NAME | -f FILE|-", "-o svg", "--metric string", "--out string"}},
		{[]string{"run", "--help"}, []string{"--report string"}},
	} {
		got := runMain(tc.args, "")
		if got.code != ExitOK || got.stderr != "" {
			t.Errorf("iter8ctl %v: exit %d, stderr %q", tc.args, got.code, got.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(got.stdout, w) {
				t.Errorf("iter8ctl %v: help lacks %q:\n%s", tc.args, w, got.stdout)
			}
		}
	}
}
