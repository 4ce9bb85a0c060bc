package analytics

import (
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Unreadable lists the metrics of the objectives and rewards of exp that could not be
// read for a version at the last iteration: its query failed (State Error), or nothing was
// ever recorded for it, and its missing-value policy does not excuse the miss. One line per
// metric, naming the versions and the error, e.g.
// "mean-latency (current, candidate: error (connection refused))".
//
// An experiment with such metrics was not judged: whatever its winner, it must not read
// as a success (a dead Prometheus is not a passing release). An empty result (State
// NoData) is an answer, not a failure to read: it fails the objective instead.
func Unreadable(exp *v2alpha1.Experiment) []string {
	if exp.Status.GetCompletedIterations() == 0 {
		return nil
	}
	var refs []string
	seen := map[string]bool{}
	add := func(ref string) {
		if !seen[ref] {
			seen[ref] = true
			refs = append(refs, ref)
		}
	}
	for _, o := range exp.Spec.Objectives() {
		add(o.Metric)
	}
	for _, r := range exp.Spec.Rewards() {
		add(r.Metric)
	}
	var out []string
	for _, ref := range refs {
		spec := metricSpec(exp, ref)
		var versions []string
		reason := ""
		for _, v := range exp.Spec.VersionNames() {
			d := versionData(exp, ref, v)
			if d != nil && d.State != v2alpha1.MetricStateError {
				continue
			}
			r := read(spec, d)
			if r.ok || r.excused {
				continue
			}
			versions = append(versions, v)
			if reason == "" {
				reason = r.missing
			}
		}
		if len(versions) > 0 {
			out = append(out, ref+" ("+strings.Join(versions, ", ")+": "+reason+")")
		}
	}
	return out
}
