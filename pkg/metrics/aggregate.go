package metrics

import (
	"math"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Provenance is written into aggregatedMetrics.
const Provenance = "iter8-tekton metrics collector"

// Aggregate folds one iteration's results into the previous aggregated metrics and
// returns the new ones; prev is not modified. A value resets ConsecutiveMisses. NoData
// and Error increment it and record the state, reason and query; the value is then
// absent, except under the ReusePrevious policy, which keeps the previous value marked
// Stale while ConsecutiveMisses is below the metric's maxConsecutiveMissing. From then
// on the value is absent whatever the policy, so that a metric without data cannot pass
// an objective on an old value forever. Versions and metrics without results keep their
// previous entries.
func Aggregate(prev *v2alpha1.AggregatedMetricsAnalysis, results map[string]map[string]Result, exp *v2alpha1.Experiment, now metav1.Time) *v2alpha1.AggregatedMetricsAnalysis {
	out := &v2alpha1.AggregatedMetricsAnalysis{
		AnalysisMetaData: v2alpha1.AnalysisMetaData{Provenance: Provenance, Timestamp: now},
		Data:             map[string]v2alpha1.AggregatedMetricsData{},
	}
	if prev != nil {
		for k, d := range prev.Data {
			out.Data[k] = *d.DeepCopy()
		}
	}
	for key, versions := range results {
		spec := metricSpec(exp, key)
		d := out.Data[key]
		if d.Data == nil {
			d.Data = map[string]v2alpha1.AggregatedMetricsVersionData{}
		}
		for version, r := range versions {
			old := d.Data[version]
			cur := v2alpha1.AggregatedMetricsVersionData{
				Max:        old.Max,
				Min:        old.Min,
				SampleSize: old.SampleSize,
				State:      r.State,
				Reason:     r.Reason,
				Query:      r.Query,
				Attempts:   int32(r.Attempts),
			}
			if r.State == v2alpha1.MetricStateValue {
				cur.Value = v2alpha1.NewNumber(r.Value)
			} else {
				cur.ConsecutiveMisses = old.ConsecutiveMisses + 1
				if spec.Policy() == v2alpha1.MissingValueReusePrevious && old.Value != nil &&
					cur.ConsecutiveMisses < spec.MaxMissing() {
					v := *old.Value
					cur.Value = &v
					cur.Stale = true
				}
			}
			d.Data[version] = cur
		}
		out.Data[key] = d
	}
	fillSampleSizes(out, results, exp)
	return out
}

// fillSampleSizes records, for each metric with a sampleSize, the value its sample-size
// metric got this iteration, when that metric was collected too. A bare sampleSize names
// a metric in the namespace of the metric that refers to it.
func fillSampleSizes(out *v2alpha1.AggregatedMetricsAnalysis, results map[string]map[string]Result, exp *v2alpha1.Experiment) {
	if exp == nil {
		return
	}
	for key := range results {
		m, ok := exp.Status.MetricObj(key)
		if !ok || m.Spec.SampleSize == nil {
			continue
		}
		ref := *m.Spec.SampleSize
		if !strings.Contains(ref, "/") {
			if ns := namespaceOf(exp, m); ns != "" {
				ref = ns + "/" + ref
			}
		}
		target, ok := exp.Status.MetricObj(ref)
		if !ok {
			continue
		}
		for sampleKey, versions := range results {
			if sm, ok := exp.Status.MetricObj(sampleKey); !ok || sm != target {
				continue
			}
			d := out.Data[key]
			for version := range results[key] {
				vd := d.Data[version]
				vd.SampleSize = nil
				if r, ok := versions[version]; ok && r.State == v2alpha1.MetricStateValue && r.Value >= 0 && r.Value < math.MaxInt32 {
					n := int32(math.Round(r.Value))
					vd.SampleSize = &n
				}
				d.Data[version] = vd
			}
			break
		}
	}
}

// namespaceOf returns the namespace an embedded metric is stored under.
func namespaceOf(exp *v2alpha1.Experiment, m *v2alpha1.Metric) string {
	if m.Namespace != "" {
		return m.Namespace
	}
	for i := range exp.Status.Metrics {
		if &exp.Status.Metrics[i].MetricObj == m {
			if ns, _, ok := strings.Cut(exp.Status.Metrics[i].Name, "/"); ok {
				return ns
			}
		}
	}
	return ""
}

// metricSpec returns the spec of the metric a key names, or the defaults.
func metricSpec(exp *v2alpha1.Experiment, key string) *v2alpha1.MetricSpec {
	if exp != nil {
		if m, ok := exp.Status.MetricObj(key); ok {
			return &m.Spec
		}
	}
	if m, ok := builtinRef(key); ok {
		return &m.Spec
	}
	return &v2alpha1.MetricSpec{}
}
