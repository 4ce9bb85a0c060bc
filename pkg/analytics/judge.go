package analytics

import (
	"fmt"
	"math"
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Classify compares a candidate's samples of a metric with the baseline's, as Kayenta's
// Mann-Whitney classifier does:
//
//   - fewer than c.Minimum() samples in either version: NoData;
//   - the same samples (as multisets): Pass;
//   - otherwise the two-sided Mann-Whitney U test at c.Confidence() and the Hodges-Lehmann
//     estimate of the candidate's shift with its interval. High when the whole interval is
//     above zero and the estimate, relative to the baseline's median, exceeds the allowed
//     increase; Low symmetrically. Only the direction(s) c.Direction calls bad are
//     classified; a significant change the other way is a Pass (its reason says so).
//
// With a baseline median of 0 the relative shift is undefined: any significant change in
// a bad direction is classified, whatever the allowed change.
func Classify(metric string, baseline, candidate []float64, c v2alpha1.Comparison) v2alpha1.MetricComparison {
	out := v2alpha1.MetricComparison{
		Metric:           metric,
		Critical:         c.IsCritical(),
		DryRun:           c.IsDryRun(),
		BaselineSamples:  int32(len(baseline)),
		CandidateSamples: int32(len(candidate)),
	}
	n := fmt.Sprintf("n = %d/%d", len(baseline), len(candidate))
	if min := c.Minimum(); len(baseline) < min || len(candidate) < min {
		out.Classification = v2alpha1.ClassificationNoData
		out.Reason = fmt.Sprintf("NoData: %s: too few samples (%s, at least %d each)", metric, n, min)
		return out
	}
	conf := c.Confidence()
	if sameSamples(baseline, candidate) {
		out.Classification = v2alpha1.ClassificationPass
		out.PValue, out.Shift, out.ShiftLow, out.ShiftHigh = v2alpha1.NewNumber(1), v2alpha1.NewNumber(0), v2alpha1.NewNumber(0), v2alpha1.NewNumber(0)
		out.Reason = fmt.Sprintf("Pass: %s: the same samples in both versions (%s)", metric, n)
		return out
	}
	t, err := MannWhitney(candidate, baseline, TwoSided, conf)
	if err != nil {
		out.Classification = v2alpha1.ClassificationNoData
		out.Reason = fmt.Sprintf("NoData: %s: %v", metric, err)
		return out
	}
	out.PValue = v2alpha1.NewNumber(roundSig(t.PValue, 6))
	out.Shift, out.ShiftLow, out.ShiftHigh = v2alpha1.NewNumber(roundSig(t.Estimate, 6)), v2alpha1.NewNumber(roundSig(t.CILow, 6)), v2alpha1.NewNumber(roundSig(t.CIHigh, 6))

	shift := describeShift(t, median(baseline), &out)
	stats := fmt.Sprintf("%s CI %s, %s, %s", percent(conf), shift.interval, formatP(t.PValue), n)
	incr, decr := c.Allowed()
	up := t.CILow > 0 && (shift.undefined || shift.rel > incr)
	down := t.CIHigh < 0 && (shift.undefined || shift.rel < -decr)
	badUp := c.Direction == v2alpha1.DirectionIncrease || c.Direction == v2alpha1.DirectionEither
	badDown := c.Direction == v2alpha1.DirectionDecrease || c.Direction == v2alpha1.DirectionEither
	allowedUp, allowedDown := "more than the allowed "+signedPercent(incr), "more than the allowed "+signedPercent(-decr)
	if shift.undefined {
		allowedUp, allowedDown = "from a baseline median of 0", "from a baseline median of 0"
	}
	switch {
	case up && badUp:
		out.Classification, out.Bad = v2alpha1.ClassificationHigh, true
		out.Reason = fmt.Sprintf("High: %s shifted %s (%s), %s", metric, shift.estimate, stats, allowedUp)
	case down && badDown:
		out.Classification, out.Bad = v2alpha1.ClassificationLow, true
		out.Reason = fmt.Sprintf("Low: %s shifted %s (%s), %s", metric, shift.estimate, stats, allowedDown)
	case up || down:
		out.Classification = v2alpha1.ClassificationPass
		out.Reason = fmt.Sprintf("Pass: %s shifted %s (%s), which is not a bad direction (%s)", metric, shift.estimate, stats, c.Direction)
	default:
		out.Classification = v2alpha1.ClassificationPass
		out.Reason = fmt.Sprintf("Pass: %s shifted %s (%s)", metric, shift.estimate, stats)
	}
	return out
}

type shiftText struct {
	estimate, interval string
	rel                float64
	undefined          bool // the baseline's median is 0
}

// describeShift phrases the shift relative to the baseline's median where it can, else
// in the metric's units, and records the relative figures in out.
func describeShift(t RankSumTest, med float64, out *v2alpha1.MetricComparison) shiftText {
	if med == 0 {
		return shiftText{
			estimate:  fmt.Sprintf("%+.4g", t.Estimate),
			interval:  fmt.Sprintf("%s … %s", bound(t.CILow, "%+.4g"), bound(t.CIHigh, "%+.4g")),
			undefined: true,
		}
	}
	m := math.Abs(med)
	rel, lo, hi := t.Estimate/m, t.CILow/m, t.CIHigh/m
	out.RelativeShift, out.RelativeLow, out.RelativeHigh = v2alpha1.NewNumber(roundSig(rel, 6)), v2alpha1.NewNumber(roundSig(lo, 6)), v2alpha1.NewNumber(roundSig(hi, 6))
	return shiftText{
		estimate: signedPercent(rel),
		interval: fmt.Sprintf("%s … %s", bound(100*lo, "%+.1f"), bound(100*hi, "%+.1f")+" %"),
		rel:      rel,
	}
}

func bound(v float64, format string) string {
	if math.IsInf(v, 0) {
		if v > 0 {
			return "+∞"
		}
		return "-∞"
	}
	return fmt.Sprintf(format, v)
}

func scoreText(f float64) string { return fmt.Sprintf("%.4g", f) }

func signedPercent(f float64) string { return fmt.Sprintf("%+.1f %%", 100*f) }

// percent writes a confidence level: 0.95 as "95 %", 0.975 as "97.5 %".
func percent(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", 100*f), "0"), ".") + " %"
}

func formatP(p float64) string {
	if p < 0.001 {
		return "p < 0.001"
	}
	return fmt.Sprintf("p = %.3f", p)
}

// roundSig keeps 6 significant digits of the figures written into the status, which is
// more than any reader uses and keeps the status stable across platforms' last bits.
func roundSig(f float64, digits int) float64 {
	if f == 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return f
	}
	scale := math.Pow(10, float64(digits-1)-math.Floor(math.Log10(math.Abs(f))))
	return math.Round(f*scale) / scale
}

