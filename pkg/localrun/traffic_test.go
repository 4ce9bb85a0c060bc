package localrun

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func canary(pattern v2alpha1.DeploymentPatternType, weights ...int32) *v2alpha1.Experiment {
	exp := &v2alpha1.Experiment{Spec: v2alpha1.ExperimentSpec{
		Strategy:    v2alpha1.Strategy{TestingPattern: v2alpha1.TestingPatternCanary, DeploymentPattern: &pattern},
		VersionInfo: &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "current"}, Candidates: []v2alpha1.VersionDetail{{Name: "candidate"}}},
	}}
	for i, v := range []string{"current", "candidate"}[:len(weights)] {
		exp.Status.CurrentWeightDistribution = append(exp.Status.CurrentWeightDistribution, v2alpha1.WeightData{Name: v, Value: weights[i]})
	}
	return exp
}

// TestCollectByWeights: the load of all versions is split by the weights, a version at
// 0 % getting a trickle; a pseudo version and an experiment that shifts nothing get the
// load as written.
func TestCollectByWeights(t *testing.T) {
	spec := actions.CollectSpec{NumQueries: 20, QPS: 8, Versions: []actions.CollectVersion{{Name: "current"}, {Name: "candidate"}, {Name: "warmup"}}}
	timed := actions.CollectSpec{Time: time.Second, QPS: 8, Versions: []actions.CollectVersion{{Name: "current"}, {Name: "candidate"}}}
	for _, tc := range []struct {
		name string
		exp  *v2alpha1.Experiment
		with actions.CollectSpec
		want []string
	}{
		{"all on the baseline", canary(v2alpha1.DeploymentPatternProgressive, 100, 0), spec, []string{"current:60:8", "candidate:2:8", "warmup:20:8"}},
		{"90/10", canary(v2alpha1.DeploymentPatternProgressive, 90, 10), spec, []string{"current:54:8", "candidate:6:8", "warmup:20:8"}},
		{"blue-green switched", canary(v2alpha1.DeploymentPatternBlueGreen, 0, 100), spec, []string{"current:2:8", "candidate:60:8", "warmup:20:8"}},
		{"by time: the rate is split", canary(v2alpha1.DeploymentPatternProgressive, 75, 25), timed, []string{"current:0:12", "candidate:0:4"}},
		{"fixed split: as written", canary(v2alpha1.DeploymentPatternFixedSplit, 90, 10), spec, []string{"current,candidate,warmup:20:8"}},
		{"no weights yet: as written", canary(v2alpha1.DeploymentPatternProgressive), spec, []string{"current,candidate,warmup:20:8"}},
	} {
		var got []string
		collect := CollectByWeights(func(_ context.Context, _ *v2alpha1.Experiment, with actions.CollectSpec) error {
			var names string
			for i, v := range with.Versions {
				if i > 0 {
					names += ","
				}
				names += v.Name
			}
			got = append(got, names+":"+itoa(with.NumQueries)+":"+itoa(int(with.QPS)))
			return nil
		})
		if err := collect(context.Background(), tc.exp, tc.with); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestModelTraffic: versions without a weightObjRef get one to the local model, so that a
// Progressive experiment written for the cluster validates and runs locally.
func TestModelTraffic(t *testing.T) {
	exp := canary(v2alpha1.DeploymentPatternProgressive)
	exp.Name = "p"
	if ferr := exp.Spec.ValidateVersionInfo(); ferr == nil {
		t.Fatal("a Progressive canary without weightObjRefs validated before ModelTraffic")
	}
	ModelTraffic(exp)
	if ferr := exp.Spec.ValidateVersionInfo(); ferr != nil {
		t.Errorf("after ModelTraffic: %v", ferr)
	}
	if r := exp.Spec.VersionInfo.Candidates[0].WeightObjRef; r == nil || r.Kind != LocalTrafficKind || r.FieldPath != ".weights[1]" {
		t.Errorf("candidate weightObjRef %+v", r)
	}
	fixed := canary(v2alpha1.DeploymentPatternFixedSplit)
	ModelTraffic(fixed)
	if fixed.Spec.VersionInfo.Baseline.WeightObjRef != nil {
		t.Error("ModelTraffic gave a FixedSplit experiment a weightObjRef")
	}
}
