package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// badInputExperiment is a valid Canary on the Knative Service sample-app (explicit
// weightObjRefs, a local mock metric), which every bad-input case breaks in one place.
// NS and NAME are replaced.
const badInputExperiment = `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: NAME
spec:
  target: NS/sample-app
  strategy:
    testingPattern: Canary
    deploymentPattern: Progressive
    weights:
      maxCandidateWeight: 50
      maxCandidateWeightIncrement: 10
    actions:
      finish:
      - task: notification/http
        if: WinnerFound()
        with:
          url: http://127.0.0.1:9/promoted
  criteria:
    objectives:
    - metric: mean-latency
      upperLimit: 100
  duration:
    intervalSeconds: 1
    iterationsPerLoop: 2
  versionInfo:
    baseline:
      name: sample-app-v1
      variables:
      - name: revision
        value: sample-app-v1
      weightObjRef:
        apiVersion: serving.knative.dev/v1
        kind: Service
        name: sample-app
        namespace: NS
        fieldPath: .spec.traffic[0].percent
    candidates:
    - name: sample-app-v2
      variables:
      - name: revision
        value: sample-app-v2
      weightObjRef:
        apiVersion: serving.knative.dev/v1
        kind: Service
        name: sample-app
        namespace: NS
        fieldPath: .spec.traffic[1].percent
`

const candidatesBlock = `    candidates:
    - name: sample-app-v2
      variables:
      - name: revision
        value: sample-app-v2
      weightObjRef:
        apiVersion: serving.knative.dev/v1
        kind: Service
        name: sample-app
        namespace: NS
        fieldPath: .spec.traffic[1].percent
`

// badInputMetric is a valid mock metric in the test namespace, named NAME.
const badInputMetric = `
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata:
  name: NAME
spec:
  description: mean latency (mocked)
  type: Gauge
  mock:
  - name: sample-app-v1
    level: "20"
  - name: sample-app-v2
    level: "30"
`

const restMetric = `
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata:
  name: NAME
spec:
  type: Gauge
  urlTemplate: http://127.0.0.1:9/query
  jqExpression: .value
`

// edited applies replacements (old, new, old, new, ...) to a document, failing when an old
// text is not in it: an edit that silently changed nothing would make its case test the
// valid base instead.
func edited(t *testing.T, doc string, edits ...string) string {
	t.Helper()
	if len(edits)%2 != 0 {
		t.Fatalf("edits must come in pairs, got %q", edits)
	}
	for i := 0; i < len(edits); i += 2 {
		if !strings.Contains(doc, edits[i]) {
			t.Fatalf("edit %d: %q is not in the document:\n%s", i/2, edits[i], doc)
		}
		doc = strings.Replace(doc, edits[i], edits[i+1], 1)
	}
	return doc
}

func decodeObject(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("YAML: %v\n%s", err, doc)
	}
	return u
}

func fill(doc, ns, name string) string {
	return strings.NewReplacer("NS", ns, "NAME", name).Replace(doc)
}

// create creates an object as kubectl create does and returns the API server's error.
func (e *env) create(namespace string, u *unstructured.Unstructured) error {
	u = u.DeepCopy()
	if u.GetNamespace() == "" {
		u.SetNamespace(namespace)
	}
	_, err := e.dyn.Resource(gvr(u)).Namespace(u.GetNamespace()).Create(context.Background(), u, metav1.CreateOptions{})
	return err
}

