package v2alpha1

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/itchyny/gojq"
	"k8s.io/apimachinery/pkg/util/validation"
	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

// KnownTasks are the task library's tasks (pkg/actions implements each).
var KnownTasks = []string{
	"knative/init-experiment",
	"common/exec",
	"common/readiness",
	"notification/http",
	"metrics/collect",
}

// httpRouteWeight is the fieldPath of an HTTPRoute backendRef's weight.
var httpRouteWeight = regexp.MustCompile(`^\.spec\.rules\[[0-9]+\]\.backendRefs\[[0-9]+\]\.weight$`)

func isHTTPRoute(apiVersion, kind string) bool {
	return kind == "HTTPRoute" && strings.HasPrefix(apiVersion, "gateway.networking.k8s.io/")
}

// fieldPathPattern is the fieldPath syntax of weightObjRef: dotted fields with optional
// [index] parts, e.g. .spec.traffic[1].percent or .spec.http[0].route[1].weight.
var fieldPathPattern = regexp.MustCompile(`^(\.[A-Za-z_][A-Za-z0-9_-]*(\[[0-9]+\])*)+$`)

// Validate reports every problem of the experiment at once, each with its field path.
// Metric references are checked only for form; whether they exist is for the cluster.
func (e *Experiment) Validate() *apis.FieldError {
	var errs *apis.FieldError
	if e.Name == "" && e.GenerateName == "" {
		errs = errs.Also(apis.ErrMissingField("metadata.name"))
	}
	errs = errs.Also(validateMeta(e.Name, e.Namespace))
	return errs.Also(e.Spec.Validate().ViaField("spec"))
}

// validateMeta checks an object's name and namespace as the API server would, for the
// objects iter8ctl reads from files: their names reach results, Events and terminals.
func validateMeta(name, namespace string) *apis.FieldError {
	var errs *apis.FieldError
	if msgs := validation.IsDNS1123Subdomain(name); name != "" && len(msgs) > 0 {
		errs = errs.Also(invalidValue(name, "metadata.name", "a Kubernetes name: "+strings.Join(msgs, "; ")))
	}
	if msgs := validation.IsDNS1123Label(namespace); namespace != "" && len(msgs) > 0 {
		errs = errs.Also(invalidValue(namespace, "metadata.namespace", "a Kubernetes namespace: "+strings.Join(msgs, "; ")))
	}
	return errs
}

// Validate checks the spec.
func (s *ExperimentSpec) Validate() *apis.FieldError {
	var errs *apis.FieldError
	if strings.TrimSpace(s.Target) == "" {
		errs = errs.Also(apis.ErrMissingField("target"))
	} else if len(s.Target) > MaxTargetBytes {
		errs = errs.Also(invalidValue(s.Target, "target", fmt.Sprintf("at most %d bytes", MaxTargetBytes)))
	}
	errs = errs.Also(s.Strategy.validate().ViaField("strategy"))
	if s.Duration != nil {
		errs = errs.Also(s.Duration.validate().ViaField("duration"))
	}
	if s.Criteria != nil {
		errs = errs.Also(s.Criteria.validate(s.Strategy.TestingPattern).ViaField("criteria"))
	} else if p := s.Strategy.TestingPattern; p == TestingPatternAB || p == TestingPatternABN {
		errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("testing pattern %s needs exactly one reward", p), "criteria.rewards"))
	}
	if s.VersionInfo != nil {
		// Start actions (knative/init-experiment) may still fill weightObjRefs in; init
		// checks them again after the actions ran.
		errs = errs.Also(s.validateVersionInfo(len(s.Strategy.Actions[ActionStart]) == 0))
	}
	return errs
}

// ValidateVersionInfo checks the versions against the testing pattern. init-experiment
// calls it again after the start actions, which may fill versionInfo in.
func (s *ExperimentSpec) ValidateVersionInfo() *apis.FieldError {
	return s.validateVersionInfo(true)
}

