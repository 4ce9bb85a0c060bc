package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

const (
	loadExperiments = 50
	// loadStages bounds the stages running at once (each is a whole stage process's work:
	// clients, discovery, queries, writes); the experiments all run at the same time.
	loadStages = 8
	// Every loadRollbackEvery-th experiment's candidate breaks its rollback objective.
	loadRollbackEvery = 5
	loadIterations    = 3
)

// loadVS is the VirtualService name of experiment i, which splits between app-i-v1 and app-i-v2.
func loadVS(t *testing.T, i int, baseline, candidate int64) *unstructured.Unstructured {
	return yamlObject(t, fmt.Sprintf(`
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: app-%d
spec:
  hosts: [app-%d.example.com]
  http:
  - route:
    - destination: {host: app-%d-v1}
      weight: %d
    - destination: {host: app-%d-v2}
      weight: %d
`, i, i, i, baseline, i, candidate))
}

// loadExperiment is a progressive Canary of app-i judged on the level metric, which the
// shared Prometheus computes from each version's level variable.
func loadExperiment(t *testing.T, ns string, i int, candidateLevel string) *unstructured.Unstructured {
	ref := func(route int) string {
		return fmt.Sprintf(`
      weightObjRef:
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        name: app-%d
        fieldPath: .spec.http[0].route[%d].weight`, i, route)
	}
	return yamlObject(t, fmt.Sprintf(`
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: load-%d
spec:
  target: %s/app-%d
  strategy:
    testingPattern: Canary
    deploymentPattern: Progressive
    weights:
      maxCandidateWeight: 50
      maxCandidateWeightIncrement: 10
  criteria:
    objectives:
    - metric: level
      upperLimit: 50
      rollback_on_failure: true
  duration:
    intervalSeconds: 1
    iterationsPerLoop: %d
  versionInfo:
    baseline:
      name: app-%d-v1
      variables:
      - {name: level, value: "7"}%s
    candidates:
    - name: app-%d-v2
      variables:
      - {name: level, value: "%s"}%s
`, i, ns, i, loadIterations, i, ref(0), i, candidateLevel, ref(1)))
}

