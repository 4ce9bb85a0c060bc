package experiment

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/client-go/dynamic"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/traffic"
)

// CheckDarkVersion checks the seed's dark-version scenario: a Conformance experiment whose
// baseline is a Knative revision (variable `revision`) that receives only mirrored
// traffic. It returns a warning when the revision is not Ready or when no Istio
// VirtualService can be shown to mirror traffic to it; "" when both hold or when the
// experiment is not of that kind. Nothing here fails the experiment: a version that gets
// no requests has no latency values, and the objectives fail on missing values anyway.
func CheckDarkVersion(ctx context.Context, dyn dynamic.Interface, exp *v2alpha1.Experiment) string {
	if exp.Spec.Strategy.TestingPattern != v2alpha1.TestingPatternConformance || exp.Spec.VersionInfo == nil {
		return ""
	}
	revision, ok := exp.Spec.VersionInfo.Baseline.Variable("revision")
	if !ok || revision == "" {
		return ""
	}
	ns, ok := exp.Spec.VersionInfo.Baseline.Variable("namespace")
	if !ok || ns == "" {
		ns = exp.Namespace
		if tns, _, found := strings.Cut(exp.Spec.Target, "/"); found {
			ns = tns
		}
	}
	var warnings []string
	ready, msg, err := traffic.RevisionReady(ctx, dyn, ns, revision)
	switch {
	case err != nil:
		warnings = append(warnings, fmt.Sprintf("cannot tell whether revision %s is ready: %v", revision, err))
	case !ready:
		warnings = append(warnings, fmt.Sprintf("revision %s is not ready: %s", revision, msg))
	}
	ms, err := traffic.CheckMirroring(ctx, dyn, ns, revision)
	if err != nil || ms.State != traffic.Mirrored {
		warnings = append(warnings, fmt.Sprintf("mirroring to revision %s: %s: %s", revision, ms.State, ms.Message))
	}
	return strings.Join(warnings, "; ")
}