func sameSamples(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := sortedCopy(a), sortedCopy(b)
	for i := range sa {
		if sa[i] != sb[i] {
			return false
		}
	}
	return true
}

func median(v []float64) float64 {
	s := sortedCopy(v)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1] + (s[n/2]-s[n/2-1])/2
}

// ScoreComparisons scores one candidate's comparisons as Kayenta's weighted-sum scorer
// scores one group: the weighted share, in percent, of the gating (not dry-run)
// comparisons classified Pass among those classified at all; NoData counts neither way.
// weights holds each comparison's weight, in the same order. A critical comparison in a
// bad direction fails the candidate and scores 0, as in Kayenta; a critical one without
// data keeps it from passing. The score is nil when no gating comparison was classified.
func ScoreComparisons(results []v2alpha1.MetricComparison, weights []float64, marginal, pass float64) (*float64, v2alpha1.JudgementOutcome, string) {
	var passed, total float64
	var criticalBad, criticalNoData []string
	for i, r := range results {
		if r.DryRun {
			continue
		}
		w := 1.0
		if i < len(weights) {
			w = weights[i]
		}
		switch r.Classification {
		case v2alpha1.ClassificationPass:
			passed += w
			total += w
		case v2alpha1.ClassificationHigh, v2alpha1.ClassificationLow:
			total += w
			if r.Critical {
				criticalBad = append(criticalBad, r.Metric)
			}
		default:
			if r.Critical {
				criticalNoData = append(criticalNoData, r.Metric)
			}
		}
	}
	if len(criticalBad) > 0 {
		zero := 0.0
		return &zero, v2alpha1.JudgementFail, fmt.Sprintf("critical comparison %s failed", strings.Join(criticalBad, ", "))
	}
	if total == 0 {
		return nil, v2alpha1.JudgementNoData, "no comparison has enough data"
	}
	score := 100 * passed / total
	s := scoreText(score)
	switch {
	case score < marginal:
		return &score, v2alpha1.JudgementFail, fmt.Sprintf("score %s is below the marginal %s", s, scoreText(marginal))
	case len(criticalNoData) > 0:
		return &score, v2alpha1.JudgementMarginal, fmt.Sprintf("score %s, but critical comparison %s has no data", s, strings.Join(criticalNoData, ", "))
	case score < pass:
		return &score, v2alpha1.JudgementMarginal, fmt.Sprintf("score %s is below the pass %s", s, scoreText(pass))
	}
	return &score, v2alpha1.JudgementPass, fmt.Sprintf("score %s", s)
}

