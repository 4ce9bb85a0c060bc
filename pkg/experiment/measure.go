package experiment

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics"
)

// MeasureWith returns a Deps.Measure that queries through c and folds the results into
// the experiment's previous values with each metric's missing-value policy.
func MeasureWith(c *metrics.Collector, now func() metav1.Time) func(context.Context, *v2alpha1.Experiment) (*v2alpha1.AggregatedMetricsAnalysis, error) {
	return func(ctx context.Context, exp *v2alpha1.Experiment) (*v2alpha1.AggregatedMetricsAnalysis, error) {
		results := c.Collect(ctx, exp)
		var prev *v2alpha1.AggregatedMetricsAnalysis
		if exp.Status.Analysis != nil {
			prev = exp.Status.Analysis.AggregatedMetrics
		}
		return metrics.Aggregate(prev, results, exp, now()), ctx.Err()
	}
}