// ksvcTraffic is the Knative Service's spec.traffic as the API server stores it.
func ksvcTraffic(t *testing.T, e *env, ns string) []byte {
	t.Helper()
	u, err := e.dyn.Resource(ksvcGVR).Namespace(ns).Get(context.Background(), "sample-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok, _ := unstructured.NestedSlice(u.Object, "spec", "traffic")
	if !ok {
		t.Fatal("sample-app has no spec.traffic")
	}
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stageMain runs a stage through stagecmd.Main, as the binary does, and returns its exit
// code and output.
func (e *env) stageMain(t *testing.T, stage, namespace, name string, args ...string) (int, string) {
	t.Helper()
	all := append([]string{"--kubeconfig", e.cp.Kubeconfig(), "--experiment", name, "--namespace", namespace}, args...)
	var out bytes.Buffer
	code := stagecmd.Main(stage, all, &out, &out)
	t.Logf("%s (exit %d):\n%s", stage, code, strings.TrimSpace(out.String()))
	return code, out.String()
}

func conditionText(c *v2alpha1.ExperimentCondition) (status corev1.ConditionStatus, reason, message string) {
	if c == nil {
		return "", "", ""
	}
	status = c.Status
	if c.Reason != nil {
		reason = *c.Reason
	}
	if c.Message != nil {
		message = *c.Message
	}
	return status, reason, message
}

// schemaCase is a malformed object that the API server refuses at create time.
type schemaCase struct {
	name string
	// metric: the edits apply to badInputMetric, else to badInputExperiment.
	metric bool
	edits  []string
	// field the API server's error names (the structural schema's path).
	field string
	// offline: what the offline path (strict decoding, then Validate) must name; empty
	// when the Go types cannot hold the value at all and decoding is the check.
	offline string
}

// initCase is a malformed experiment or metric that the API server accepts, so
// init-experiment is the one to refuse it.
type initCase struct {
	name  string
	edits []string
	// metrics are extra Metric documents (NS/NAME filled) created before the experiment.
	metrics []string
	reason  string
	// want are texts the init error and the Failed condition's message must both contain:
	// the field path or the metric.
	want []string
	// main runs init and finalize through stagecmd.Main to check the exit codes.
	main bool
}

func TestBadInput(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	canaryKsvc(t, e, ns, 80, 20)
	e.apply(t, ns, decodeObject(t, fill(badInputMetric, ns, "mean-latency")))

	t.Run("base is valid", func(t *testing.T) {
		// Every case below is this document broken in one place; the base must pass the
		// same checks, or the cases would prove nothing.
		exp, err := v2alpha1.DecodeExperiment([]byte(fill(badInputExperiment, ns, "base")))
		if err != nil {
			t.Fatal(err)
		}
		if fe := exp.Validate().Also(actions.Validate(exp)); fe != nil {
			t.Fatalf("the base experiment is invalid: %v", fe)
		}
		if err := e.create(ns, decodeObject(t, fill(badInputExperiment, ns, "base"))); err != nil {
			t.Fatalf("the API server refused the base experiment: %v", err)
		}
		if _, _, err := e.stage(t, stagecmd.StageInit, ns, "base", "--target-wait", "2s"); err != nil {
			t.Fatalf("init of the base experiment: %v", err)
		}
		if got := e.get(t, ns, "base").Status.GetStage(); got != v2alpha1.StageRunning {
			t.Fatalf("base experiment stage = %s, want Running", got)
		}
		// Release the target for the cases (it has no iterations, so finalize fails it and
		// puts traffic back on the baseline); the cases start from 80/20 again.
		e.stage(t, stagecmd.StageFinalize, ns, "base", "--pipeline-status", "Failed")
		canaryKsvc(t, e, ns, 80, 20)
	})

	schemaCases := []schemaCase{{
		name:    "unknown testing pattern",
		edits:   []string{"testingPattern: Canary", "testingPattern: BlueGreen"},
		field:   "spec.strategy.testingPattern",
		offline: "spec.strategy.testingPattern",
	}, {
		name:    "zero intervalSeconds",
		edits:   []string{"intervalSeconds: 1", "intervalSeconds: 0"},
		field:   "spec.duration.intervalSeconds",
		offline: "spec.duration.intervalSeconds",
	}, {
		name:    "negative intervalSeconds",
		edits:   []string{"intervalSeconds: 1", "intervalSeconds: -5"},
		field:   "spec.duration.intervalSeconds",
		offline: "spec.duration.intervalSeconds",
	}, {
		name:    "zero iterationsPerLoop",
		edits:   []string{"iterationsPerLoop: 2", "iterationsPerLoop: 0"},
		field:   "spec.duration.iterationsPerLoop",
		offline: "spec.duration.iterationsPerLoop",
	}, {
		name:    "maxCandidateWeight 150",
		edits:   []string{"maxCandidateWeight: 50", "maxCandidateWeight: 150"},
		field:   "spec.strategy.weights.maxCandidateWeight",
		offline: "spec.strategy.weights.maxCandidateWeight",
	}, {
		name:    "empty target",
		edits:   []string{"target: NS/sample-app", `target: ""`},
		field:   "spec.target",
		offline: "spec.target",
	}, {
		name:  "intervalSeconds is a string",
		edits: []string{"intervalSeconds: 1", "intervalSeconds: five"},
		field: "spec.duration.intervalSeconds",
	}, {
		name:  "rollback_on_failure is a string",
		edits: []string{"upperLimit: 100", "upperLimit: 100\n      rollback_on_failure: sometimes"},
		field: "spec.criteria.objectives[0].rollback_on_failure",
	}, {
		name:  "variable value is a list",
		edits: []string{"value: sample-app-v1", "value: [sample-app-v1]"},
		field: "spec.versionInfo.baseline.variables[0].value",
	}, {
		name:    "metric authType unknown",
		metric:  true,
		edits:   []string{"type: Gauge", "type: Gauge\n  authType: Token\n  secret: creds"},
		field:   "spec.authType",
		offline: "spec.authType",
	}, {
		name:    "metric timeoutSeconds negative",
		metric:  true,
		edits:   []string{"type: Gauge", "type: Gauge\n  timeoutSeconds: -1"},
		field:   "spec.timeoutSeconds",
		offline: "spec.timeoutSeconds",
	}}
	for i, tc := range schemaCases {
		t.Run("schema/"+tc.name, func(t *testing.T) {
			name := fmt.Sprintf("schema-%d", i)
			base := badInputExperiment
			if tc.metric {
				base = badInputMetric
			}
			doc := fill(edited(t, base, tc.edits...), ns, name)
			err := e.create(ns, decodeObject(t, doc))
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create: error = %v, want the API server to refuse it as Invalid", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("create: error %q does not name %s", err, tc.field)
			}
			// The offline path (iter8ctl run, the PipelineRun generator) decodes strictly
			// and validates: it must refuse the same document, naming the field.
			docs, derr := v2alpha1.DecodeDocuments(strings.NewReader(doc))
			var fe error
			switch {
			case derr != nil:
				fe = derr
			case tc.metric && len(docs) == 1 && docs[0].Metric != nil:
				if v := docs[0].Metric.Validate(); v != nil {
					fe = v
				}
			case len(docs) == 1 && docs[0].Experiment != nil:
				if v := docs[0].Experiment.Validate(); v != nil {
					fe = v
				}
			default:
				t.Fatalf("decoded %d documents, want one", len(docs))
			}
			if fe == nil {
				t.Fatalf("the offline path accepted it")
			}
			want := tc.offline
			if want == "" {
				want = tc.field[strings.LastIndex(tc.field, ".")+1:]
			}
			if !strings.Contains(fe.Error(), want) {
				t.Errorf("offline error %q does not name %s", fe, want)
			}
		})
	}

	mean := func(edits ...string) string { return edited(t, badInputMetric, edits...) }
	initCases := []initCase{{
		name:   "upperLimit is not a number",
		edits:  []string{"upperLimit: 100", "upperLimit: fast"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.criteria.objectives[0].upperLimit", "fast"},
		main:   true,
	}, {
		name:   "lowerLimit above upperLimit",
		edits:  []string{"upperLimit: 100", "upperLimit: 100\n      lowerLimit: 200"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.criteria.objectives[0]", "lowerLimit 200 is above upperLimit 100"},
	}, {
		name:   "Canary without candidates",
		edits:  []string{candidatesBlock, ""},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.versionInfo.candidates", "exactly one candidate, got 0"},
	}, {
		name:   "no versionInfo",
		edits:  []string{"  versionInfo:\n    baseline:", "  xversionInfo:\n    baseline:"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.versionInfo"},
	}, {
		name:   "duplicate version names",
		edits:  []string{"    - name: sample-app-v2", "    - name: sample-app-v1"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.versionInfo.candidates[0].name", `duplicate version name "sample-app-v1"`},
	}, {
		name:   "fieldPath without the leading dot",
		edits:  []string{"fieldPath: .spec.traffic[1].percent", "fieldPath: spec.traffic[1].percent"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.versionInfo.candidates[0].weightObjRef.fieldPath", "spec.traffic[1].percent"},
		main:   true,
	}, {
		name:   "fieldPath with an empty field",
		edits:  []string{"fieldPath: .spec.traffic[1].percent", "fieldPath: .spec..x"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.versionInfo.candidates[0].weightObjRef.fieldPath", ".spec..x"},
	}, {
		name:   "fieldPath with a non-numeric index",
		edits:  []string{"fieldPath: .spec.traffic[0].percent", "fieldPath: .spec.traffic[a]"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.versionInfo.baseline.weightObjRef.fieldPath", ".spec.traffic[a]"},
	}, {
		name:   "weightObjRef without kind",
		edits:  []string{"        kind: Service\n        name: sample-app\n        namespace: NS\n        fieldPath: .spec.traffic[1]", "        name: sample-app\n        namespace: NS\n        fieldPath: .spec.traffic[1]"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.versionInfo.candidates[0].weightObjRef.kind"},
	}, {
		name:   "blank target",
		edits:  []string{"target: NS/sample-app", `target: "  "`},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.target"},
	}, {
		name:   "malformed metric reference",
		edits:  []string{"metric: mean-latency", "metric: a/b/c"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.criteria.objectives[0].metric", "a/b/c"},
	}, {
		name:   "unknown metric",
		edits:  []string{"metric: mean-latency", "metric: no-such-metric"},
		reason: v2alpha1.ReasonMetricUnavailable,
		want:   []string{"no-such-metric"},
		main:   true,
	}, {
		name:    "metric without urlTemplate and jqExpression",
		edits:   []string{"metric: mean-latency", "metric: bare"},
		metrics: []string{"apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata:\n  name: bare\nspec:\n  type: Gauge\n  provider: custom\n"},
		reason:  v2alpha1.ReasonInvalidExperiment,
		want:    []string{"NS/bare", "spec.urlTemplate", "spec.jqExpression"},
	}, {
		name:    "metric authType without secret",
		edits:   []string{"metric: mean-latency", "metric: authed"},
		metrics: []string{edited(t, restMetric, "name: NAME", "name: authed", "type: Gauge", "type: Gauge\n  authType: Bearer")},
		reason:  v2alpha1.ReasonInvalidExperiment,
		want:    []string{"NS/authed", "spec.secret", "authType Bearer needs a secret"},
	}, {
		name:    "metric mock level is not a number",
		edits:   []string{"metric: mean-latency", "metric: slow-mock"},
		metrics: []string{mean("name: NAME", "name: slow-mock", `level: "30"`, "level: slow")},
		reason:  v2alpha1.ReasonInvalidExperiment,
		want:    []string{"NS/slow-mock", "spec.mock[1].level"},
	}, {
		name:   "unknown task",
		edits:  []string{"task: notification/http", "task: common/bash"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.strategy.actions.finish[0].task", "common/bash"},
	}, {
		name:   "task and run",
		edits:  []string{"      - task: notification/http", "      - task: notification/http\n        run: echo hi"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.strategy.actions.finish[0].run", "spec.strategy.actions.finish[0].task"},
	}, {
		name:   "bad if expression",
		edits:  []string{"if: WinnerFound()", `if: "WinnerFound( and"`},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.strategy.actions.finish[0].if", "WinnerFound( and"},
	}, {
		name:   "task with a wrongly typed parameter",
		edits:  []string{"          url: http://127.0.0.1:9/promoted", "          url: http://127.0.0.1:9/promoted\n          ignoreFailure: maybe"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.strategy.actions.finish[0].with.ignoreFailure"},
	}, {
		name:   "unknown action",
		edits:  []string{"      finish:\n", "      rollback:\n"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.strategy.actions", "rollback"},
		main:   true,
	}, {
		name:   "A/B without a reward",
		edits:  []string{"testingPattern: Canary", "testingPattern: A/B"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.criteria.rewards", "needs exactly one reward"},
	}, {
		name:   "Conformance with candidates",
		edits:  []string{"testingPattern: Canary", "testingPattern: Conformance"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.versionInfo.candidates", "Conformance takes no candidates"},
	}, {
		name:   "Canary with rewards",
		edits:  []string{"  criteria:\n", "  criteria:\n    rewards:\n    - metric: mean-latency\n      preferredDirection: Low\n"},
		reason: v2alpha1.ReasonInvalidExperiment,
		want:   []string{"spec.criteria.rewards", "Canary takes no rewards"},
	}}
	for i, tc := range initCases {
		t.Run("init/"+tc.name, func(t *testing.T) {
			name := fmt.Sprintf("bad-%d", i)
			for _, m := range tc.metrics {
				e.apply(t, ns, decodeObject(t, fill(m, ns, "")))
			}
			if err := e.create(ns, decodeObject(t, fill(edited(t, badInputExperiment, tc.edits...), ns, name))); err != nil {
				t.Fatalf("the API server refused the experiment, so init never sees it: %v", err)
			}
			want := make([]string, len(tc.want))
			for j, w := range tc.want {
				want[j] = fill(w, ns, "")
			}
			// Each case starts from 80/20, so a case that moved traffic cannot hide behind
			// an earlier one that already did.
			canaryKsvc(t, e, ns, 80, 20)
			before := ksvcTraffic(t, e, ns)
			if want := `[{"percent":80,"revisionName":"sample-app-v1"},{"latestRevision":true,"percent":20}]`; string(before) != want {
				t.Fatalf("spec.traffic before the case = %s, want %s", before, want)
			}

			// (a) init fails, naming the field or the metric.
			var initErr string
			if tc.main {
				code, out := e.stageMain(t, stagecmd.StageInit, ns, name, "--target-wait", "2s")
				if code != stagecmd.ExitError {
					t.Errorf("init exit code = %d, want %d", code, stagecmd.ExitError)
				}
				initErr = out
			} else {
				_, _, err := e.stage(t, stagecmd.StageInit, ns, name, "--target-wait", "2s")
				if err == nil {
					t.Fatal("init succeeded, want it to refuse the experiment")
				}
				initErr = err.Error()
			}
			for _, w := range append([]string{tc.reason}, want...) {
				if !strings.Contains(initErr, w) {
					t.Errorf("init error %q does not contain %q", initErr, w)
				}
			}

			// (b) the experiment says so.
			exp := e.get(t, ns, name)
			status, reason, msg := conditionText(exp.Status.Condition(v2alpha1.ConditionFailed))
			if status != corev1.ConditionTrue || reason != tc.reason {
				t.Errorf("Failed condition = %s %s, want True %s", status, reason, tc.reason)
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("Failed condition message %q does not contain %q", msg, w)
				}
			}
			if exp.Status.StartTime != nil || exp.Status.GetStage() == v2alpha1.StageRunning {
				t.Errorf("the refused experiment started: stage %s, startTime %v", exp.Status.GetStage(), exp.Status.StartTime)
			}

			// (c) finalize completes it and reports it failed: the job, not the release.
			if tc.main {
				if code, _ := e.stageMain(t, stagecmd.StageFinalize, ns, name, "--pipeline-status", "Failed"); code != stagecmd.ExitError {
					t.Errorf("finalize exit code = %d, want %d", code, stagecmd.ExitError)
				}
			} else {
				res, _, err := e.stage(t, stagecmd.StageFinalize, ns, name, "--pipeline-status", "Failed")
				if !errors.Is(err, stagecmd.ErrExperimentFailed) {
					t.Errorf("finalize error = %v, want the experiment failed", err)
				}
				if res["outcome"] != "Failed" {
					t.Errorf("finalize outcome = %q, want Failed", res["outcome"])
				}
			}
			exp = e.get(t, ns, name)
			if exp.Status.GetStage() != v2alpha1.StageCompleted || !exp.Status.IsTrue(v2alpha1.ConditionCompleted) {
				t.Errorf("after finalize: stage %s, Completed %v; want Completed", exp.Status.GetStage(), exp.Status.IsTrue(v2alpha1.ConditionCompleted))
			}
			if _, r, _ := conditionText(exp.Status.Condition(v2alpha1.ConditionFailed)); !exp.Status.IsTrue(v2alpha1.ConditionFailed) || r != tc.reason {
				t.Errorf("after finalize: Failed %v reason %s, want True %s (the first cause kept)", exp.Status.IsTrue(v2alpha1.ConditionFailed), r, tc.reason)
			}
			if exp.Status.IsTrue(v2alpha1.ConditionTargetAcquired) {
				t.Error("after finalize the experiment still holds its target")
			}

			// (d) the traffic of the target is untouched.
			if after := ksvcTraffic(t, e, ns); !bytes.Equal(before, after) {
				t.Errorf("spec.traffic of the target changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	t.Run("PromQL-breaking variable", func(t *testing.T) { promQLInjection(t, e) })
}

// promQLInjection runs a Conformance experiment whose revision variable tries to end the
// label matcher of its metric's query and append `or vector(1)`, against a real Prometheus
// behind a proxy that records the queries. A control experiment with an honest revision
// shows that the objective passes on 1, so a forged 1 would make the experiment pass.
func promQLInjection(t *testing.T, e *env) {
	ns := namespace(t, e)
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(exporter.Close)
	prom := startPromFor(t, exporter.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := prom.WaitForSamples(ctx, `up{job="`+harness.PrometheusJob+`"} == 1`); err != nil {
		t.Fatalf("waiting for up: %v", err)
	}

	target, err := url.Parse(prom.URL())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var queries []string
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil {
			mu.Lock()
			queries = append(queries, r.Form.Get("query"))
			mu.Unlock()
		}
		// ParseForm consumed a POST body; Prometheus reads the query from the URL too.
		r.URL.RawQuery = r.Form.Encode()
		r.Body = http.NoBody
		r.ContentLength = 0
		r.Method = http.MethodGet
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	// A template that an injected `'} or vector(1) #` turns into valid PromQL returning 1.
	e.apply(t, ns, decodeObject(t, `
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata:
  name: up
spec:
  type: Gauge
  provider: prometheus
  params:
  - name: query
    value: up{job='$revision'}
  jqExpression: .data.result[0].value[1] | tonumber
  urlTemplate: `+proxy.URL+`/api/v1/query
`))
	const hostile = `x'} or vector(1) #`
	exp := func(name, revision string) *unstructured.Unstructured {
		return decodeObject(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: `+name+`
spec:
  target: `+ns+`/`+name+`
  strategy:
    testingPattern: Conformance
  criteria:
    objectives:
    - metric: up
      lowerLimit: 1
  duration:
    intervalSeconds: 1
    iterationsPerLoop: 1
  versionInfo:
    baseline:
      name: v1
      variables:
      - name: revision
        value: "`+strings.ReplaceAll(revision, `"`, `\"`)+`"
`)
	}
	e.apply(t, ns, exp("control", harness.PrometheusJob), exp("forged", hostile))

	run := func(name string) error {
		if _, _, err := e.stage(t, stagecmd.StageInit, ns, name, "--target-wait", "2s"); err != nil {
			t.Fatalf("init %s: %v", name, err)
		}
		// Iterate or assess may fail on the missing value; finalize must run regardless.
		if _, _, err := e.stage(t, stagecmd.StageIterate, ns, name, "--iteration", "1", "--interval-seconds", "1"); err == nil {
			e.stage(t, stagecmd.StageAssess, ns, name, "--iteration", "1", "--interval-seconds", "1")
		}
		_, _, err := e.stage(t, stagecmd.StageFinalize, ns, name, "--pipeline-status", "Succeeded")
		return err
	}
	if err := run("control"); err != nil {
		t.Fatalf("control experiment: finalize error = %v, want it to pass on up = 1", err)
	}
	mu.Lock()
	controlQueries := append([]string(nil), queries...)
	queries = nil
	mu.Unlock()
	if want := "up{job='" + harness.PrometheusJob + "'}"; len(controlQueries) == 0 || controlQueries[0] != want {
		t.Fatalf("control queries = %q, want %q", controlQueries, want)
	}

	err = run("forged")
	if !errors.Is(err, stagecmd.ErrAimNotAchieved) {
		t.Errorf("forged experiment: finalize error = %v, want the aim not achieved", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) == 0 {
		t.Fatal("the forged experiment sent no query")
	}
	for _, q := range queries {
		// The value stays inside the quoted label value: its quote is escaped.
		if want := `up{job='x\x27} or vector(1) #'}`; q != want {
			t.Errorf("query = %q, want %q", q, want)
		}
	}
	got := e.get(t, ns, "forged")
	a := got.Status.Analysis
	if a == nil || a.AggregatedMetrics == nil || a.VersionAssessments == nil {
		t.Fatalf("the forged experiment has no metrics or assessment: %s", mustJSON(got.Status.Analysis))
	}
	v, ok := a.AggregatedMetrics.Data["up"].Data["v1"]
	if !ok {
		t.Fatalf("no value of up for v1: %s", mustJSON(a.AggregatedMetrics))
	}
	if v.Value != nil {
		if f, err := v.Value.Float(); err == nil && f == 1 {
			t.Errorf("up of v1 = 1: the forged value was used")
		}
	}
	if want := `up{job='x\x27} or vector(1) #'}`; v.Query != want {
		t.Errorf("recorded query = %q, want %q", v.Query, want)
	}
	if diff := cmp.Diff(map[string][]bool{"v1": {false}}, a.VersionAssessments.Data); diff != "" {
		t.Errorf("version assessments (-want +got):\n%s", diff)
	}
	if got.Status.IsTrue(v2alpha1.ConditionFailed) {
		t.Logf("forged experiment failed: %s", *got.Status.Condition(v2alpha1.ConditionFailed).Message)
	}
}

func startPromFor(t *testing.T, targets ...string) *harness.Prometheus {
	t.Helper()
	harness.Integration(t, harness.NeedPrometheus)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := harness.StartPrometheus(ctx, targets)
	if err != nil {
		t.Fatalf("starting Prometheus: %v", err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}
