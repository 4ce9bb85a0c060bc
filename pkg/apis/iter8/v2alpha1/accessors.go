package v2alpha1

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of iter8 v2 (etc3 api/v2alpha2/defaults.go).
const (
	DefaultIntervalSeconds             = 20
	DefaultIterationsPerLoop           = 15
	DefaultMaxLoops                    = 1
	DefaultMaxCandidateWeight          = 100
	DefaultMaxCandidateWeightIncrement = 10
	DefaultMaxConsecutiveMissing       = 3
	DefaultMetricTimeoutSeconds        = 5
)

// IsV2alpha1 reports whether the object was written in the v2alpha1 spelling.
func (e *Experiment) IsV2alpha1() bool {
	return e.APIVersion == "" || e.APIVersion == SchemeGroupVersion.String()
}

// IntervalSeconds is the time between iterations.
func (s *ExperimentSpec) IntervalSeconds() int32 {
	if s.Duration != nil && s.Duration.IntervalSeconds != nil {
		return *s.Duration.IntervalSeconds
	}
	return DefaultIntervalSeconds
}

// IterationsPerLoop is the number of iterations in one loop.
func (s *ExperimentSpec) IterationsPerLoop() int32 {
	if s.Duration != nil && s.Duration.IterationsPerLoop != nil {
		return *s.Duration.IterationsPerLoop
	}
	return DefaultIterationsPerLoop
}

// MaxLoops is the number of loops.
func (s *ExperimentSpec) MaxLoops() int32 {
	if s.Duration != nil && s.Duration.MaxLoops != nil {
		return *s.Duration.MaxLoops
	}
	return DefaultMaxLoops
}

// TotalIterations is iterationsPerLoop × maxLoops.
func (s *ExperimentSpec) TotalIterations() int32 {
	return s.IterationsPerLoop() * s.MaxLoops()
}

// DeploymentPattern defaults to Progressive.
func (s *ExperimentSpec) DeploymentPattern() DeploymentPatternType {
	if s.Strategy.DeploymentPattern != nil {
		return *s.Strategy.DeploymentPattern
	}
	return DeploymentPatternProgressive
}

// MaxCandidateWeight defaults to 100.
func (s *ExperimentSpec) MaxCandidateWeight() int32 {
	if w := s.Strategy.Weights; w != nil && w.MaxCandidateWeight != nil {
		return *w.MaxCandidateWeight
	}
	return DefaultMaxCandidateWeight
}

// MaxCandidateWeightIncrement defaults to 10.
func (s *ExperimentSpec) MaxCandidateWeightIncrement() int32 {
	if w := s.Strategy.Weights; w != nil && w.MaxCandidateWeightIncrement != nil {
		return *w.MaxCandidateWeightIncrement
	}
	return DefaultMaxCandidateWeightIncrement
}

// ShiftsTraffic reports whether the experiment changes weights (not Conformance, not
// FixedSplit).
func (s *ExperimentSpec) ShiftsTraffic() bool {
	return s.Strategy.TestingPattern != TestingPatternConformance &&
		s.DeploymentPattern() != DeploymentPatternFixedSplit
}

// Objectives returns the objectives, or nil.
func (s *ExperimentSpec) Objectives() []Objective {
	if s.Criteria == nil {
		return nil
	}
	return s.Criteria.Objectives
}

// Rewards returns the rewards in either spelling.
func (s *ExperimentSpec) Rewards() []Reward {
	if s.Criteria == nil {
		return nil
	}
	if len(s.Criteria.Rewards) > 0 {
		return s.Criteria.Rewards
	}
	if s.Criteria.Reward != nil {
		return []Reward{*s.Criteria.Reward}
	}
	return nil
}

// RollsBack reports whether a violation ends the experiment; rollback_on_failure
// defaults to true for BlueGreen.
func (o Objective) RollsBack(pattern DeploymentPatternType) bool {
	if o.RollbackOnFailure != nil {
		return *o.RollbackOnFailure
	}
	return pattern == DeploymentPatternBlueGreen
}

