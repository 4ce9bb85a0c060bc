package v2alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Experiment is a metrics-driven experiment: conformance test, canary, A/B or A/B/N
// rollout of a Kubernetes app.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=exp;exps,categories=iter8
// +kubebuilder:printcolumn:name="type",type="string",JSONPath=".spec.strategy.testingPattern"
// +kubebuilder:printcolumn:name="target",type="string",JSONPath=".spec.target"
// +kubebuilder:printcolumn:name="stage",type="string",JSONPath=".status.stage"
// +kubebuilder:printcolumn:name="completed iterations",type="integer",JSONPath=".status.completedIterations"
// +kubebuilder:printcolumn:name="message",type="string",JSONPath=".status.message"
// +kubebuilder:printcolumn:name="age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:storageversion
type Experiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExperimentSpec   `json:"spec"`
	Status ExperimentStatus `json:"status,omitempty"`
}

// ExperimentList is a list of Experiments.
//
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Experiment `json:"items"`
}

// ExperimentSpec is what the user asks for.
type ExperimentSpec struct {
	// Target names what the experiment changes, by convention namespace/name. Two
	// experiments with the same target never run at the same time.
	// +kubebuilder:validation:MinLength=1
	Target string `json:"target"`

	// VersionInfo names the baseline and candidate versions. A start action may fill it in.
	// +optional
	VersionInfo *VersionInfo `json:"versionInfo,omitempty"`

	Strategy Strategy `json:"strategy"`

	// +optional
	Criteria *Criteria `json:"criteria,omitempty"`

	// +optional
	Duration *Duration `json:"duration,omitempty"`
}

// TestingPatternType says what the experiment decides.
// +kubebuilder:validation:Enum=Canary;A/B;A/B/N;Conformance
type TestingPatternType string

// The testing patterns.
const (
	TestingPatternCanary      TestingPatternType = "Canary"
	TestingPatternAB          TestingPatternType = "A/B"
	TestingPatternABN         TestingPatternType = "A/B/N"
	TestingPatternConformance TestingPatternType = "Conformance"
)

// DeploymentPatternType says how traffic moves during the experiment.
// +kubebuilder:validation:Enum=FixedSplit;Progressive;BlueGreen
type DeploymentPatternType string

// The deployment patterns.
const (
	DeploymentPatternFixedSplit  DeploymentPatternType = "FixedSplit"
	DeploymentPatternProgressive DeploymentPatternType = "Progressive"
	DeploymentPatternBlueGreen   DeploymentPatternType = "BlueGreen"
)

// Strategy is how the experiment runs.
type Strategy struct {
	TestingPattern TestingPatternType `json:"testingPattern"`

	// DeploymentPattern defaults to Progressive.
	// +optional
	DeploymentPattern *DeploymentPatternType `json:"deploymentPattern,omitempty"`

	// Actions maps start, loop and finish to the tasks run then.
	// +optional
	Actions ActionMap `json:"actions,omitempty"`

	// +optional
	Weights *Weights `json:"weights,omitempty"`
}

// ActionMap maps an action name (start, loop, finish) to its tasks, run in order.
type ActionMap map[string][]TaskSpec

// The action names.
const (
	ActionStart  = "start"
	ActionLoop   = "loop"
	ActionFinish = "finish"
)

// TaskSpec is one task of an action: a library task (v2alpha1 `library` + `task`, or
// v2alpha2 `task: library/name`) or a `run` command.
type TaskSpec struct {
	// Library is the v2alpha1 spelling of the library part of Task.
	// +optional
	Library *string `json:"library,omitempty"`
	// +optional
	Task *string `json:"task,omitempty"`
	// Run is a command line. It is split into arguments and executed without a shell.
	// +optional
	Run *string `json:"run,omitempty"`
	// If is a condition such as WinnerFound(), CandidateWon() or not CandidateWon().
	// +optional
	If *string `json:"if,omitempty"`
	// +optional
	With map[string]apiextensionsv1.JSON `json:"with,omitempty"`
}

// Weights bounds how fast traffic moves to candidates.
type Weights struct {
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxCandidateWeight *int32 `json:"maxCandidateWeight,omitempty"`
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxCandidateWeightIncrement *int32 `json:"maxCandidateWeightIncrement,omitempty"`
}

