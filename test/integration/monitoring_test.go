package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

func monitoringFile(t *testing.T, name string) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "config", "monitoring", name)
}

// TestAlertRules checks the rules with promtool and runs their unit tests.
func TestAlertRules(t *testing.T) {
	harness.Integration(t, harness.NeedKubeStateMetrics)
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = filepath.Dir(monitoringFile(t, "rules.yaml"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusRuleMatchesRules: the PrometheusRule carries the groups of rules.yaml.
func TestPrometheusRuleMatchesRules(t *testing.T) {
	read := func(name string) map[string]any {
		b, err := os.ReadFile(monitoringFile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	rules, pr := read("rules.yaml"), read("prometheusrule.yaml")
	if diff := cmp.Diff(rules, pr["spec"]); diff != "" {
		t.Errorf("prometheusrule.yaml's spec differs from rules.yaml (-rules +prometheusrule):\n%s", diff)
	}
}

// TestExperimentMetrics runs the real kube-state-metrics, with config/monitoring's
// configuration, against the real API server, scraped by the real Prometheus: an
// experiment run to its end, one rolled back and one stuck show as the series the
// alerts and the dashboard read, and each alert fires for its experiment only.
func TestExperimentMetrics(t *testing.T) {
	harness.Integration(t, harness.NeedControlPlane, harness.NeedPrometheus, harness.NeedKubeStateMetrics)
	e := cluster(t)
	ns := namespace(t, e)
	istioVS(t, e, ns, 100, 0)
	e.apply(t, ns, healthyLatency(t), vsCanaryExperiment(t, "done", ns+"/sample-app", ns, 2))
	if _, res, err := e.runAll(t, ns, "done", 1); err != nil || res["outcome"] != "Succeeded" {
		t.Fatalf("the experiment: %v %v", res, err)
	}
	// Two more whose status says what the alerts look for.
	ri := e.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns)
	for name, status := range map[string]map[string]any{
		"rolledback": {"stage": "Completed", "outcome": "RolledBack", "completedIterations": int64(1), "rolledBack": []any{"sample-app-v2"}},
		"stuck":      {"stage": "Running", "completedIterations": int64(1), "lastUpdateTime": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
	} {
		e.apply(t, ns, vsCanaryExperiment(t, name, ns+"/"+name, ns, 2))
		u, err := ri.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u.Object["status"] = status
		if _, err := ri.UpdateStatus(context.Background(), u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ksm, err := harness.StartKubeStateMetrics(ctx, e.cp.Kubeconfig(), monitoringFile(t, "kube-state-metrics.yaml"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ksm.Stop)
	prom, err := harness.StartPrometheus(ctx, []string{ksm.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prom.Stop() })
	if _, err := prom.WaitForSamples(ctx, fmt.Sprintf(`iter8_experiment_stage{namespace=%q,name="stuck"}`, ns)); err != nil {
		t.Fatalf("waiting for the experiments' series: %v", err)
	}

	query := func(q string) map[string]float64 {
		t.Helper()
		v, _, _, err := prom.API().Query(ctx, q, time.Now())
		if err != nil {
			t.Fatalf("query %s: %v", q, err)
		}
		out := map[string]float64{}
		var raw []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		b, _ := json.Marshal(v)
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("query %s: %v (%s)", q, err, b)
		}
		for _, s := range raw {
			if s.Metric["namespace"] != ns {
				continue // the other tests' experiments, in the shared API server
			}
			var keys []string
			for _, k := range []string{"name", "stage", "outcome", "version", "metric", "objective"} {
				if v, ok := s.Metric[k]; ok {
					keys = append(keys, k+"="+v)
				}
			}
			var f float64
			fmt.Sscan(s.Value[1].(string), &f)
			out[strings.Join(keys, ",")] = f
		}
		return out
	}
	sel := fmt.Sprintf(`namespace=%q`, ns)
	for _, tc := range []struct {
		query string
		want  map[string]float64
	}{
		{`iter8_experiment_stage{` + sel + `,stage=~"Running|Completed"} == 1`,
			map[string]float64{"name=done,stage=Completed": 1, "name=rolledback,stage=Completed": 1, "name=stuck,stage=Running": 1}},
		{`iter8_experiment_outcome{` + sel + `} == 1`,
			map[string]float64{"name=done,outcome=Succeeded": 1, "name=rolledback,outcome=RolledBack": 1}},
		{`iter8_experiment_completed_iterations{` + sel + `,name="done"}`, map[string]float64{"name=done": 2}},
		{`iter8_experiment_weight{` + sel + `,name="done"}`, map[string]float64{"name=done,version=sample-app-v1": 80, "name=done,version=sample-app-v2": 20}},
		{`iter8_experiment_objective_satisfied{` + sel + `,name="done"}`,
			map[string]float64{"name=done,version=sample-app-v1,metric=latency,objective=0": 1, "name=done,version=sample-app-v2,metric=latency,objective=0": 1}},
	} {
		if diff := cmp.Diff(tc.want, query(tc.query)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.query, diff)
		}
	}

	// Each alert's expression selects its experiment only.
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	b, err := os.ReadFile(monitoringFile(t, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Iter8ExperimentRolledBack": "rolledback", "Iter8ExperimentFailed": "", "Iter8ExperimentStuck": "stuck"}
	for _, r := range rules.Groups[0].Rules {
		var got, wantKeys []string
		for k := range query(r.Expr) {
			got = append(got, k)
		}
		if want[r.Alert] != "" {
			wantKeys = []string{"name=" + want[r.Alert]}
		}
		if diff := cmp.Diff(wantKeys, got); diff != "" {
			t.Errorf("alert %s selects (-want +got):\n%s", r.Alert, diff)
		}
	}

	// Every query of the dashboard is valid PromQL for this Prometheus.
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	b, err = os.ReadFile(monitoringFile(t, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			q := strings.NewReplacer("$namespace", ns, "$experiment", "done").Replace(tg.Expr)
			if _, _, _, err := prom.API().Query(ctx, q, time.Now()); err != nil {
				t.Errorf("dashboard panel %q: %v", p.Title, err)
			}
		}
	}
}