// Versions returns the baseline followed by the candidates.
func (s *ExperimentSpec) Versions() []VersionDetail {
	if s.VersionInfo == nil {
		return nil
	}
	return append([]VersionDetail{s.VersionInfo.Baseline}, s.VersionInfo.Candidates...)
}

// VersionNames returns the names of Versions.
func (s *ExperimentSpec) VersionNames() []string {
	var names []string
	for _, v := range s.Versions() {
		names = append(names, v.Name)
	}
	return names
}

// Version returns the version with the given name.
func (s *ExperimentSpec) Version(name string) (VersionDetail, bool) {
	for _, v := range s.Versions() {
		if v.Name == name {
			return v, true
		}
	}
	return VersionDetail{}, false
}

// Variable returns the value of a version's variable.
func (v VersionDetail) Variable(name string) (string, bool) {
	for _, nv := range v.Variables {
		if nv.Name == name {
			return nv.Value, true
		}
	}
	return "", false
}

// MetricRefs returns every metric reference of the criteria, each once, in the order
// requestCount, rewards, objectives, indicators, comparisons.
func (s *ExperimentSpec) MetricRefs() []string {
	if s.Criteria == nil {
		return nil
	}
	var refs []string
	seen := map[string]bool{}
	add := func(r string) {
		if r != "" && !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	if s.Criteria.RequestCount != nil {
		add(*s.Criteria.RequestCount)
	}
	for _, r := range s.Rewards() {
		add(r.Metric)
	}
	for _, o := range s.Criteria.Objectives {
		add(o.Metric)
	}
	for _, i := range s.Criteria.Indicators {
		add(i)
	}
	for _, c := range s.Criteria.Comparisons {
		add(c.Metric)
	}
	return refs
}

// Name returns the task's name as library/task, whichever spelling was used.
func (t TaskSpec) Name() string {
	task := ""
	if t.Task != nil {
		task = *t.Task
	}
	if t.Library != nil && *t.Library != "" && !strings.Contains(task, "/") {
		return *t.Library + "/" + task
	}
	return task
}

// Stage returns the stage, Waiting when unset.
func (s *ExperimentStatus) GetStage() ExperimentStageType {
	if s.Stage == nil {
		return StageWaiting
	}
	return *s.Stage
}

// GetCompletedIterations returns the completed iterations, 0 when unset.
func (s *ExperimentStatus) GetCompletedIterations() int32 {
	if s.CompletedIterations == nil {
		return 0
	}
	return *s.CompletedIterations
}

// RecommendedVersion returns the version recommended for promotion in either spelling.
func (s *ExperimentStatus) RecommendedVersion() string {
	if s.VersionRecommendedForPromotion != nil {
		return *s.VersionRecommendedForPromotion
	}
	if s.RecommendedBaseline != nil {
		return *s.RecommendedBaseline
	}
	return ""
}

// Winner returns the winner of the last assessment, or "" when none was found.
func (s *ExperimentStatus) Winner() string {
	if a := s.Analysis; a != nil && a.WinnerAssessment != nil && a.WinnerAssessment.Data.WinnerFound && a.WinnerAssessment.Data.Winner != nil {
		return *a.WinnerAssessment.Data.Winner
	}
	return ""
}

// Condition returns the condition of the given type, or nil.
func (s *ExperimentStatus) Condition(t ExperimentConditionType) *ExperimentCondition {
	for _, c := range s.Conditions {
		if c != nil && c.Type == t {
			return c
		}
	}
	return nil
}

// IsTrue reports whether the condition of the given type is True.
func (s *ExperimentStatus) IsTrue(t ExperimentConditionType) bool {
	c := s.Condition(t)
	return c != nil && c.Status == corev1.ConditionTrue
}

// MarkCondition sets a condition and the status message ("Reason: message"). It reports
// whether the condition changed, so callers emit events only for changes.
func (s *ExperimentStatus) MarkCondition(t ExperimentConditionType, status corev1.ConditionStatus, reason, message string, now metav1.Time) bool {
	msg := reason + ": " + message
	s.Message = &msg
	c := s.Condition(t)
	if c == nil {
		c = &ExperimentCondition{Type: t}
		s.Conditions = append(s.Conditions, c)
	}
	changed := c.Status != status || c.Reason == nil || *c.Reason != reason || c.Message == nil || *c.Message != message
	if c.Status != status || c.LastTransitionTime == nil {
		c.LastTransitionTime = &now
	}
	c.Status = status
	c.Reason = &reason
	c.Message = &message
	return changed
}

// InitializeStatus sets the three conditions to False, the stage to Waiting and the
// times to now, unless the status was initialized before.
func (s *ExperimentStatus) InitializeStatus(now metav1.Time) {
	if s.InitTime != nil {
		return
	}
	s.InitTime = &now
	s.LastUpdateTime = &now
	stage := StageWaiting
	s.Stage = &stage
	var zero int32
	s.CompletedIterations = &zero
	for _, t := range []ExperimentConditionType{ConditionCompleted, ConditionFailed, ConditionTargetAcquired} {
		if s.Condition(t) == nil {
			s.Conditions = append(s.Conditions, &ExperimentCondition{Type: t, Status: corev1.ConditionFalse, LastTransitionTime: &now})
		}
	}
	msg := ReasonExperimentInitialized + ": Experiment initialized"
	s.Message = &msg
}

// SetRecommendedVersion sets the version recommended for promotion, in the spelling of the
// object's API version.
func (e *Experiment) SetRecommendedVersion(name string) {
	if e.IsV2alpha1() {
		e.Status.RecommendedBaseline = &name
		e.Status.VersionRecommendedForPromotion = nil
		return
	}
	e.Status.VersionRecommendedForPromotion = &name
	e.Status.RecommendedBaseline = nil
}

// MetricObj returns the embedded Metric with the given reference: namespace/name, or a bare
// name that matches the name part of one embedded metric.
func (s *ExperimentStatus) MetricObj(ref string) (*Metric, bool) {
	for i := range s.Metrics {
		if s.Metrics[i].Name == ref {
			return &s.Metrics[i].MetricObj, true
		}
	}
	if !strings.Contains(ref, "/") {
		for i := range s.Metrics {
			if _, name, ok := strings.Cut(s.Metrics[i].Name, "/"); ok && name == ref {
				return &s.Metrics[i].MetricObj, true
			}
		}
	}
	return nil, false
}

// MetricType returns the type, Gauge when unset; v2alpha1's lowercase spelling is accepted.
func (m *MetricSpec) MetricType() MetricType {
	if m.Type == nil {
		return GaugeMetricType
	}
	switch strings.ToLower(string(*m.Type)) {
	case "counter":
		return CounterMetricType
	default:
		return GaugeMetricType
	}
}

// Policy returns the missing-value policy, Fail when unset.
func (m *MetricSpec) Policy() MissingValuePolicy {
	if m.OnMissingValue == nil {
		return MissingValueFail
	}
	return *m.OnMissingValue
}

// MaxMissing returns how many iterations in a row may lack a value.
func (m *MetricSpec) MaxMissing() int32 {
	if m.MaxConsecutiveMissing == nil {
		return DefaultMaxConsecutiveMissing
	}
	return *m.MaxConsecutiveMissing
}

// Timeout returns the query timeout in seconds.
func (m *MetricSpec) Timeout() int32 {
	if m.TimeoutSeconds == nil {
		return DefaultMetricTimeoutSeconds
	}
	return *m.TimeoutSeconds
}

// IsBuiltin reports whether the metric is computed from the builtin load generator.
func (m *MetricSpec) IsBuiltin() bool {
	return m.Provider != nil && *m.Provider == "iter8"
}
