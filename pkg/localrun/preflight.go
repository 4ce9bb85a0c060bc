package localrun

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// ErrNeedsPrometheus is returned, wrapped, when the experiment uses prometheus metrics
// without urlTemplate and the run has no Prometheus URL: every one of their queries would
// fail, so the run stops before its first iteration and says which flag is missing.
var ErrNeedsPrometheus = errors.New("a Prometheus URL is needed")

// checkPrometheus names the metrics of exp (as init resolved them into its status) that
// need a Prometheus URL the run does not have.
func checkPrometheus(exp *v2alpha1.Experiment, prometheusURL string) error {
	if prometheusURL != "" {
		return nil
	}
	var names []string
	for _, mi := range exp.Status.Metrics {
		s := mi.MetricObj.Spec
		if len(s.Mock) > 0 || s.IsBuiltin() || s.Provider == nil || !strings.EqualFold(*s.Provider, "prometheus") {
			continue
		}
		if s.URLTemplate == nil || strings.TrimSpace(*s.URLTemplate) == "" {
			names = append(names, mi.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return fmt.Errorf("%w: prometheus metrics %s have no urlTemplate; pass --prometheus URL (the base URL of a Prometheus, e.g. http://127.0.0.1:9090)",
		ErrNeedsPrometheus, strings.Join(names, ", "))
}
