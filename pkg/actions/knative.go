package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// ksvcGVR is the resource of Knative Services.
var ksvcGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}

// knativeService is the part of a Knative Service (serving.knative.dev/v1) the task reads.
// knative.dev/serving's own type would link Knative's networking and autoscaler
// configuration packages into every stage binary for these few fields.
type knativeService struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Traffic []trafficTarget `json:"traffic,omitempty"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int64            `json:"observedGeneration,omitempty"`
		Conditions         []apis.Condition `json:"conditions,omitempty"`
		Traffic            []trafficTarget  `json:"traffic,omitempty"`
	} `json:"status"`
}

// trafficTarget is an entry of a Knative Service's spec.traffic or status.traffic.
type trafficTarget struct {
	RevisionName   string `json:"revisionName,omitempty"`
	LatestRevision *bool  `json:"latestRevision,omitempty"`
	Percent        *int64 `json:"percent,omitempty"`
}

// The conditions of a ready Knative Service.
const (
	ksvcConditionReady               apis.ConditionType = "Ready"
	ksvcConditionConfigurationsReady apis.ConditionType = "ConfigurationsReady"
	ksvcConditionRoutesReady         apis.ConditionType = "RoutesReady"
)

func (s *knativeService) condition(t apis.ConditionType) *apis.Condition {
	for i := range s.Status.Conditions {
		if s.Status.Conditions[i].Type == t {
			return &s.Status.Conditions[i]
		}
	}
	return nil
}

// iter8's polling of the Knative Service: 10 attempts, 18 s apart.
const (
	defaultKsvcAttempts      = 10
	defaultKsvcPeriodSeconds = 18
)

// The variables knative/init-experiment reads and adds.
const (
	revisionVariable  = "revision"
	namespaceVariable = "namespace"
)

// ErrNeedsCluster is wrapped by the errors of tasks that need a cluster when Env has none
// (iter8ctl run), so a caller can tell a local-mode limitation from a failure.
var ErrNeedsCluster = errors.New("needs a cluster")

type initExperimentTask struct {
	attempts int
	period   time.Duration
}

func parseInitExperiment(with map[string]apiextensionsv1.JSON) (task, *apis.FieldError) {
	d := newWithDecoder(with)
	t := initExperimentTask{attempts: defaultKsvcAttempts, period: defaultKsvcPeriodSeconds * time.Second}
	if d.decode("numAttempts", &t.attempts) && t.attempts < 1 {
		d.fail(apis.ErrInvalidValue(t.attempts, "numAttempts", "must be at least 1"))
	}
	var period int
	if d.decode("periodSeconds", &period) {
		if period < 0 {
			d.fail(apis.ErrInvalidValue(period, "periodSeconds", "must not be negative"))
		}
		t.period = time.Duration(period) * time.Second
	}
	if ferr := d.finish(); ferr != nil {
		return nil, ferr
	}
	return t, nil
}

func (t initExperimentTask) run(ctx context.Context, tc *taskContext) error {
	if tc.Dynamic == nil {
		return fmt.Errorf("knative/init-experiment %w; it cannot run with iter8ctl run", ErrNeedsCluster)
	}
	exp := tc.exp
	ns, name, ok := strings.Cut(exp.Spec.Target, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("unable to parse target %q into the namespace/name of a Knative Service", exp.Spec.Target)
	}
	pattern := exp.Spec.Strategy.TestingPattern
	if pattern != v2alpha1.TestingPatternConformance && pattern != v2alpha1.TestingPatternCanary {
		return fmt.Errorf("unsupported testing pattern %s: knative/init-experiment supports Conformance and Canary", pattern)
	}
	svc, err := t.waitReady(ctx, tc, ns, name)
	if err != nil {
		return err
	}
	vi := exp.Spec.VersionInfo.DeepCopy()
	if pattern == v2alpha1.TestingPatternConformance {
		vi, err = conformanceVersions(vi, svc)
	} else {
		vi, err = canaryVersions(vi, svc)
	}
	if err != nil {
		return fmt.Errorf("filling versionInfo from Knative Service %s/%s: %w", ns, name, err)
	}
	exp.Spec.VersionInfo = vi
	for _, v := range exp.Spec.Versions() {
		rev, _ := v.Variable(revisionVariable)
		if r := v.WeightObjRef; r != nil {
			tc.logf("version %s is revision %s, its weight is %s of %s %s/%s", v.Name, rev, r.FieldPath, r.Kind, r.Namespace, r.Name)
		} else {
			tc.logf("version %s is revision %s", v.Name, rev)
		}
	}
	return nil
}

// waitReady polls the Knative Service until its Ready, ConfigurationsReady and
// RoutesReady conditions are True for its current generation.
func (t initExperimentTask) waitReady(ctx context.Context, tc *taskContext, ns, name string) (*knativeService, error) {
	var why string
	for attempt := 1; ; attempt++ {
		svc, notReady, err := getKsvc(ctx, tc, ns, name)
		if err != nil {
			return nil, err
		}
		if notReady == "" {
			tc.logf("Knative Service %s/%s is ready", ns, name)
			return svc, nil
		}
		why = notReady
		if attempt >= t.attempts {
			break
		}
		tc.logf("Knative Service %s/%s is not ready (attempt %d of %d): %s", ns, name, attempt, t.attempts, why)
		if err := tc.Sleep(ctx, t.period); err != nil {
			return nil, fmt.Errorf("waiting for Knative Service %s/%s: %w", ns, name, err)
		}
	}
	return nil, fmt.Errorf("waiting for Knative Service %s/%s: not ready after %d attempts %s apart: %s", ns, name, t.attempts, t.period, why)
}

// getKsvc reads the Knative Service and says why it is not ready, or "" when it is. Errors
// that waiting cannot cure end the wait.
func getKsvc(ctx context.Context, tc *taskContext, ns, name string) (*knativeService, string, error) {
	u, err := tc.Dynamic.Resource(ksvcGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, "not found", nil
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return nil, "", fmt.Errorf("reading Knative Service %s/%s: %w", ns, name, err)
	case ctx.Err() != nil:
		return nil, "", fmt.Errorf("reading Knative Service %s/%s: %w", ns, name, ctx.Err())
	case err != nil:
		return nil, err.Error(), nil
	}
	var svc knativeService
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &svc); err != nil {
		return nil, "", fmt.Errorf("decoding Knative Service %s/%s: %w", ns, name, err)
	}
	if g, og := svc.Generation, svc.Status.ObservedGeneration; og != g {
		return nil, fmt.Sprintf("status is for generation %d, spec is at generation %d", og, g), nil
	}
	var missing []string
	for _, c := range []apis.ConditionType{ksvcConditionReady, ksvcConditionConfigurationsReady, ksvcConditionRoutesReady} {
		cond := svc.condition(c)
		switch {
		case cond == nil:
			missing = append(missing, fmt.Sprintf("%s is not set", c))
		case !cond.IsTrue():
			s := fmt.Sprintf("%s is %s", c, cond.Status)
			if cond.Reason != "" || cond.Message != "" {
				s += fmt.Sprintf(" (%s: %s)", cond.Reason, cond.Message)
			}
			missing = append(missing, s)
		}
	}
	return &svc, strings.Join(missing, ", "), nil
}

// conformanceVersions fills in the baseline of a Conformance experiment: its revision
// variable, when absent, from the last entry of status.traffic (iter8 v2alpha1); the
// namespace variable. A given revision must be in status.traffic. Nothing the user gave
// is overwritten.
func conformanceVersions(vi *v2alpha1.VersionInfo, svc *knativeService) (*v2alpha1.VersionInfo, error) {
	if vi == nil {
		vi = &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "baseline"}}
	}
	if len(vi.Candidates) != 0 {
		return nil, fmt.Errorf("a Conformance experiment has no candidates, got %d", len(vi.Candidates))
	}
	if err := fillVersion(&vi.Baseline, svc, len(svc.Status.Traffic)-1); err != nil {
		return nil, err
	}
	return vi, nil
}

// canaryVersions fills in the baseline and the candidate of a Canary experiment: their
// revision variables, when absent, from the last two entries of status.traffic (iter8
// v2alpha1); their namespace variables; and, unless given, their weightObjRefs pointing
// at the percent of their entry in the Service's spec.traffic.
func canaryVersions(vi *v2alpha1.VersionInfo, svc *knativeService) (*v2alpha1.VersionInfo, error) {
	if vi == nil {
		vi = &v2alpha1.VersionInfo{Baseline: v2alpha1.VersionDetail{Name: "baseline"}}
	}
	switch len(vi.Candidates) {
	case 0:
		vi.Candidates = []v2alpha1.VersionDetail{{Name: "candidate"}}
	case 1:
	default:
		return nil, fmt.Errorf("a Canary experiment has exactly one candidate, got %d", len(vi.Candidates))
	}
	n := len(svc.Status.Traffic)
	versions := []*v2alpha1.VersionDetail{&vi.Baseline, &vi.Candidates[0]}
	for i, v := range versions {
		if err := fillVersion(v, svc, n-2+i); err != nil {
			return nil, err
		}
	}
	b, _ := vi.Baseline.Variable(revisionVariable)
	c, _ := vi.Candidates[0].Variable(revisionVariable)
	if b == c {
		return nil, fmt.Errorf("baseline %s and candidate %s are the same revision %s", vi.Baseline.Name, vi.Candidates[0].Name, b)
	}
	for _, v := range versions {
		if v.WeightObjRef != nil {
			continue
		}
		rev, _ := v.Variable(revisionVariable)
		i, err := specTrafficIndex(svc, rev)
		if err != nil {
			return nil, fmt.Errorf("version %s: %w", v.Name, err)
		}
		v.WeightObjRef = &corev1.ObjectReference{
			APIVersion: ksvcGVR.GroupVersion().String(),
			Kind:       "Service",
			Namespace:  svc.Namespace,
			Name:       svc.Name,
			FieldPath:  fmt.Sprintf(".spec.traffic[%d].percent", i),
		}
	}
	return vi, nil
}

// fillVersion sets the version's revision variable, when absent, to that of
// status.traffic[fallback], checks that the revision is in status.traffic, and sets the
// namespace variable when absent.
func fillVersion(v *v2alpha1.VersionDetail, svc *knativeService, fallback int) error {
	rev, ok := v.Variable(revisionVariable)
	if !ok {
		if fallback < 0 || fallback >= len(svc.Status.Traffic) || svc.Status.Traffic[fallback].RevisionName == "" {
			return fmt.Errorf("version %s has no variable %s, and status.traffic has no entry to take it from (%s)", v.Name, revisionVariable, trafficString(svc.Status.Traffic))
		}
		rev = svc.Status.Traffic[fallback].RevisionName
		setVariable(v, revisionVariable, rev)
	}
	if statusTrafficIndex(svc, rev) < 0 {
		return fmt.Errorf("revision %s of version %s is not in status.traffic (%s)", rev, v.Name, trafficString(svc.Status.Traffic))
	}
	setVariable(v, namespaceVariable, svc.Namespace)
	return nil
}

// setVariable adds a variable unless the version has one of that name: what the user
// wrote wins (iter8's UpdateVariable).
func setVariable(v *v2alpha1.VersionDetail, name, value string) {
	if _, ok := v.Variable(name); ok {
		return
	}
	v.Variables = append(v.Variables, v2alpha1.NamedValue{Name: name, Value: value})
}

func statusTrafficIndex(svc *knativeService, rev string) int {
	for i, t := range svc.Status.Traffic {
		if t.RevisionName == rev {
			return i
		}
	}
	return -1
}

// specTrafficIndex finds the spec.traffic entry that routes to the revision: the one that
// names it, or else the latestRevision entry when status.traffic says the revision is the
// latest.
func specTrafficIndex(svc *knativeService, rev string) (int, error) {
	for i, t := range svc.Spec.Traffic {
		if t.RevisionName == rev && !isTrue(t.LatestRevision) {
			return i, nil
		}
	}
	for _, st := range svc.Status.Traffic {
		if st.RevisionName != rev || !isTrue(st.LatestRevision) {
			continue
		}
		for i, t := range svc.Spec.Traffic {
			if isTrue(t.LatestRevision) {
				return i, nil
			}
		}
	}
	return -1, fmt.Errorf("no entry of spec.traffic routes to revision %s, so its weight cannot be changed (spec.traffic: %s)", rev, trafficString(svc.Spec.Traffic))
}

func isTrue(b *bool) bool { return b != nil && *b }

func trafficString(tt []trafficTarget) string {
	if len(tt) == 0 {
		return "empty"
	}
	parts := make([]string, len(tt))
	for i, t := range tt {
		s := t.RevisionName
		if isTrue(t.LatestRevision) {
			if s == "" {
				s = "latest"
			} else {
				s += " (latest)"
			}
		}
		if t.Percent != nil {
			s += fmt.Sprintf(": %d%%", *t.Percent)
		}
		parts[i] = s
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