// TestLoadFiftyExperiments runs 50 experiments at once on one API server and one
// Prometheus, each with its own VirtualService, every stage a whole in-process stage
// command. The healthy ones shift traffic for three iterations, the others roll back at
// the first; every status must be complete and match its traffic.
func TestLoadFiftyExperiments(t *testing.T) {
	e := cluster(t)
	harness.Integration(t, harness.NeedPrometheus)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prom, err := harness.StartPrometheus(ctx, nil)
	if err != nil {
		t.Fatalf("starting Prometheus: %v", err)
	}
	t.Cleanup(func() { prom.Stop() })

	ns := namespace(t, e)
	e.apply(t, ns, yamlObject(t, `
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata:
  name: level
spec:
  type: Gauge
  provider: prometheus
  urlTemplate: `+prom.URL()+`/api/v1/query
  params:
  - name: query
    value: 'label_replace(vector($level), "version", "$name", "", "")'
`))
	rollsBack := func(i int) bool { return i%loadRollbackEvery == 0 }
	for i := 0; i < loadExperiments; i++ {
		level := "9"
		if rollsBack(i) {
			level = "80"
		}
		e.apply(t, ns, loadVS(t, i, 100, 0), loadExperiment(t, ns, i, level))
	}

	sem := make(chan struct{}, loadStages)
	runStage := func(name, exp string, args ...string) (map[string]string, string, error) {
		sem <- struct{}{}
		defer func() { <-sem }()
		dir := t.TempDir()
		all := []string{"--kubeconfig", e.cp.Kubeconfig(), "--namespace", ns, "--experiment", exp}
		for _, r := range []string{"continue", "outcome", "winner", "iteration"} {
			all = append(all, "--result", r+"="+filepath.Join(dir, r))
		}
		var out bytes.Buffer
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		err := stagecmd.Run(sctx, name, append(all, args...), &out, &out)
		res := map[string]string{}
		for _, r := range []string{"continue", "outcome", "winner", "iteration"} {
			b, _ := os.ReadFile(filepath.Join(dir, r))
			res[r] = string(b)
		}
		return res, out.String(), err
	}

	type outcome struct {
		iterations int
		final      map[string]string
		err        error
		log        string
	}
	outcomes := make([]outcome, loadExperiments)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < loadExperiments; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("load-%d", i)
			o := &outcomes[i]
			var log strings.Builder
			defer func() { o.log = log.String() }()
			step := func(stage string, args ...string) (map[string]string, error) {
				res, out, err := runStage(stage, name, args...)
				log.WriteString(out)
				if err != nil {
					fmt.Fprintf(&log, "%s %v: %v\n", stage, args, err)
				}
				return res, err
			}
			status := "Succeeded"
			if _, err := step(stagecmd.StageInit, "--target-wait", "10s"); err != nil {
				status = "Failed"
			} else {
				for k := 1; ; k++ {
					o.iterations = k
					iv := []string{"--iteration", fmt.Sprint(k), "--interval-seconds", "1"}
					if _, err := step(stagecmd.StageIterate, iv...); err != nil {
						status = "Failed"
						break
					}
					res, err := step(stagecmd.StageAssess, iv...)
					if err != nil {
						status = "Failed"
						break
					}
					if res["continue"] != "true" {
						break
					}
				}
			}
			res, err := step(stagecmd.StageFinalize, "--pipeline-status", status)
			o.final = map[string]string{"outcome": res["outcome"], "winner": res["winner"]}
			o.err = err
		}()
	}
	wg.Wait()
	t.Logf("%d experiments of %d iterations, at most %d stages at once: %s", loadExperiments, loadIterations, loadStages, time.Since(start).Round(time.Millisecond))

	// One iteration event per iteration and experiment: none was counted twice.
	evs, err := e.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	iterationEvents := map[string][]string{}
	for _, ev := range evs.Items {
		if ev.Reason == v2alpha1.ReasonIterationUpdate {
			iterationEvents[ev.InvolvedObject.Name] = append(iterationEvents[ev.InvolvedObject.Name], ev.Message)
		}
	}

	for i, o := range outcomes {
		name := fmt.Sprintf("load-%d", i)
		exp := e.get(t, ns, name)
		want := struct {
			Iterations int
			Final      map[string]string
			Completed  int32
			Weights    []v2alpha1.WeightData
			Traffic    []int64
			RolledBack []string
			Stage      v2alpha1.ExperimentStageType
			Failed     bool
		}{
			Iterations: loadIterations,
			Final:      map[string]string{"outcome": "Succeeded", "winner": fmt.Sprintf("app-%d-v2", i)},
			Completed:  loadIterations,
			Weights:    []v2alpha1.WeightData{{Name: fmt.Sprintf("app-%d-v1", i), Value: 70}, {Name: fmt.Sprintf("app-%d-v2", i), Value: 30}},
			Traffic:    []int64{70, 30},
			Stage:      v2alpha1.StageCompleted,
		}
		if rollsBack(i) {
			want.Iterations, want.Completed = 1, 1
			want.Final = map[string]string{"outcome": "RolledBack", "winner": fmt.Sprintf("app-%d-v1", i)}
			want.Weights = []v2alpha1.WeightData{{Name: fmt.Sprintf("app-%d-v1", i), Value: 100}, {Name: fmt.Sprintf("app-%d-v2", i), Value: 0}}
			want.Traffic = []int64{100, 0}
			want.RolledBack = []string{fmt.Sprintf("app-%d-v2", i)}
		}
		got := want
		got.Iterations = o.iterations
		got.Final = o.final
		got.Completed = exp.Status.GetCompletedIterations()
		got.Weights = exp.Status.CurrentWeightDistribution
		got.Traffic = loadTraffic(t, e, ns, i)
		got.RolledBack = exp.Status.RolledBack
		got.Stage = exp.Status.GetStage()
		got.Failed = exp.Status.IsTrue(v2alpha1.ConditionFailed)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s\nstages:\n%s", name, diff, o.log)
			continue
		}
		if (o.err != nil) != rollsBack(i) {
			t.Errorf("%s: finalize error %v", name, o.err)
		}
		if exp.Status.AssessedIterations == nil || *exp.Status.AssessedIterations != int32(want.Iterations) {
			t.Errorf("%s: assessedIterations %v, want %d", name, exp.Status.AssessedIterations, want.Iterations)
		}
		var wantEvents []string
		for k := 1; k <= want.Iterations; k++ {
			wantEvents = append(wantEvents, fmt.Sprintf("Completed Iteration %d", k))
		}
		gotEvents := iterationEvents[name]
		sort.Strings(gotEvents)
		if diff := cmp.Diff(wantEvents, gotEvents); diff != "" {
			t.Errorf("%s: iteration events (-want +got):\n%s", name, diff)
		}
		// Every version's value is its own, from this experiment's queries.
		for v, level := range map[string]string{fmt.Sprintf("app-%d-v1", i): "7", fmt.Sprintf("app-%d-v2", i): map[bool]string{true: "80", false: "9"}[rollsBack(i)]} {
			d := metricData(exp, "level")[v]
			if d.State != v2alpha1.MetricStateValue || d.Value == nil || d.Value.String() != level {
				t.Errorf("%s: %s level %s %v, want the value %s", name, v, d.State, d.Value, level)
			}
		}
	}
}

func loadTraffic(t *testing.T, e *env, ns string, i int) []int64 {
	t.Helper()
	u, err := e.dyn.Resource(vsGVR).Namespace(ns).Get(context.Background(), fmt.Sprintf("app-%d", i), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	var out []int64
	for _, d := range routes[0].(map[string]any)["route"].([]any) {
		w, _, _ := unstructured.NestedInt64(d.(map[string]any), "weight")
		out = append(out, w)
	}
	return out
}