func (s *ExperimentSpec) validateVersionInfo(checkWeightRefs bool) *apis.FieldError {
	if s.VersionInfo == nil {
		return apis.ErrMissingField("versionInfo")
	}
	var errs *apis.FieldError
	vi := s.VersionInfo
	n := len(vi.Candidates)
	switch s.Strategy.TestingPattern {
	case TestingPatternConformance:
		if n != 0 {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("testing pattern Conformance takes no candidates, got %d", n), "versionInfo.candidates"))
		}
	case TestingPatternCanary, TestingPatternAB:
		if n != 1 {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("testing pattern %s takes exactly one candidate, got %d", s.Strategy.TestingPattern, n), "versionInfo.candidates"))
		}
	case TestingPatternABN:
		if n < 1 {
			errs = errs.Also(apis.ErrGeneric("testing pattern A/B/N takes at least one candidate, got 0", "versionInfo.candidates"))
		}
	}
	seen := map[string]string{}
	check := func(v VersionDetail, path string) {
		if v.Name == "" {
			errs = errs.Also(apis.ErrMissingField(path + ".name"))
		} else if msgs := validation.IsDNS1123Label(v.Name); len(msgs) > 0 {
			// Version names reach commands, queries, Tekton results and terminals: as a
			// DNS-1123 label (what Kubernetes names revisions and services by) a name can
			// never become a flag ("--output=/some/file"), a PromQL expression or a
			// terminal escape, and it fits Tekton's results.
			errs = errs.Also(invalidValue(v.Name, path+".name", "a version name is a DNS-1123 label: "+strings.Join(msgs, "; ")))
		} else if first, dup := seen[v.Name]; dup {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("duplicate version name %q (also %s)", v.Name, first), path+".name"))
		} else {
			seen[v.Name] = path
		}
		vars := map[string]bool{}
		for i, nv := range v.Variables {
			p := fmt.Sprintf("%s.variables[%d].name", path, i)
			if nv.Name == "" {
				errs = errs.Also(apis.ErrMissingField(p))
			} else if !variableName.MatchString(nv.Name) {
				errs = errs.Also(invalidValue(nv.Name, p, "a variable name is a letter or '_' followed by up to 62 letters, digits or '_', as $name in a template"))
			} else if vars[nv.Name] {
				errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("duplicate variable %q", nv.Name), p))
			}
			vars[nv.Name] = true
			if len(nv.Value) > maxVariableValue {
				errs = errs.Also(invalidValue(nv.Value, fmt.Sprintf("%s.variables[%d].value", path, i), fmt.Sprintf("a variable value has at most %d bytes, got %d", maxVariableValue, len(nv.Value))))
			}
		}
		if r := v.WeightObjRef; r != nil {
			p := path + ".weightObjRef"
			for field, val := range map[string]string{"apiVersion": r.APIVersion, "kind": r.Kind, "name": r.Name, "fieldPath": r.FieldPath} {
				if val == "" {
					errs = errs.Also(apis.ErrMissingField(p + "." + field))
				}
			}
			switch {
			case r.FieldPath != "" && !fieldPathPattern.MatchString(r.FieldPath):
				errs = errs.Also(invalidValue(r.FieldPath, p+".fieldPath",
					"a fieldPath starts with '.' and names fields and [index] parts, e.g. .spec.traffic[0].percent"))
			case isHTTPRoute(r.APIVersion, r.Kind) && r.FieldPath != "" && !httpRouteWeight.MatchString(r.FieldPath):
				errs = errs.Also(invalidValue(r.FieldPath, p+".fieldPath",
					"an HTTPRoute's weight is .spec.rules[i].backendRefs[j].weight"))
			}
		}
	}
	check(vi.Baseline, "versionInfo.baseline")
	for i, c := range vi.Candidates {
		check(c, fmt.Sprintf("versionInfo.candidates[%d]", i))
	}
	if checkWeightRefs && s.ShiftsTraffic() {
		missing := 0
		for _, v := range s.Versions() {
			if v.WeightObjRef == nil {
				missing++
			}
		}
		if missing > 1 {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("%s with %s deployment needs a weightObjRef on all versions but at most one, %d have none",
				s.Strategy.TestingPattern, s.DeploymentPattern(), missing), "versionInfo"))
		}
	}
	if n, m := len(vi.Candidates)+1, len(s.MetricRefs()); n*m > MaxMetricValues {
		errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("%d versions × %d metrics are %d values, more than %d: the status would outgrow etcd's 1.5 MiB request limit (docs/benchmarks.md, \"History size\")",
			n, m, n*m, MaxMetricValues), "versionInfo", "criteria"))
	}
	return errs
}

// MaxMetricValues bounds versions × metrics: the status holds some 400 bytes per value in
// aggregatedMetrics, and the history at most MaxHistoryBytes more, so that 50 × 50 stays
// within two thirds of etcd's 1.5 MiB request limit. Checked before the experiment starts,
// so that no status write is refused mid-run.
const MaxMetricValues = 2500

