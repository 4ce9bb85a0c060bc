package v2alpha1

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
)

// Comparison judges a candidate's samples of a metric against the baseline's with the
// Mann-Whitney U test, as Kayenta's judge does: it says whether the candidate's
// distribution shifted, by how much (the Hodges-Lehmann estimate and its confidence
// interval) and whether that matters (the allowed relative change). It is an extension of
// iter8's criteria: iter8 v2 has no comparisons, and an Experiment without them is judged
// as before.
type Comparison struct {
	// Metric names a Metric, as objectives do, whose samples are compared. The Metric
	// must yield samples: a Prometheus or REST metric with spec.samples, a builtin latency
	// metric, or a mocked one.
	Metric string `json:"metric"`
	// Direction is the change that is bad: increase (latency, errors), decrease
	// (throughput) or either.
	// +kubebuilder:validation:Enum=increase;decrease;either
	Direction ComparisonDirection `json:"direction"`
	// ConfidenceLevel of the test and of the interval. Defaults to 0.95; at least 0.5 and
	// below 1.
	// +optional
	ConfidenceLevel *Number `json:"confidenceLevel,omitempty"`
	// AllowedIncrease is the relative increase of the candidate's location over the
	// baseline's that is tolerated even when it is significant: 0.05 tolerates 5 %.
	// Defaults to 0.
	// +optional
	AllowedIncrease *Number `json:"allowedIncrease,omitempty"`
	// AllowedDecrease is the same for a decrease.
	// +optional
	AllowedDecrease *Number `json:"allowedDecrease,omitempty"`
	// MinSamples is the least number of samples per version for a classification;
	// fewer give NoData. Defaults to 10; at least 3.
	// +kubebuilder:validation:Minimum=3
	// +optional
	MinSamples *int32 `json:"minSamples,omitempty"`
	// Weight of this comparison in the score. Defaults to 1.
	// +optional
	Weight *Number `json:"weight,omitempty"`
	// Critical: a classification in the bad direction rolls the candidate back whatever
	// the score.
	// +optional
	Critical *bool `json:"critical,omitempty"`
	// DryRun: evaluated and reported, never gating (Argo Rollouts' dryRun).
	// +optional
	DryRun *bool `json:"dryRun,omitempty"`
}

// ComparisonDirection is the change of a compared metric that is bad.
type ComparisonDirection string

// The directions.
const (
	DirectionIncrease ComparisonDirection = "increase"
	DirectionDecrease ComparisonDirection = "decrease"
	DirectionEither   ComparisonDirection = "either"
)

// ScoreThresholds turn the comparisons' score (0-100, the weighted share of comparisons
// classified Pass) into a verdict, as Kayenta's do: below Marginal the candidate is rolled
// back; from Marginal to below Pass it cannot win; from Pass it may.
type ScoreThresholds struct {
	// Marginal defaults to 75.
	// +optional
	Marginal *Number `json:"marginal,omitempty"`
	// Pass defaults to 95.
	// +optional
	Pass *Number `json:"pass,omitempty"`
}

// Defaults of comparisons.
const (
	DefaultConfidenceLevel = 0.95
	DefaultMinSamples      = 10
	DefaultMarginalScore   = 75
	DefaultPassScore       = 95
)

// SampleWindow is the time a Prometheus metric's samples are drawn from.
// +kubebuilder:validation:Enum=Experiment;Iteration
type SampleWindow string

// The windows: since the experiment started, or the last interval.
const (
	SampleWindowExperiment SampleWindow = "Experiment"
	SampleWindowIteration  SampleWindow = "Iteration"
)