// Criteria are the metrics the experiment judges versions by.
type Criteria struct {
	// +optional
	RequestCount *string `json:"requestCount,omitempty"`
	// Reward is the v2alpha1 spelling of a single reward.
	// +optional
	Reward *Reward `json:"reward,omitempty"`
	// +optional
	Rewards []Reward `json:"rewards,omitempty"`
	// Indicators are reported, never judged.
	// +optional
	Indicators []string `json:"indicators,omitempty"`
	// +optional
	Objectives []Objective `json:"objectives,omitempty"`
	// Comparisons judge each candidate's samples of a metric against the baseline's; an
	// extension of iter8 v2 (see Comparison).
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Comparisons []Comparison `json:"comparisons,omitempty"`
	// ScoreThresholds turn the comparisons' score into a verdict.
	// +optional
	ScoreThresholds *ScoreThresholds `json:"scoreThresholds,omitempty"`
	// Strength is accepted for compatibility and not used.
	// +optional
	Strength *apiextensionsv1.JSON `json:"strength,omitempty"`
}

// PreferredDirectionType says which reward values are better.
// +kubebuilder:validation:Enum=High;Low
type PreferredDirectionType string

// The preferred directions.
const (
	PreferredDirectionHigh PreferredDirectionType = "High"
	PreferredDirectionLow  PreferredDirectionType = "Low"
)

// Reward is a metric to maximise or minimise.
type Reward struct {
	Metric             string                 `json:"metric"`
	PreferredDirection PreferredDirectionType `json:"preferredDirection"`
}

// Objective is a limit a version's metric must satisfy. Limits are inclusive.
type Objective struct {
	Metric string `json:"metric"`
	// +optional
	UpperLimit *Number `json:"upperLimit,omitempty"`
	// +optional
	LowerLimit *Number `json:"lowerLimit,omitempty"`
	// RollbackOnFailure ends the experiment at the first iteration in which a version
	// violates this objective. Defaults to true for BlueGreen.
	// +optional
	RollbackOnFailure *bool `json:"rollback_on_failure,omitempty"`
	// DryRun: the objective is evaluated and reported, never gating: it neither keeps a
	// version from winning nor rolls one back.
	// +optional
	DryRun *bool `json:"dryRun,omitempty"`
}

// Duration says how long the experiment runs.
type Duration struct {
	// +kubebuilder:validation:Minimum=1
	// +optional
	IntervalSeconds *int32 `json:"intervalSeconds,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +optional
	IterationsPerLoop *int32 `json:"iterationsPerLoop,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxLoops *int32 `json:"maxLoops,omitempty"`
}

// VersionInfo names the versions of the experiment.
type VersionInfo struct {
	Baseline VersionDetail `json:"baseline"`
	// +optional
	Candidates []VersionDetail `json:"candidates,omitempty"`
}

// VersionDetail is one version.
type VersionDetail struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Variables are substituted into metric queries and task inputs.
	// +optional
	Variables []NamedValue `json:"variables,omitempty"`
	// WeightObjRef points at the integer field that holds this version's traffic weight.
	// +optional
	WeightObjRef *corev1.ObjectReference `json:"weightObjRef,omitempty"`
}

// NamedValue is a name and a string value.
type NamedValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ExperimentStatus is what the stages observed and decided.
type ExperimentStatus struct {
	// +optional
	Conditions []*ExperimentCondition `json:"conditions,omitempty"`
	// +optional
	InitTime *metav1.Time `json:"initTime,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`
	// +optional
	Stage *ExperimentStageType `json:"stage,omitempty"`
	// +optional
	CompletedIterations *int32 `json:"completedIterations,omitempty"`
	// AssessedIterations is the last iteration the assess stage has judged; it makes a
	// re-run of assess for the same iteration a no-op.
	// +optional
	AssessedIterations *int32 `json:"assessedIterations,omitempty"`
	// +optional
	CurrentWeightDistribution []WeightData `json:"currentWeightDistribution,omitempty"`
	// WeightHistory holds the weights each time they changed: the observed ones at init
	// (iteration 0) and those assess or finalize applied, the last MaxWeightHistory of them.
	// +optional
	WeightHistory []WeightsAtIteration `json:"weightHistory,omitempty"`
	// +optional
	Analysis *Analysis `json:"analysis,omitempty"`
	// RecommendedBaseline is the v2alpha1 spelling of VersionRecommendedForPromotion.
	// +optional
	RecommendedBaseline *string `json:"recommendedBaseline,omitempty"`
	// +optional
	VersionRecommendedForPromotion *string `json:"versionRecommendedForPromotion,omitempty"`
	// RolledBack lists the versions that violated a rollback objective.
	// +optional
	RolledBack []string `json:"rolledBack,omitempty"`
	// Outcome is how the experiment ended, set by finalize: Succeeded, NoWinner,
	// RolledBack or Failed (docs/reference.md, "Outcomes and exit codes").
	// +optional
	Outcome *string `json:"outcome,omitempty"`
	// +optional
	Message *string `json:"message,omitempty"`
	// Metrics are the Metric objects the experiment references, read at the start.
	// +optional
	Metrics []MetricInfo `json:"metrics,omitempty"`
}