func (st *Strategy) validate() *apis.FieldError {
	var errs *apis.FieldError
	switch st.TestingPattern {
	case TestingPatternCanary, TestingPatternAB, TestingPatternABN, TestingPatternConformance:
	case "":
		errs = errs.Also(apis.ErrMissingField("testingPattern"))
	default:
		errs = errs.Also(invalidValue(st.TestingPattern, "testingPattern", "must be one of Canary, A/B, A/B/N, Conformance"))
	}
	if dp := st.DeploymentPattern; dp != nil {
		switch *dp {
		case DeploymentPatternFixedSplit, DeploymentPatternProgressive, DeploymentPatternBlueGreen:
		default:
			errs = errs.Also(invalidValue(*dp, "deploymentPattern", "must be one of FixedSplit, Progressive, BlueGreen"))
		}
	}
	if w := st.Weights; w != nil {
		if v := w.MaxCandidateWeight; v != nil && (*v < 0 || *v > 100) {
			errs = errs.Also(apis.ErrOutOfBoundsValue(*v, 0, 100, "weights.maxCandidateWeight"))
		}
		if v := w.MaxCandidateWeightIncrement; v != nil && (*v < 0 || *v > 100) {
			errs = errs.Also(apis.ErrOutOfBoundsValue(*v, 0, 100, "weights.maxCandidateWeightIncrement"))
		}
	}
	for action, tasks := range st.Actions {
		switch action {
		case ActionStart, ActionLoop, ActionFinish:
		default:
			errs = errs.Also(apis.ErrInvalidKeyName(action, "actions", "must be one of start, loop, finish"))
			continue
		}
		for i, t := range tasks {
			errs = errs.Also(t.validate().ViaFieldIndex(action, i).ViaField("actions"))
		}
	}
	return errs
}

func (t TaskSpec) validate() *apis.FieldError {
	hasTask := t.Task != nil && *t.Task != ""
	hasRun := t.Run != nil && strings.TrimSpace(*t.Run) != ""
	switch {
	case hasTask && hasRun:
		return apis.ErrMultipleOneOf("task", "run")
	case !hasTask && !hasRun:
		return apis.ErrMissingOneOf("task", "run")
	case hasRun:
		return nil
	}
	name := t.Name()
	for _, k := range KnownTasks {
		if k == name {
			return nil
		}
	}
	return invalidValue(name, "task", "known tasks: "+strings.Join(KnownTasks, ", "))
}

func (d *Duration) validate() *apis.FieldError {
	var errs *apis.FieldError
	for field, v := range map[string]*int32{"intervalSeconds": d.IntervalSeconds, "iterationsPerLoop": d.IterationsPerLoop, "maxLoops": d.MaxLoops} {
		if v != nil && *v < 1 {
			errs = errs.Also(invalidValue(*v, field, "must be at least 1"))
		}
	}
	if v := d.IntervalSeconds; v != nil && *v > MaxIntervalSeconds {
		errs = errs.Also(invalidValue(*v, "intervalSeconds", fmt.Sprintf("must be at most %d (a day)", MaxIntervalSeconds)))
	}
	// The product is taken in 64 bits: 65536 x 65536 overflows int32 to 0, and such an
	// experiment would "complete" after no iteration at all.
	perLoop, loops := int64(1), int64(1)
	if d.IterationsPerLoop != nil {
		perLoop = int64(*d.IterationsPerLoop)
	}
	if d.MaxLoops != nil {
		loops = int64(*d.MaxLoops)
	}
	if total := perLoop * loops; perLoop > 0 && loops > 0 && total > MaxIterations {
		errs = errs.Also(invalidValue(total, "iterationsPerLoop", fmt.Sprintf("iterationsPerLoop x maxLoops must be at most %d, got %d x %d", MaxIterations, perLoop, loops)).ViaField())
	}
	return errs
}

// Bounds of an experiment's duration. Each iteration is two Tekton tasks, a status write
// and a set of queries: an experiment of more iterations belongs in several experiments.
const (
	MaxIterations      = 10000
	MaxIntervalSeconds = 86400
)

// MaxTargetBytes bounds spec.target, which is written into results, Events and the lock on
// the target: a namespace and a name, each a Kubernetes name, fit in it.
const MaxTargetBytes = 512

// MaxMetricTimeoutSeconds bounds one query, retries included: twice Prometheus' own
// default query timeout, and short enough that a hanging backend cannot hold a stage for
// longer than a person would wait for it.
const MaxMetricTimeoutSeconds = 240

