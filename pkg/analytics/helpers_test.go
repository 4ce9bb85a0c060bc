package analytics

import (
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func num(s string) *v2alpha1.Number { return v2alpha1.ParseNumber(s) }

func ptr[T any](v T) *T { return &v }

// value is a fresh value as the iterate stage records it.
func value(s string) v2alpha1.AggregatedMetricsVersionData {
	return v2alpha1.AggregatedMetricsVersionData{Value: num(s), State: v2alpha1.MetricStateValue}
}

// miss is an iteration without a fresh value; prev, if not "", is the reused value.
func miss(state v2alpha1.MetricState, reason string, misses int32, prev string) v2alpha1.AggregatedMetricsVersionData {
	d := v2alpha1.AggregatedMetricsVersionData{State: state, Reason: reason, ConsecutiveMisses: misses}
	if prev != "" {
		d.Value, d.Stale = num(prev), true
	}
	return d
}

func policy(p v2alpha1.MissingValuePolicy, maxMissing int32) *v2alpha1.MetricSpec {
	s := &v2alpha1.MetricSpec{OnMissingValue: &p}
	if maxMissing != 0 {
		s.MaxConsecutiveMissing = &maxMissing
	}
	return s
}

func upper(metric, limit string) v2alpha1.Objective {
	return v2alpha1.Objective{Metric: metric, UpperLimit: num(limit)}
}

func lower(metric, limit string) v2alpha1.Objective {
	return v2alpha1.Objective{Metric: metric, LowerLimit: num(limit)}
}

func rollingBack(o v2alpha1.Objective, rb bool) v2alpha1.Objective {
	o.RollbackOnFailure = &rb
	return o
}

// values maps metric reference -> version -> data.
type values map[string]map[string]v2alpha1.AggregatedMetricsVersionData

// expSpec describes a test experiment compactly.
type expSpec struct {
	pattern    v2alpha1.TestingPatternType
	deploy     v2alpha1.DeploymentPatternType // "" for the default
	versions   []string                       // baseline first; nil for no versionInfo
	objectives []v2alpha1.Objective
	rewards    []v2alpha1.Reward
	reward     *v2alpha1.Reward // v2alpha1 spelling
	values     values           // nil for no analysis
	metrics    map[string]*v2alpha1.MetricSpec
	current    []v2alpha1.WeightData
	weights    *v2alpha1.Weights
}

func (s expSpec) build() *v2alpha1.Experiment {
	e := &v2alpha1.Experiment{}
	e.Name = "exp"
	e.Spec.Target = "default/app"
	e.Spec.Strategy.TestingPattern = s.pattern
	if s.deploy != "" {
		e.Spec.Strategy.DeploymentPattern = ptr(s.deploy)
	}
	e.Spec.Strategy.Weights = s.weights
	if len(s.versions) > 0 {
		vi := &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: s.versions[0]}}
		for _, c := range s.versions[1:] {
			vi.Candidates = append(vi.Candidates, v2alpha1.VersionDetail{Name: c})
		}
		e.Spec.VersionInfo = vi
	}
	if s.objectives != nil || s.rewards != nil || s.reward != nil {
		e.Spec.Criteria = &v2alpha1.Criteria{Objectives: s.objectives, Rewards: s.rewards, Reward: s.reward}
	}
	for name, spec := range s.metrics {
		e.Status.Metrics = append(e.Status.Metrics, v2alpha1.MetricInfo{Name: name, MetricObj: v2alpha1.Metric{Spec: *spec}})
	}
	if s.values != nil {
		agg := &v2alpha1.AggregatedMetricsAnalysis{Data: map[string]v2alpha1.AggregatedMetricsData{}}
		for m, byVersion := range s.values {
			agg.Data[m] = v2alpha1.AggregatedMetricsData{Data: byVersion}
		}
		e.Status.Analysis = &v2alpha1.Analysis{AggregatedMetrics: agg}
	}
	e.Status.CurrentWeightDistribution = s.current
	return e
}
