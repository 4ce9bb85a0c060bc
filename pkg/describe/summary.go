// Package describe renders an Experiment for people (the layout of iter8ctl describe that
// the seed tutorial shows) and for machines (a Summary as JSON or YAML), and checks the
// outcome conditions of iter8ctl assert.
package describe

import (
	"fmt"
	"math/big"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/iter8-tools/iter8-tekton/pkg/analytics"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Summary is what describe knows about an experiment, in a form for machines.
type Summary struct {
	Name              string `json:"name"`
	Namespace         string `json:"namespace"`
	APIVersion        string `json:"apiVersion"`
	Target            string `json:"target"`
	TestingPattern    string `json:"testingPattern"`
	DeploymentPattern string `json:"deploymentPattern"`
	// Stage is empty until the experiment was initialized.
	Stage               string   `json:"stage,omitempty"`
	CompletedIterations int32    `json:"completedIterations"`
	TotalIterations     int32    `json:"totalIterations"`
	Versions            []string `json:"versions,omitempty"`
	Baseline            string   `json:"baseline,omitempty"`
	Candidates          []string `json:"candidates,omitempty"`

	// WinnerAssessed is false until an assessment recorded a winner verdict.
	WinnerAssessed bool   `json:"winnerAssessed"`
	WinnerFound    bool   `json:"winnerFound"`
	Winner         string `json:"winner,omitempty"`
	WinnerMessage  string `json:"winnerMessage,omitempty"`
	// RecommendedVersion is versionRecommendedForPromotion (v2alpha1: recommendedBaseline).
	RecommendedVersion string   `json:"recommendedVersion,omitempty"`
	RolledBack         []string `json:"rolledBack,omitempty"`

	Objectives []ObjectiveSummary `json:"objectives,omitempty"`
	Rewards    []RewardSummary    `json:"rewards,omitempty"`
	Metrics    []MetricSummary    `json:"metrics,omitempty"`
	Conditions []ConditionSummary `json:"conditions,omitempty"`
	Message    string             `json:"message,omitempty"`
	// WeightHistory is the weights each time they changed, by iteration.
	WeightHistory []v2alpha1.WeightsAtIteration `json:"weightHistory,omitempty"`
	// Comparisons is the judge's verdict per candidate, in version order.
	Comparisons []CandidateComparisonSummary `json:"comparisons,omitempty"`

	// v2alpha1 selects the v2alpha1 wording (Recommended baseline).
	v2alpha1 bool
}

// ObjectiveSummary is one objective and every version's verdict on it.
type ObjectiveSummary struct {
	// Objective is the objective as describe prints it: [lower <= ]metric[ <= upper].
	Objective         string    `json:"objective"`
	Metric            string    `json:"metric"`
	LowerLimit        *float64  `json:"lowerLimit,omitempty"`
	UpperLimit        *float64  `json:"upperLimit,omitempty"`
	RollbackOnFailure bool      `json:"rollbackOnFailure"`
	Verdicts          []Verdict `json:"verdicts"`
}

// Verdict is one version's verdict on one objective.
type Verdict struct {
	Version string `json:"version"`
	// Satisfied is nil when no verdict was recorded.
	Satisfied *bool `json:"satisfied"`
	// Value is the metric value the verdict was based on, when there is one.
	Value *float64 `json:"value,omitempty"`
	// Reason says why the objective is not satisfied or the verdict is unavailable.
	Reason string `json:"reason,omitempty"`
	// text is the value as the metrics table prints it.
	text string
}

// Text is the value the verdict was based on as describe prints it, or "unavailable".
func (v Verdict) Text() string {
	if v.text == "" {
		return Unavailable
	}
	return v.text
}

// RewardSummary is one reward metric and its value for every version.
type RewardSummary struct {
	Metric             string        `json:"metric"`
	PreferredDirection string        `json:"preferredDirection"`
	Values             []MetricValue `json:"values"`
	// Best are the versions with the best value, whether or not they are feasible.
	Best []string `json:"best,omitempty"`
}

// MetricSummary is one metric and its value for every version.
type MetricSummary struct {
	// Name is the metric's name without namespace, as describe prints it.
	Name string `json:"name"`
	// Ref is the metric as the status names it, often namespace/name.
	Ref    string        `json:"ref"`
	Units  string        `json:"units,omitempty"`
	Values []MetricValue `json:"values"`
}

// MetricValue is one metric's value for one version and how it was got.
type MetricValue struct {
	Version string `json:"version"`
	// Value is nil when unavailable.
	Value *float64 `json:"value"`
	// State is Value, NoData or Error as the iterate stage recorded it; empty when nothing
	// was recorded.
	State  string `json:"state,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Stale is true when the value was reused from an earlier iteration.
	Stale bool `json:"stale,omitempty"`
	// text is Value to 3 decimals rounded up, or "unavailable".
	text string
}

// Text is the value as describe prints it: 3 decimals (more when a limit would otherwise
// look equal), or "unavailable".
func (v MetricValue) Text() string { return v.text }

// ConditionSummary is one status condition.
type ConditionSummary struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Unavailable is printed for a value or verdict that is not known.
const Unavailable = "unavailable"

// Summarize collects what describe prints about exp. It never fails: anything missing from
// the status is reported as unavailable, with the reason when the status recorded one.
func Summarize(exp *v2alpha1.Experiment) *Summary {
	spec := &exp.Spec
	st := &exp.Status
	s := &Summary{
		Name:                exp.Name,
		Namespace:           exp.Namespace,
		APIVersion:          exp.APIVersion,
		Target:              spec.Target,
		TestingPattern:      string(spec.Strategy.TestingPattern),
		DeploymentPattern:   string(spec.DeploymentPattern()),
		CompletedIterations: st.GetCompletedIterations(),
		TotalIterations:     spec.TotalIterations(),
		RecommendedVersion:  st.RecommendedVersion(),
		RolledBack:          st.RolledBack,
		WeightHistory:       st.WeightHistory,
		v2alpha1:            exp.IsV2alpha1(),
	}
	if s.Namespace == "" {
		s.Namespace = "default"
	}
	if st.Stage != nil {
		s.Stage = string(*st.Stage)
	}
	if st.Message != nil {
		s.Message = *st.Message
	}
	if spec.VersionInfo != nil {
		s.Baseline = spec.VersionInfo.Baseline.Name
		for _, c := range spec.VersionInfo.Candidates {
			s.Candidates = append(s.Candidates, c.Name)
		}
	}
	s.Versions = versions(exp)
	for _, c := range st.Conditions {
		if c == nil {
			continue
		}
		cs := ConditionSummary{Type: string(c.Type), Status: string(c.Status)}
		if c.Reason != nil {
			cs.Reason = *c.Reason
		}
		if c.Message != nil {
			cs.Message = *c.Message
		}
		s.Conditions = append(s.Conditions, cs)
	}

	var agg map[string]v2alpha1.AggregatedMetricsData
	var va *v2alpha1.VersionAssessmentAnalysis
	if a := st.Analysis; a != nil {
		if a.AggregatedMetrics != nil {
			agg = a.AggregatedMetrics.Data
		}
		va = a.VersionAssessments
		if w := a.WinnerAssessment; w != nil {
			s.WinnerAssessed = true
			s.WinnerFound = w.Data.WinnerFound
			if w.Data.Winner != nil {
				s.Winner = *w.Data.Winner
			}
			if w.Message != nil {
				s.WinnerMessage = *w.Message
			}
		}
	}

	limits := map[string][]float64{}
	for _, o := range spec.Objectives() {
		for _, l := range []*float64{floatOf(o.LowerLimit), floatOf(o.UpperLimit)} {
			if l != nil {
				limits[bareName(o.Metric)] = append(limits[bareName(o.Metric)], *l)
			}
		}
	}
	for i, o := range spec.Objectives() {
		os := ObjectiveSummary{
			Objective:         objectiveLabel(o),
			Metric:            o.Metric,
			LowerLimit:        floatOf(o.LowerLimit),
			UpperLimit:        floatOf(o.UpperLimit),
			RollbackOnFailure: o.RollsBack(spec.DeploymentPattern()),
		}
		for _, v := range s.Versions {
			mv := metricValue(agg, o.Metric, v, limits[bareName(o.Metric)])
			os.Verdicts = append(os.Verdicts, verdict(va, i, o, v, mv))
		}
		s.Objectives = append(s.Objectives, os)
	}

	if a := st.Analysis; a != nil && a.Comparisons != nil {
		for _, v := range s.Versions {
			if j, ok := a.Comparisons.Data[v]; ok {
				s.Comparisons = append(s.Comparisons, CandidateComparisonSummary{Version: v, CandidateJudgement: j})
			}
		}
	}

	for _, r := range spec.Rewards() {
		rs := RewardSummary{Metric: r.Metric, PreferredDirection: string(r.PreferredDirection)}
		// The best is the best of the versions that satisfy every objective, as the winner
		// is: marking a version that fails one would contradict the winner line.
		var best *float64
		for _, v := range s.Versions {
			mv := metricValue(agg, r.Metric, v, limits[bareName(r.Metric)])
			rs.Values = append(rs.Values, mv)
			if mv.Value != nil && s.feasible(v) && (best == nil || better(*mv.Value, *best, r.PreferredDirection)) {
				best = mv.Value
			}
		}
		for _, mv := range rs.Values {
			if best != nil && mv.Value != nil && *mv.Value == *best && s.feasible(mv.Version) {
				rs.Best = append(rs.Best, mv.Version)
			}
		}
		s.Rewards = append(s.Rewards, rs)
	}

	for _, m := range metricRows(exp, agg) {
		for _, v := range s.Versions {
			m.Values = append(m.Values, metricValue(agg, m.Ref, v, limits[bareName(m.Ref)]))
		}
		s.Metrics = append(s.Metrics, m)
	}
	return s
}

// feasible reports whether version satisfies every objective of the summary's.
func (s *Summary) feasible(version string) bool {
	for _, o := range s.Objectives {
		for _, v := range o.Verdicts {
			if v.Version == version && (v.Satisfied == nil || !*v.Satisfied) {
				return false
			}
		}
	}
	return true
}

// versions are the spec's versions; before a start action has filled versionInfo in, they
// are the versions the analysis mentions.
func versions(exp *v2alpha1.Experiment) []string {
	if names := exp.Spec.VersionNames(); len(names) > 0 {
		return names
	}
	seen := map[string]bool{}
	if a := exp.Status.Analysis; a != nil {
		if a.AggregatedMetrics != nil {
			for _, d := range a.AggregatedMetrics.Data {
				for v := range d.Data {
					seen[v] = true
				}
			}
		}
		if a.VersionAssessments != nil {
			for v := range a.VersionAssessments.Data {
				seen[v] = true
			}
		}
	}
	var names []string
	for v := range seen {
		names = append(names, v)
	}
	sort.Strings(names)
	return names
}

// metricRows are the rows of the metrics table: the status's metrics in order, or, when the
// status has none embedded, the spec's references followed by any other metric the analysis
// holds.
func metricRows(exp *v2alpha1.Experiment, agg map[string]v2alpha1.AggregatedMetricsData) []MetricSummary {
	var rows []MetricSummary
	if len(exp.Status.Metrics) > 0 {
		for _, mi := range exp.Status.Metrics {
			name := mi.MetricObj.Name
			if name == "" {
				name = bareName(mi.Name)
			}
			m := MetricSummary{Name: name, Ref: mi.Name}
			if u := mi.MetricObj.Spec.Units; u != nil {
				m.Units = *u
			}
			rows = append(rows, m)
		}
		return rows
	}
	used := map[string]bool{}
	for _, ref := range exp.Spec.MetricRefs() {
		rows = append(rows, MetricSummary{Name: bareName(ref), Ref: ref})
		if key, _, ok := lookup(agg, ref); ok {
			used[key] = true
		}
	}
	var extra []string
	for key := range agg {
		if !used[key] {
			extra = append(extra, key)
		}
	}
	sort.Strings(extra)
	for _, key := range extra {
		rows = append(rows, MetricSummary{Name: bareName(key), Ref: key})
	}
	return rows
}

func bareName(ref string) string {
	if _, name, ok := strings.Cut(ref, "/"); ok {
		return name
	}
	return ref
}

// lookup finds a metric's data under the reference as written, or under the other spelling:
// a bare name matches namespace/name (when only one namespace has that name) and
// namespace/name matches a bare name.
func lookup(agg map[string]v2alpha1.AggregatedMetricsData, ref string) (string, v2alpha1.AggregatedMetricsData, bool) {
	if d, ok := agg[ref]; ok {
		return ref, d, true
	}
	if _, name, ok := strings.Cut(ref, "/"); ok {
		d, found := agg[name]
		return name, d, found
	}
	var key string
	var found v2alpha1.AggregatedMetricsData
	n := 0
	for k, d := range agg {
		if _, name, ok := strings.Cut(k, "/"); ok && name == ref {
			key, found = k, d
			n++
		}
	}
	return key, found, n == 1
}

// metricValue is the value of metric ref for version; limits are the limits of the
// objectives on the metric (see valueText).
func metricValue(agg map[string]v2alpha1.AggregatedMetricsData, ref, version string, limits []float64) MetricValue {
	mv := MetricValue{Version: version, text: Unavailable}
	_, d, ok := lookup(agg, ref)
	if !ok {
		if agg == nil {
			mv.Reason = "no metric values recorded"
		} else {
			mv.Reason = fmt.Sprintf("no values recorded for metric %s", ref)
		}
		return mv
	}
	vd, ok := d.Data[version]
	if !ok {
		mv.Reason = fmt.Sprintf("no value recorded for version %s", version)
		return mv
	}
	mv.State = string(vd.State)
	mv.Stale = vd.Stale
	if vd.Value != nil {
		if f, err := vd.Value.Float(); err == nil {
			mv.Value = &f
			mv.text = valueText(*vd.Value, f, limits)
		} else {
			mv.Reason = fmt.Sprintf("value is not a number: %v", err)
			return mv
		}
	}
	switch vd.State {
	case v2alpha1.MetricStateNoData:
		mv.Reason = "no data"
		if vd.Reason != "" {
			mv.Reason += " (" + vd.Reason + ")"
		}
	case v2alpha1.MetricStateError:
		mv.Reason = "error"
		if vd.Reason != "" {
			mv.Reason += ": " + vd.Reason
		}
	default:
		if mv.Value == nil {
			mv.Reason = "no value"
			if vd.Reason != "" {
				mv.Reason += " (" + vd.Reason + ")"
			}
		}
	}
	if mv.Value != nil && vd.Stale {
		if mv.Reason != "" {
			mv.Reason = "value reused from an earlier iteration; last query: " + mv.Reason
		} else {
			mv.Reason = "value reused from an earlier iteration"
		}
	}
	return mv
}

// verdict is version's verdict on objective i, with the recorded reason or, when none was
// recorded, one derived from the value and the limits.
func verdict(va *v2alpha1.VersionAssessmentAnalysis, i int, o v2alpha1.Objective, version string, mv MetricValue) Verdict {
	v := Verdict{Version: version, Value: mv.Value, text: mv.text}
	if va == nil {
		v.Reason = "no version assessment recorded"
		return v
	}
	verdicts, ok := va.Data[version]
	if !ok || i >= len(verdicts) {
		v.Reason = fmt.Sprintf("no assessment recorded for version %s", version)
		return v
	}
	sat := verdicts[i]
	v.Satisfied = &sat
	if reasons := va.Reasons[version]; i < len(reasons) && reasons[i] != "" {
		v.Reason = reasons[i]
		return v
	}
	if sat {
		return v
	}
	switch {
	case mv.Value == nil:
		v.Reason = "value unavailable: " + mv.Reason
	case o.UpperLimit != nil && above(*mv.Value, o.UpperLimit):
		v.Reason = fmt.Sprintf("value %s is above the upper limit %s", mv.text, limitText(o.UpperLimit))
	case o.LowerLimit != nil && below(*mv.Value, o.LowerLimit):
		v.Reason = fmt.Sprintf("value %s is below the lower limit %s", mv.text, limitText(o.LowerLimit))
	default:
		v.Reason = fmt.Sprintf("value %s is within the limits but the assessment did not accept it", mv.text)
		if mv.Reason != "" {
			v.Reason += " (" + mv.Reason + ")"
		}
	}
	return v
}

func above(v float64, limit *v2alpha1.Number) bool {
	l, err := limit.Float()
	return err == nil && v > l
}

func below(v float64, limit *v2alpha1.Number) bool {
	l, err := limit.Float()
	return err == nil && v < l
}

func better(a, b float64, dir v2alpha1.PreferredDirectionType) bool {
	if dir == v2alpha1.PreferredDirectionLow {
		return a < b
	}
	return a > b
}

// objectiveLabel is [lower <= ]metric[ <= upper], as iter8ctl printed objectives. The
// metric is named without its namespace, as in the metrics table.
func objectiveLabel(o v2alpha1.Objective) string {
	var b strings.Builder
	if o.LowerLimit != nil {
		b.WriteString(limitText(o.LowerLimit) + " <= ")
	}
	b.WriteString(bareName(o.Metric))
	if o.UpperLimit != nil {
		b.WriteString(" <= " + limitText(o.UpperLimit))
	}
	if o.IsDryRun() {
		b.WriteString(" (dry run)")
	}
	return b.String()
}

// CandidateComparisonSummary is the judge's verdict on one candidate.
type CandidateComparisonSummary struct {
	Version string `json:"version"`
	v2alpha1.CandidateJudgement
}

func limitText(n *v2alpha1.Number) string {
	return number3(*n)
}

func floatOf(n *v2alpha1.Number) *float64 {
	if n == nil {
		return nil
	}
	f, err := n.Float()
	if err != nil {
		return nil
	}
	return &f
}

// number3 writes n with 3 decimals, rounded to the nearest. It works on the exact decimal
// text when there is one, so that 0.879 stays 0.879 and a quantity such as "136084m" is
// not first approximated by a float. (iter8ctl rounded up, with inf.Dec and RoundCeil;
// the seed's values are exact at 3 decimals and print the same.)
func number3(n v2alpha1.Number) string {
	text := n.String()
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		if q, err := resource.ParseQuantity(text); err == nil {
			r, ok = new(big.Rat).SetString(q.AsDec().String())
		}
	}
	if !ok {
		f, err := n.Float()
		if err != nil {
			return text
		}
		return analytics.RoundFloat(f, analytics.DefaultDecimals)
	}
	return analytics.RoundRat(r, analytics.DefaultDecimals)
}

// valueText is the text of value f (written as n) in a table where limits are the limits
// of the objectives on its metric: when the value and a limit it differs from would look
// equal, it has the digits that tell them apart.
func valueText(n v2alpha1.Number, f float64, limits []float64) string {
	text := number3(n)
	for _, l := range limits {
		if l != f && analytics.RoundFloat(l, analytics.DefaultDecimals) == text {
			return analytics.FormatNumbers(append([]float64{f}, limits...)...)[0]
		}
	}
	return text
}