func (c *Criteria) validate(pattern TestingPatternType) *apis.FieldError {
	var errs *apis.FieldError
	ref := func(r, path string) {
		errs = errs.Also(ValidateMetricRef(r, path))
	}
	if c.RequestCount != nil {
		ref(*c.RequestCount, "requestCount")
	}
	rewardsPath := "rewards"
	rewards := c.Rewards
	if len(rewards) == 0 && c.Reward != nil {
		rewardsPath, rewards = "reward", []Reward{*c.Reward}
	}
	if c.Reward != nil && len(c.Rewards) > 0 {
		errs = errs.Also(apis.ErrMultipleOneOf("reward", "rewards"))
	}
	switch pattern {
	case TestingPatternConformance, TestingPatternCanary:
		if len(rewards) > 0 {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("testing pattern %s takes no rewards, got %d", pattern, len(rewards)), rewardsPath))
		}
	case TestingPatternAB, TestingPatternABN:
		if len(rewards) != 1 {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("testing pattern %s needs exactly one reward, got %d", pattern, len(rewards)), rewardsPath))
		}
	}
	for i, r := range rewards {
		p := fmt.Sprintf("%s[%d]", rewardsPath, i)
		if rewardsPath == "reward" {
			p = "reward"
		}
		ref(r.Metric, p+".metric")
		if r.PreferredDirection != PreferredDirectionHigh && r.PreferredDirection != PreferredDirectionLow {
			errs = errs.Also(invalidValue(r.PreferredDirection, p+".preferredDirection", "must be High or Low"))
		}
	}
	for i, ind := range c.Indicators {
		ref(ind, fmt.Sprintf("indicators[%d]", i))
	}
	for i, o := range c.Objectives {
		p := fmt.Sprintf("objectives[%d]", i)
		ref(o.Metric, p+".metric")
		if o.UpperLimit == nil && o.LowerLimit == nil {
			errs = errs.Also(apis.ErrMissingOneOf(p+".upperLimit", p+".lowerLimit"))
		}
		var lo, hi float64
		var loErr, hiErr error = fmt.Errorf("unset"), fmt.Errorf("unset")
		if o.UpperLimit != nil {
			if hi, hiErr = o.UpperLimit.Float(); hiErr != nil {
				errs = errs.Also(invalidValue(o.UpperLimit.String(), p+".upperLimit", "a limit must be a number"))
			}
		}
		if o.LowerLimit != nil {
			if lo, loErr = o.LowerLimit.Float(); loErr != nil {
				errs = errs.Also(invalidValue(o.LowerLimit.String(), p+".lowerLimit", "a limit must be a number"))
			}
		}
		if loErr == nil && hiErr == nil && lo > hi {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("lowerLimit %s is above upperLimit %s", o.LowerLimit, o.UpperLimit), p))
		}
	}
	return errs.Also(c.validateComparisons(pattern))
}

