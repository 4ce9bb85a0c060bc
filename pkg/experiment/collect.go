package experiment

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics/builtin"
)

// CollectBuiltin is the metrics/collect task's load generator: it sends load to each
// version in turn with fortio and adds the histograms of the versions of the experiment to
// status.analysis.aggregatedBuiltinHists, accumulating over runs.
func CollectBuiltin(ctx context.Context, exp *v2alpha1.Experiment, with actions.CollectSpec) error {
	runs := map[string]*builtin.Histogram{}
	for _, v := range with.Versions {
		h, err := builtin.Load(ctx, builtin.LoadOptions{
			URL:         v.URL,
			Headers:     v.Headers,
			NumRequests: int64(with.NumQueries),
			Duration:    with.Time,
			QPS:         with.QPS,
			Connections: with.Connections,
			Payload:     []byte(with.PayloadStr),
			ContentType: with.ContentType,
		})
		if err != nil {
			return fmt.Errorf("sending load to %s (%s): %w", v.Name, v.URL, err)
		}
		if _, real := exp.Spec.Version(v.Name); real && !with.LoadOnly {
			runs[v.Name] = h
		}
	}
	if len(runs) == 0 {
		return nil
	}
	if exp.Status.Analysis == nil {
		exp.Status.Analysis = &v2alpha1.Analysis{}
	}
	hists, err := builtin.AddHists(exp.Status.Analysis.AggregatedBuiltinHists, runs, metav1.NewTime(time.Now()))
	if err != nil {
		return fmt.Errorf("recording the load's histograms: %w", err)
	}
	exp.Status.Analysis.AggregatedBuiltinHists = hists
	return nil
}