// ExperimentStageType is where the experiment is in its life.
// +kubebuilder:validation:Enum=Waiting;Initializing;Running;Finishing;Completed
type ExperimentStageType string

// The stages, in order.
const (
	StageWaiting      ExperimentStageType = "Waiting"
	StageInitializing ExperimentStageType = "Initializing"
	StageRunning      ExperimentStageType = "Running"
	StageFinishing    ExperimentStageType = "Finishing"
	StageCompleted    ExperimentStageType = "Completed"
)

// ExperimentConditionType names a condition.
type ExperimentConditionType string

// The condition types.
const (
	ConditionCompleted      ExperimentConditionType = "Completed"
	ConditionFailed         ExperimentConditionType = "Failed"
	ConditionTargetAcquired ExperimentConditionType = "TargetAcquired"
)

// The condition reasons.
const (
	ReasonExperimentInitialized = "ExperimentInitialized"
	ReasonTargetAcquired        = "TargetAcquired"
	ReasonTargetWaiting         = "TargetWaiting"
	// ReasonTargetLost: the experiment's lease on its target expired and another took it.
	ReasonTargetLost                 = "TargetLost"
	ReasonStageAdvanced              = "StageAdvanced"
	ReasonIterationUpdate            = "IterationUpdate"
	ReasonExperimentCompleted        = "ExperimentCompleted"
	ReasonMetricUnavailable          = "MetricUnavailable"
	ReasonMetricsUnreadable          = "MetricsUnreadable"
	ReasonHandlerLaunched            = "HandlerLaunched"
	ReasonHandlerCompleted           = "HandlerCompleted"
	ReasonHandlerFailed              = "HandlerFailed"
	ReasonWeightRedistributionFailed = "WeightRedistributionFailed"
	ReasonInvalidExperiment          = "InvalidExperiment"
	ReasonRollback                   = "Rollback"
	ReasonTrafficChangedExternally   = "TrafficChangedExternally"
	ReasonMirroringUnverified        = "MirroringUnverified"
	ReasonAborted                    = "Aborted"
)

// ExperimentCondition is one condition of the experiment.
type ExperimentCondition struct {
	Type   ExperimentConditionType `json:"type"`
	Status corev1.ConditionStatus  `json:"status"`
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// +optional
	Reason *string `json:"reason,omitempty"`
	// +optional
	Message *string `json:"message,omitempty"`
}

// WeightData is one version's traffic weight, in percent.
type WeightData struct {
	Name  string `json:"name"`
	Value int32  `json:"value"`
}

// WeightsAtIteration is the weights set after an iteration (0: as init found them).
type WeightsAtIteration struct {
	Iteration int32        `json:"iteration"`
	Weights   []WeightData `json:"weights"`
}

// MaxWeightHistory bounds WeightHistory: at 2 versions an entry is some 80 bytes of JSON.
const MaxWeightHistory = 100

// RecordWeights sets the current weights and appends them to the history, bounded by
// MaxWeightHistory, as of the completed iterations.
func (s *ExperimentStatus) RecordWeights(weights []WeightData) {
	s.CurrentWeightDistribution = weights
	s.WeightHistory = append(s.WeightHistory, WeightsAtIteration{Iteration: s.GetCompletedIterations(), Weights: weights})
	if n := len(s.WeightHistory); n > MaxWeightHistory {
		s.WeightHistory = s.WeightHistory[n-MaxWeightHistory:]
	}
}

// MetricInfo is a Metric embedded in the status under its namespace/name.
type MetricInfo struct {
	Name string `json:"name"`
	// MetricObj keeps the whole object, metadata included, as it was read.
	// +kubebuilder:pruning:PreserveUnknownFields
	MetricObj Metric `json:"metricObj"`
}

// Analysis is the result of the last assessment.
type Analysis struct {
	// +optional
	AggregatedBuiltinHists *AggregatedBuiltinHists `json:"aggregatedBuiltinHists,omitempty"`
	// +optional
	AggregatedMetrics *AggregatedMetricsAnalysis `json:"aggregatedMetrics,omitempty"`
	// +optional
	WinnerAssessment *WinnerAssessmentAnalysis `json:"winnerAssessment,omitempty"`
	// +optional
	VersionAssessments *VersionAssessmentAnalysis `json:"versionAssessments,omitempty"`
	// +optional
	Weights *WeightsAnalysis `json:"weights,omitempty"`
	// Samples are the compared metrics' samples, for criteria.comparisons.
	// +optional
	Samples *SamplesAnalysis `json:"samples,omitempty"`
	// Comparisons is the judge's verdict on each candidate.
	// +optional
	Comparisons *ComparisonAnalysis `json:"comparisons,omitempty"`
	// History is every iteration's value of every metric for every version, bounded
	// (see MetricHistory), for reports.
	// +optional
	History *MetricHistory `json:"history,omitempty"`
}