// validateComparisons checks criteria.comparisons and scoreThresholds.
func (c *Criteria) validateComparisons(pattern TestingPatternType) *apis.FieldError {
	var errs *apis.FieldError
	if len(c.Comparisons) > 0 && pattern == TestingPatternConformance {
		errs = errs.Also(apis.ErrGeneric("testing pattern Conformance has no candidate to compare with the baseline", "comparisons"))
	}
	if n := len(c.Comparisons); n > MaxComparisons {
		errs = errs.Also(invalidValue(n, "comparisons", fmt.Sprintf("at most %d comparisons", MaxComparisons)))
	}
	// number checks that an optional number is one, within [lo, hi) or [lo, hi].
	number := func(n *Number, path string, lo, hi float64, hiOpen bool, want string) (float64, bool) {
		if n == nil {
			return 0, false
		}
		f, err := n.Float()
		if err != nil || f < lo || f > hi || (hiOpen && f == hi) {
			errs = errs.Also(invalidValue(n.String(), path, want))
			return 0, false
		}
		return f, true
	}
	for i, cmp := range c.Comparisons {
		p := fmt.Sprintf("comparisons[%d]", i)
		errs = errs.Also(ValidateMetricRef(cmp.Metric, p+".metric"))
		switch cmp.Direction {
		case DirectionIncrease, DirectionDecrease, DirectionEither:
		default:
			errs = errs.Also(invalidValue(cmp.Direction, p+".direction", "must be increase, decrease or either"))
		}
		number(cmp.ConfidenceLevel, p+".confidenceLevel", 0.5, 1, true, "a confidence level is a number from 0.5 to below 1, such as 0.95")
		number(cmp.AllowedIncrease, p+".allowedIncrease", 0, 100, false, "a relative change is a number from 0 (0 %) to 100 (10000 %)")
		number(cmp.AllowedDecrease, p+".allowedDecrease", 0, 1, false, "a relative decrease is a number from 0 (0 %) to 1 (100 %)")
		if w, ok := number(cmp.Weight, p+".weight", 0, math.MaxFloat64, false, "a weight is a positive number"); ok && w == 0 {
			errs = errs.Also(invalidValue(cmp.Weight.String(), p+".weight", "a weight is a positive number"))
		}
		if m := cmp.MinSamples; m != nil && (*m < 3 || *m > MaxSamplesLimit) {
			errs = errs.Also(invalidValue(*m, p+".minSamples", fmt.Sprintf("must be between 3 and %d", MaxSamplesLimit)))
		}
	}
	if t := c.ScoreThresholds; t != nil {
		m, mok := number(t.Marginal, "scoreThresholds.marginal", 0, 100, false, "a score is a number from 0 to 100")
		p, pok := number(t.Pass, "scoreThresholds.pass", 0, 100, false, "a score is a number from 0 to 100")
		if !mok && t.Marginal == nil {
			m, mok = DefaultMarginalScore, true
		}
		if !pok && t.Pass == nil {
			p, pok = DefaultPassScore, true
		}
		if mok && pok && m > p {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("marginal %s is above pass %s", FormatFloat(m), FormatFloat(p)), "scoreThresholds"))
		}
	}
	return errs
}

