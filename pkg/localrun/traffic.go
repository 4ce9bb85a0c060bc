package localrun

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/experiment"
)

// Locally there is no router to shift: iter8ctl run models one. The weights live in
// memory (Traffic), and metrics/collect splits its load across the versions by them
// (CollectByWeights), so that a Progressive canary shifts real requests iteration by
// iteration (a BlueGreen one the same way: it differs only in rolling back by default).

// LocalTrafficKind is the kind of the weightObjRefs ModelTraffic gives the versions that
// have none: the local traffic model, not an object of any cluster.
const LocalTrafficKind = "LocalTraffic"

// ModelTraffic gives every version of an experiment that shifts traffic and has no
// weightObjRef one to the local traffic model, so that Progressive and BlueGreen
// experiments written for the cluster run locally. It changes nothing else.
func ModelTraffic(exp *v2alpha1.Experiment) {
	if !exp.Spec.ShiftsTraffic() || exp.Spec.VersionInfo == nil {
		return
	}
	vi := exp.Spec.VersionInfo
	ref := func(i int) *corev1.ObjectReference {
		return &corev1.ObjectReference{
			APIVersion: v2alpha1.V2alpha2.String(),
			Kind:       LocalTrafficKind,
			Name:       exp.Name,
			FieldPath:  fmt.Sprintf(".weights[%d]", i),
		}
	}
	if vi.Baseline.WeightObjRef == nil {
		vi.Baseline.WeightObjRef = ref(0)
	}
	for i := range vi.Candidates {
		if vi.Candidates[i].WeightObjRef == nil {
			vi.Candidates[i].WeightObjRef = ref(i + 1)
		}
	}
}

// Traffic is the local traffic model: the weights of the versions, in memory. It starts
// as a rollout does, all traffic on the baseline.
type Traffic struct {
	mu      sync.Mutex
	weights map[string]int32
}

// Observe is experiment.Traffic's: the current weights, in the versions' order.
func (t *Traffic) Observe(_ context.Context, exp *v2alpha1.Experiment) ([]v2alpha1.WeightData, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := exp.Spec.VersionNames()
	if t.weights == nil {
		t.weights = map[string]int32{}
		for i, v := range names {
			if i == 0 {
				t.weights[v] = 100
			} else {
				t.weights[v] = 0
			}
		}
	}
	out := make([]v2alpha1.WeightData, 0, len(names))
	for _, v := range names {
		out = append(out, v2alpha1.WeightData{Name: v, Value: t.weights[v]})
	}
	return out, nil
}

// Apply is experiment.Traffic's: it sets the desired weights.
func (t *Traffic) Apply(_ context.Context, _ *v2alpha1.Experiment, _, desired []v2alpha1.WeightData) ([]v2alpha1.WeightData, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.weights == nil {
		t.weights = map[string]int32{}
	}
	for _, w := range desired {
		t.weights[w.Name] = w.Value
	}
	return desired, nil
}

var _ experiment.Traffic = (*Traffic)(nil)

// trickleDivisor: a version without traffic still gets a tenth of an even share of the
// load, at least one request, as a smoke probe does, so that a candidate at 0 % can be
// judged and moved up.
const trickleDivisor = 10

// CollectByWeights runs collect once per version with that version's share of the load:
// the load of all versions (numQueries each, or qps each for a time) split by the
// experiment's current weights, a version at 0 % getting a trickle. When the experiment
// shifts no traffic or has no weights yet, collect runs as written.
func CollectByWeights(collect func(context.Context, *v2alpha1.Experiment, actions.CollectSpec) error) func(context.Context, *v2alpha1.Experiment, actions.CollectSpec) error {
	return func(ctx context.Context, exp *v2alpha1.Experiment, with actions.CollectSpec) error {
		weights := exp.Status.CurrentWeightDistribution
		if !exp.Spec.ShiftsTraffic() || len(weights) == 0 || len(with.Versions) == 0 {
			return collect(ctx, exp, with)
		}
		weight := map[string]int32{}
		for _, w := range weights {
			weight[w.Name] = w.Value
		}
		n := len(with.Versions)
		for _, v := range with.Versions {
			share := with
			share.Versions = []actions.CollectVersion{v}
			w, judged := weight[v.Name]
			if !judged {
				// Not a version of the experiment (load only): as written.
				if err := collect(ctx, exp, share); err != nil {
					return err
				}
				continue
			}
			if with.NumQueries > 0 {
				total := with.NumQueries * n
				share.NumQueries = total * int(w) / 100
				if trickle := max(1, with.NumQueries/trickleDivisor); share.NumQueries < trickle {
					share.NumQueries = trickle
				}
			}
			if with.Time > 0 && with.QPS > 0 {
				share.QPS = with.QPS * float64(n) * float64(w) / 100
				if trickle := with.QPS / trickleDivisor; share.QPS < trickle {
					share.QPS = trickle
				}
			}
			if err := collect(ctx, exp, share); err != nil {
				return err
			}
		}
		return nil
	}
}