// AnalysisMetaData says who produced an analysis and when.
type AnalysisMetaData struct {
	Provenance string      `json:"provenance"`
	Timestamp  metav1.Time `json:"timestamp"`
	// +optional
	Message *string `json:"message,omitempty"`
}

// AggregatedBuiltinHists holds the load generator's histograms per version.
type AggregatedBuiltinHists struct {
	AnalysisMetaData `json:",inline"`
	// +optional
	Data *apiextensionsv1.JSON `json:"data,omitempty"`
}

// AggregatedMetricsAnalysis holds the metric values, per metric then per version.
type AggregatedMetricsAnalysis struct {
	AnalysisMetaData `json:",inline"`
	Data             map[string]AggregatedMetricsData `json:"data"`
}

// AggregatedMetricsData holds one metric's values per version.
type AggregatedMetricsData struct {
	// +optional
	Max *Number `json:"max,omitempty"`
	// +optional
	Min *Number `json:"min,omitempty"`
	// +optional
	Data map[string]AggregatedMetricsVersionData `json:"data,omitempty"`
}

// MetricState says what a query produced.
// +kubebuilder:validation:Enum=Value;NoData;Error
type MetricState string

// The metric states: a number, no data (empty result, NaN, Inf), or an error.
const (
	MetricStateValue  MetricState = "Value"
	MetricStateNoData MetricState = "NoData"
	MetricStateError  MetricState = "Error"
)

// AggregatedMetricsVersionData is one metric's value for one version, and how it was got.
type AggregatedMetricsVersionData struct {
	// +optional
	Max *Number `json:"max,omitempty"`
	// +optional
	Min *Number `json:"min,omitempty"`
	// Value is the number used for assessment; absent when there is none.
	// +optional
	Value *Number `json:"value,omitempty"`
	// +optional
	SampleSize *int32 `json:"sampleSize,omitempty"`

	// State is what the last query produced.
	// +optional
	State MetricState `json:"state,omitempty"`
	// Reason explains NoData or Error (the error text, "empty result", "NaN").
	// +optional
	Reason string `json:"reason,omitempty"`
	// Query is the query as sent, after substitution.
	// +optional
	Query string `json:"query,omitempty"`
	// Attempts is how many tries the last query took.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// ConsecutiveMisses counts the iterations in a row without a fresh value.
	// +optional
	ConsecutiveMisses int32 `json:"consecutiveMisses,omitempty"`
	// Stale is true when Value was reused from an earlier iteration by the metric's policy.
	// +optional
	Stale bool `json:"stale,omitempty"`
}

// WinnerAssessmentAnalysis says which version won.
type WinnerAssessmentAnalysis struct {
	AnalysisMetaData `json:",inline"`
	Data             WinnerAssessmentData `json:"data"`
}

// WinnerAssessmentData is the winner, if any.
type WinnerAssessmentData struct {
	WinnerFound bool `json:"winnerFound"`
	// +optional
	Winner *string `json:"winner,omitempty"`
	// +optional
	BestVersions []string `json:"bestVersions,omitempty"`
}

// VersionAssessmentAnalysis holds, per version, one verdict per objective, in order.
type VersionAssessmentAnalysis struct {
	AnalysisMetaData `json:",inline"`
	Data             map[string][]bool `json:"data"`
	// Reasons explains each verdict: per version, one line per objective.
	// +optional
	Reasons map[string][]string `json:"reasons,omitempty"`
	// Verdicts are Data's verdicts flat, one per version and objective, for tools that
	// cannot read arrays inside a map (kube-state-metrics).
	// +optional
	Verdicts []ObjectiveVerdict `json:"verdicts,omitempty"`
}

// ObjectiveVerdict is one version's verdict on one objective.
type ObjectiveVerdict struct {
	Version string `json:"version"`
	// Objective is the objective's index in spec.criteria.objectives.
	Objective int32  `json:"objective"`
	Metric    string `json:"metric"`
	Satisfied bool   `json:"satisfied"`
}

// WeightsAnalysis holds the recommended weights.
type WeightsAnalysis struct {
	AnalysisMetaData `json:",inline"`
	Data             []WeightData `json:"data"`
}