// FormatFloat writes a number as briefly as it reads back.
func FormatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// ValidateMetricRef checks the form of a metric reference: name or namespace/name.
func ValidateMetricRef(ref, path string) *apis.FieldError {
	if ref == "" {
		return apis.ErrMissingField(path)
	}
	parts := strings.Split(ref, "/")
	if len(parts) > 2 {
		return invalidValue(ref, path, "a metric reference is name or namespace/name")
	}
	for _, p := range parts {
		if !dnsLabel.MatchString(p) {
			return invalidValue(ref, path, "a metric reference is name or namespace/name, each a DNS-1123 name")
		}
	}
	return nil
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// Validate reports every problem of the metric at once, each with its field path.
func (m *Metric) Validate() *apis.FieldError {
	var errs *apis.FieldError
	if m.Name == "" {
		errs = errs.Also(apis.ErrMissingField("metadata.name"))
	}
	errs = errs.Also(validateMeta(m.Name, m.Namespace))
	return errs.Also(m.Spec.validate().ViaField("spec"))
}

func (m *MetricSpec) validate() *apis.FieldError {
	var errs *apis.FieldError
	if t := m.Type; t != nil {
		switch *t {
		case CounterMetricType, GaugeMetricType, "counter", "gauge":
		default:
			errs = errs.Also(invalidValue(*t, "type", "must be Counter or Gauge"))
		}
	}
	if m.SampleSize != nil {
		errs = errs.Also(ValidateMetricRef(*m.SampleSize, "sampleSize"))
	}
	if a := m.AuthType; a != nil {
		switch *a {
		case AuthTypeBasic, AuthTypeBearer, AuthTypeAPIKey:
		default:
			errs = errs.Also(invalidValue(*a, "authType", "must be Basic, Bearer or APIKey"))
		}
		if m.Secret == nil || *m.Secret == "" {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("authType %s needs a secret", *a), "secret"))
		}
	}
	if s := m.Secret; s != nil && *s != "" {
		if _, _, err := credential.ParseRef(*s); err != nil {
			errs = errs.Also(invalidValue(*s, "secret", "a secret is name or namespace/name, Kubernetes names"))
		}
	}
	if me := m.Method; me != nil && *me != GETMethodType && *me != POSTMethodType {
		errs = errs.Also(invalidValue(*me, "method", "must be GET or POST"))
	}
	if p := m.OnMissingValue; p != nil {
		switch *p {
		case MissingValueFail, MissingValueReusePrevious, MissingValueIgnore:
		default:
			errs = errs.Also(invalidValue(*p, "onMissingValue", "must be Fail, ReusePrevious or Ignore"))
		}
	}
	if v := m.MaxConsecutiveMissing; v != nil && *v < 1 {
		errs = errs.Also(invalidValue(*v, "maxConsecutiveMissing", "must be at least 1"))
	}
	if v := m.TimeoutSeconds; v != nil && (*v < 1 || *v > MaxMetricTimeoutSeconds) {
		errs = errs.Also(invalidValue(*v, "timeoutSeconds", fmt.Sprintf("must be between 1 and %d", MaxMetricTimeoutSeconds)))
	}
	if sm := m.Samples; sm != nil {
		if w := sm.Window; w != nil && *w != SampleWindowExperiment && *w != SampleWindowIteration {
			errs = errs.Also(invalidValue(*w, "samples.window", "must be Experiment or Iteration"))
		}
		if v := sm.StepSeconds; v != nil && (*v < 1 || *v > MaxIntervalSeconds) {
			errs = errs.Also(invalidValue(*v, "samples.stepSeconds", fmt.Sprintf("must be between 1 and %d", MaxIntervalSeconds)))
		}
		if v := sm.MaxSamples; v != nil && (*v < 1 || *v > MaxSamplesLimit) {
			errs = errs.Also(invalidValue(*v, "samples.maxSamples", fmt.Sprintf("must be between 1 and %d", MaxSamplesLimit)))
		}
	}
	names := map[string]bool{}
	for i, nv := range m.Params {
		if nv.Name == "" {
			errs = errs.Also(apis.ErrMissingField(fmt.Sprintf("params[%d].name", i)))
		} else if names[nv.Name] {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("duplicate param %q", nv.Name), fmt.Sprintf("params[%d].name", i)))
		}
		names[nv.Name] = true
	}
	for i, l := range m.Mock {
		if l.Name == "" {
			errs = errs.Also(apis.ErrMissingField(fmt.Sprintf("mock[%d].name", i)))
		}
		if _, err := l.Level.Float(); err != nil {
			errs = errs.Also(invalidValue(l.Level.String(), fmt.Sprintf("mock[%d].level", i), "a level must be a number"))
		}
	}
	if len(m.Mock) > 0 || m.IsBuiltin() {
		return errs
	}
	isPrometheus := m.Provider != nil && strings.EqualFold(*m.Provider, "prometheus")
	if (m.URLTemplate == nil || *m.URLTemplate == "") && !isPrometheus {
		errs = errs.Also(apis.ErrGeneric("a metric needs urlTemplate, mock levels, or provider prometheus or iter8", "urlTemplate"))
	}
	if (m.JQExpression == nil || *m.JQExpression == "") && !isPrometheus {
		errs = errs.Also(apis.ErrMissingField("jqExpression"))
	}
	if u := m.URLTemplate; u != nil && strings.TrimSpace(*u) != "" {
		if parsed, err := url.Parse(strings.TrimSpace(*u)); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			errs = errs.Also(invalidValue(*u, "urlTemplate", "must be an http or https URL with a host"))
		}
	}
	if q := m.JQExpression; q != nil && strings.TrimSpace(*q) != "" && !isPrometheus {
		switch {
		case len(*q) > MaxJQExpressionBytes:
			errs = errs.Also(invalidValue(*q, "jqExpression", fmt.Sprintf("at most %d bytes", MaxJQExpressionBytes)))
		default:
			if parsed, err := gojq.Parse(*q); err != nil {
				errs = errs.Also(invalidValue(*q, "jqExpression", "not a jq expression: "+err.Error()))
			} else if _, err := gojq.Compile(parsed); err != nil {
				errs = errs.Also(invalidValue(*q, "jqExpression", "not a jq expression: "+err.Error()))
			}
		}
	}
	return errs
}

// MaxJQExpressionBytes bounds a jqExpression: extracting a number takes a line.
const MaxJQExpressionBytes = 4096

// variableName is what a version variable may be called: a template variable name.
var variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// maxVariableValue bounds a version variable's value: values are substituted into queries
// and URLs, and the status and Tekton results have limits of their own.
const maxVariableValue = 1024

// invalidValue is apis.ErrInvalidValue with the value bounded by BoundedValue, so that no
// error quotes more than 64 bytes of what an author wrote.
func invalidValue(value any, field string, details ...string) *apis.FieldError {
	return apis.ErrInvalidValue(BoundedValue(fmt.Sprint(value)), field, details...)
}

// BoundedValue is value as an error may quote it: at most 64 bytes of it, so that an error
// about a 1 MB value is not itself 1 MB.
func BoundedValue(value string) string {
	const max = 64
	if len(value) <= max {
		return value
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(value[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", value[:cut], len(value))
}