// MetricSamples makes a Metric yield a sample series per version, for comparisons. From
// Prometheus the query is a range query over the window at StepSeconds, each point a
// sample; from a REST backend jqExpression must give an array of numbers.
type MetricSamples struct {
	// Window defaults to Experiment.
	// +optional
	Window *SampleWindow `json:"window,omitempty"`
	// StepSeconds is the range query's resolution; set it to the scrape interval or more,
	// since points closer than that repeat one scrape. Defaults to 5.
	// +kubebuilder:validation:Minimum=1
	// +optional
	StepSeconds *int32 `json:"stepSeconds,omitempty"`
	// MaxSamples keeps the latest samples per version. Defaults to 500, at most
	// MaxSamplesLimit.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2000
	// +optional
	MaxSamples *int32 `json:"maxSamples,omitempty"`
}

// Sample bounds.
const (
	DefaultMaxSamples  = 500
	MaxSamplesLimit    = 2000
	DefaultStepSeconds = 5
	// MaxComparisons bounds criteria.comparisons, so that the samples the status holds
	// stay far below etcd's request limit (see docs/reference.md).
	MaxComparisons = 10
)

// SamplesAnalysis holds the samples of the compared metrics, per metric reference (as in
// criteria.comparisons) and version.
type SamplesAnalysis struct {
	AnalysisMetaData `json:",inline"`
	Data             map[string]map[string]SampleSeries `json:"data"`
}

// SampleSeries is one version's samples of one metric.
type SampleSeries struct {
	// State is Value when there are samples.
	State MetricState `json:"state"`
	// Count is the number of samples.
	// +optional
	Count int32 `json:"count,omitempty"`
	// Values holds the samples compactly: little-endian float32s, base64-encoded
	// (about 5.3 bytes per sample).
	// +optional
	Values string `json:"values,omitempty"`
	// Reason explains NoData or Error.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Query is the query as sent.
	// +optional
	Query string `json:"query,omitempty"`
}

// ComparisonAnalysis holds the judge's verdict on each candidate.
type ComparisonAnalysis struct {
	AnalysisMetaData `json:",inline"`
	// Data is keyed by candidate version.
	Data map[string]CandidateJudgement `json:"data"`
}

// JudgementOutcome is what the score means for a candidate.
type JudgementOutcome string

// The outcomes: Pass may win; Marginal may not win; Fail is rolled back; NoData has no
// classified comparison (it may not win, and is not rolled back).
const (
	JudgementPass     JudgementOutcome = "Pass"
	JudgementMarginal JudgementOutcome = "Marginal"
	JudgementFail     JudgementOutcome = "Fail"
	JudgementNoData   JudgementOutcome = "NoData"
)

// CandidateJudgement is one candidate's score and its comparisons.
type CandidateJudgement struct {
	// Score is the weighted share of gating comparisons classified Pass, 0-100; absent
	// when none was classified.
	// +optional
	Score *Number `json:"score,omitempty"`
	// Outcome is the score against the thresholds, or Fail on a critical comparison.
	Outcome JudgementOutcome `json:"outcome"`
	// Reason says why, in one line.
	Reason string `json:"reason"`
	// Comparisons are in the order of criteria.comparisons.
	Comparisons []MetricComparison `json:"comparisons"`
}

// Classification is a compared metric's verdict.
type Classification string

// The classifications, as Kayenta names them.
const (
	ClassificationPass   Classification = "Pass"
	ClassificationHigh   Classification = "High"
	ClassificationLow    Classification = "Low"
	ClassificationNoData Classification = "NoData"
)

// MetricComparison is the comparison of one metric for one candidate.
type MetricComparison struct {
	Metric         string         `json:"metric"`
	Classification Classification `json:"classification"`
	// Bad says the classification is in the comparison's bad direction.
	// +optional
	Bad bool `json:"bad,omitempty"`
	// +optional
	Critical bool `json:"critical,omitempty"`
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// PValue of the two-sided Mann-Whitney U test.
	// +optional
	PValue *Number `json:"pValue,omitempty"`
	// Shift is the Hodges-Lehmann estimate of the candidate's shift, and ShiftLow and
	// ShiftHigh its confidence interval, in the metric's units.
	// +optional
	Shift *Number `json:"shift,omitempty"`
	// +optional
	ShiftLow *Number `json:"shiftLow,omitempty"`
	// +optional
	ShiftHigh *Number `json:"shiftHigh,omitempty"`
	// RelativeShift, RelativeLow and RelativeHigh are the same relative to the baseline's
	// median; absent when that median is 0.
	// +optional
	RelativeShift *Number `json:"relativeShift,omitempty"`
	// +optional
	RelativeLow *Number `json:"relativeLow,omitempty"`
	// +optional
	RelativeHigh *Number `json:"relativeHigh,omitempty"`
	// +optional
	BaselineSamples int32 `json:"baselineSamples,omitempty"`
	// +optional
	CandidateSamples int32 `json:"candidateSamples,omitempty"`
	// Reason is the verdict in one line, such as "latency shifted +12.0 % (95 % CI +9.1 …
	// +15.2 %, p < 0.001, n = 480/480)".
	Reason string `json:"reason"`
}