// Judge compares every candidate of exp with its baseline on each of
// spec.criteria.comparisons, from the samples in exp.Status.Analysis.Samples, and scores
// it against the criteria's thresholds. It returns nil when there are no comparisons or no
// candidates.
func Judge(exp *v2alpha1.Experiment) map[string]v2alpha1.CandidateJudgement {
	comparisons := exp.Spec.Comparisons()
	versions := exp.Spec.VersionNames()
	if len(comparisons) == 0 || len(versions) < 2 {
		return nil
	}
	var data map[string]map[string]v2alpha1.SampleSeries
	if a := exp.Status.Analysis; a != nil && a.Samples != nil {
		data = a.Samples.Data
	}
	marginal, pass := exp.Spec.Criteria.Thresholds()
	weights := make([]float64, len(comparisons))
	for i, c := range comparisons {
		weights[i] = c.ScoreWeight()
	}
	out := map[string]v2alpha1.CandidateJudgement{}
	for _, cand := range versions[1:] {
		results := make([]v2alpha1.MetricComparison, len(comparisons))
		for i, c := range comparisons {
			b, berr := samplesOf(data, c.Metric, versions[0])
			x, xerr := samplesOf(data, c.Metric, cand)
			switch {
			case berr != "" || xerr != "":
				why := strings.Join(nonEmpty(berr, xerr), "; ")
				results[i] = v2alpha1.MetricComparison{Metric: c.Metric, Classification: v2alpha1.ClassificationNoData,
					Critical: c.IsCritical(), DryRun: c.IsDryRun(),
					BaselineSamples: int32(len(b)), CandidateSamples: int32(len(x)),
					Reason: fmt.Sprintf("NoData: %s: %s", c.Metric, why)}
			default:
				results[i] = Classify(c.Metric, b, x, c)
			}
		}
		score, outcome, why := ScoreComparisons(results, weights, marginal, pass)
		j := v2alpha1.CandidateJudgement{Outcome: outcome, Comparisons: results}
		if score != nil {
			j.Score = v2alpha1.NewNumber(roundSig(*score, 6))
		}
		j.Reason = judgementReason(outcome, why, results)
		out[cand] = j
	}
	return out
}

// judgementReason is the judgement in one line: the outcome, why, and the comparisons
// that decided it.
func judgementReason(outcome v2alpha1.JudgementOutcome, why string, results []v2alpha1.MetricComparison) string {
	var bad []string
	for _, r := range results {
		if r.Bad && !r.DryRun {
			bad = append(bad, r.Reason)
		}
	}
	line := fmt.Sprintf("comparisons %s: %s", outcome, why)
	if len(bad) > 0 {
		line += ": " + strings.Join(bad, "; ")
	}
	return line
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// samplesOf reads one version's samples, or says why there are none.
func samplesOf(data map[string]map[string]v2alpha1.SampleSeries, metric, version string) ([]float64, string) {
	s, ok := data[metric][version]
	if !ok {
		return nil, "no samples of " + version + " yet"
	}
	if s.State != v2alpha1.MetricStateValue {
		r := s.Reason
		if r == "" {
			r = string(s.State)
		}
		return nil, fmt.Sprintf("%s: %s", version, r)
	}
	v, err := v2alpha1.DecodeSamples(s.Values)
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", version, err)
	}
	return v, ""
}

// judgedOut lists the candidates the judge keeps from winning (outcome other than Pass),
// with the reason; nil when there are no gating comparisons.
func judgedOut(exp *v2alpha1.Experiment, j map[string]v2alpha1.CandidateJudgement) map[string]string {
	gating := false
	for _, c := range exp.Spec.Comparisons() {
		if !c.IsDryRun() {
			gating = true
		}
	}
	if !gating {
		return nil
	}
	out := map[string]string{}
	for v, jj := range j {
		if jj.Outcome != v2alpha1.JudgementPass {
			out[v] = jj.Reason
		}
	}
	return out
}

// judgedFailed lists, in version order, the candidates the judge rolls back.
func judgedFailed(exp *v2alpha1.Experiment, j map[string]v2alpha1.CandidateJudgement) []string {
	out := judgedOut(exp, j)
	var failed []string
	for _, v := range exp.Spec.VersionNames() {
		if _, ok := out[v]; ok && j[v].Outcome == v2alpha1.JudgementFail {
			failed = append(failed, v)
		}
	}
	return failed
}