// Comparisons returns the comparisons, or nil.
func (s *ExperimentSpec) Comparisons() []Comparison {
	if s.Criteria == nil {
		return nil
	}
	return s.Criteria.Comparisons
}

// IsDryRun reports whether the objective is reported only.
func (o Objective) IsDryRun() bool { return o.DryRun != nil && *o.DryRun }

// IsDryRun reports whether the comparison is reported only.
func (c Comparison) IsDryRun() bool { return c.DryRun != nil && *c.DryRun }

// IsCritical reports whether a bad classification rolls back on its own.
func (c Comparison) IsCritical() bool { return c.Critical != nil && *c.Critical }

// Confidence returns the confidence level, defaulted.
func (c Comparison) Confidence() float64 { return numberOr(c.ConfidenceLevel, DefaultConfidenceLevel) }

// Allowed returns the allowed relative increase and decrease, defaulted.
func (c Comparison) Allowed() (increase, decrease float64) {
	return numberOr(c.AllowedIncrease, 0), numberOr(c.AllowedDecrease, 0)
}

// Minimum returns the minimum sample size, defaulted.
func (c Comparison) Minimum() int {
	if c.MinSamples == nil {
		return DefaultMinSamples
	}
	return int(*c.MinSamples)
}

// ScoreWeight returns the weight, defaulted.
func (c Comparison) ScoreWeight() float64 { return numberOr(c.Weight, 1) }

// Thresholds returns the marginal and pass scores, defaulted.
func (c *Criteria) Thresholds() (marginal, pass float64) {
	if c == nil || c.ScoreThresholds == nil {
		return DefaultMarginalScore, DefaultPassScore
	}
	return numberOr(c.ScoreThresholds.Marginal, DefaultMarginalScore), numberOr(c.ScoreThresholds.Pass, DefaultPassScore)
}

// SampleSettings returns the window, step and bound of the metric's samples, defaulted.
func (s *MetricSpec) SampleSettings() (window SampleWindow, stepSeconds, maxSamples int32) {
	window, stepSeconds, maxSamples = SampleWindowExperiment, DefaultStepSeconds, DefaultMaxSamples
	if s.Samples == nil {
		return
	}
	if s.Samples.Window != nil {
		window = *s.Samples.Window
	}
	if s.Samples.StepSeconds != nil {
		stepSeconds = *s.Samples.StepSeconds
	}
	if s.Samples.MaxSamples != nil {
		maxSamples = *s.Samples.MaxSamples
	}
	return
}

func numberOr(n *Number, def float64) float64 {
	if n == nil {
		return def
	}
	f, err := n.Float()
	if err != nil {
		return def
	}
	return f
}

// EncodeSamples is the compact form of SampleSeries.Values: little-endian float32s in
// base64. float32 keeps 7 significant digits, more than any latency or rate needs.
func EncodeSamples(values []float64) string {
	b := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(v)))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// DecodeSamples reads SampleSeries.Values.
func DecodeSamples(s string) ([]float64, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("samples are not base64: %w", err)
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("samples hold %d bytes, not a whole number of float32s", len(b))
	}
	out := make([]float64, len(b)/4)
	for i := range out {
		out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return out, nil
}
