package analytics

import (
	"fmt"
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// feasible reports whether version v satisfies every objective. With no objectives every
// version is feasible (iter8-analytics #280), whatever assessments holds.
func feasible(objectives []v2alpha1.Objective, assessments map[string][]bool, v string) bool {
	for i, o := range objectives {
		if !o.IsDryRun() && !satisfied(assessments, v, i) {
			return false
		}
	}
	return true
}

// Winner chooses the winning version of exp from assessments (version -> one verdict per
// objective, as VersionAssessments returns; a missing verdict counts as not satisfied) and,
// for A/B and A/B/N, from the first reward's aggregated values. It returns the winner data
// and a message that explains the choice.
//
//   - Conformance: the baseline wins if it satisfies all objectives.
//   - Canary: the candidate (the first one) wins if it satisfies all objectives, else the
//     baseline if it does, else nobody.
//   - A/B and A/B/N: among the versions that satisfy all objectives, the one with the best
//     value of rewards[0] (highest for High, lowest for Low) wins. Every one of them must
//     have a usable reward value (under the reward Metric's missing-value policy): when one
//     has none, the rewards cannot be compared and nobody wins. Equal best values give no
//     winner and list the tied versions in BestVersions. No reward gives no winner.
//
// BestVersions is [winner] when there is a winner, the tied versions for an A/B(/N) tie,
// and empty otherwise. With no versions there is no winner.
//
// With criteria.comparisons, a candidate whose comparisons do not Pass (see Judge) cannot
// win either; dry-run objectives and comparisons never keep a version from winning.
func Winner(exp *v2alpha1.Experiment, assessments map[string][]bool) (v2alpha1.WinnerAssessmentData, string) {
	return decideWinner(exp, assessments, judgedOut(exp, Judge(exp)))
}

// decideWinner is Winner with the judge's verdicts: out maps each candidate the comparisons
// keep from winning to the reason.
func decideWinner(exp *v2alpha1.Experiment, assessments map[string][]bool, out map[string]string) (v2alpha1.WinnerAssessmentData, string) {
	versions := exp.Spec.VersionNames()
	if len(versions) == 0 {
		return v2alpha1.WinnerAssessmentData{}, "no versions to assess"
	}
	objectives := exp.Spec.Objectives()
	ok := func(v string) bool {
		_, judged := out[v]
		return feasible(objectives, assessments, v) && !judged
	}
	fails := func(vs ...string) string {
		var parts []string
		for _, v := range vs {
			if !feasible(objectives, assessments, v) {
				parts = append(parts, v+" fails "+strings.Join(failedMetrics(objectives, assessments, v), ", "))
			}
			if why, judged := out[v]; judged {
				parts = append(parts, v+": "+why)
			}
		}
		return strings.Join(parts, "; ")
	}
	baseline := versions[0]
	won := func(v, msg string) (v2alpha1.WinnerAssessmentData, string) {
		return v2alpha1.WinnerAssessmentData{WinnerFound: true, Winner: &v, BestVersions: []string{v}}, msg
	}
	none := func(msg string) (v2alpha1.WinnerAssessmentData, string) {
		return v2alpha1.WinnerAssessmentData{}, msg
	}

	switch p := exp.Spec.Strategy.TestingPattern; p {
	case v2alpha1.TestingPatternConformance:
		if ok(baseline) {
			return won(baseline, "baseline satisfies all objectives")
		}
		return none("no version satisfies all objectives: " + fails(baseline))

	case v2alpha1.TestingPatternCanary:
		if len(versions) < 2 {
			if ok(baseline) {
				return won(baseline, "baseline satisfies all objectives; there is no candidate")
			}
			return none("no version satisfies all objectives: " + fails(baseline))
		}
		candidate := versions[1]
		switch {
		case ok(candidate):
			if len(out) == 0 && len(exp.Spec.Comparisons()) > 0 {
				return won(candidate, "candidate satisfies all objectives and comparisons")
			}
			return won(candidate, "candidate satisfies all objectives")
		case ok(baseline):
			return won(baseline, "baseline satisfies all objectives; candidate does not: "+fails(candidate))
		default:
			return none("no version satisfies all objectives: " + fails(baseline, candidate))
		}

	case v2alpha1.TestingPatternAB, v2alpha1.TestingPatternABN:
		return bestByReward(exp, versions, ok, fails)

	default:
		return none(fmt.Sprintf("unknown testing pattern %q", p))
	}
}

// bestByReward is the A/B and A/B/N winner assessment.
func bestByReward(exp *v2alpha1.Experiment, versions []string, ok func(string) bool, fails func(...string) string) (v2alpha1.WinnerAssessmentData, string) {
	rewards := exp.Spec.Rewards()
	if len(rewards) == 0 {
		return v2alpha1.WinnerAssessmentData{}, "no reward metric in the experiment, so no winner can be chosen"
	}
	reward := rewards[0]
	var high bool
	switch reward.PreferredDirection {
	case v2alpha1.PreferredDirectionHigh:
		high = true
	case v2alpha1.PreferredDirectionLow:
	default:
		return v2alpha1.WinnerAssessmentData{}, fmt.Sprintf("reward %s has unknown preferred direction %q, so no winner can be chosen", reward.Metric, reward.PreferredDirection)
	}

	var candidates []string // feasible versions with a usable reward value
	var skipped []string
	values := map[string]float64{}
	spec := metricSpec(exp, reward.Metric)
	for _, v := range versions {
		if !ok(v) {
			continue
		}
		r := read(spec, versionData(exp, reward.Metric, v))
		if !r.ok {
			skipped = append(skipped, fmt.Sprintf("%s has no %s value (%s)", v, reward.Metric, r.missing))
			continue
		}
		candidates = append(candidates, v)
		values[v] = r.value
	}
	var notes []string
	if f := fails(versions...); f != "" {
		notes = append(notes, f)
	}
	notes = append(notes, skipped...)
	suffix := ""
	if len(notes) > 0 {
		suffix = "; " + strings.Join(notes, "; ")
	}

	// A version whose reward cannot be read was not compared: whoever has the best value
	// among the others may not be the best of all, so nobody wins.
	if len(skipped) > 0 && len(candidates) > 0 {
		return v2alpha1.WinnerAssessmentData{}, fmt.Sprintf("no winner: the versions that satisfy all objectives cannot be compared by reward %s%s", reward.Metric, suffix)
	}
	if len(candidates) == 0 {
		for _, v := range versions {
			if ok(v) {
				return v2alpha1.WinnerAssessmentData{}, fmt.Sprintf("no version that satisfies all objectives has a value for reward %s%s", reward.Metric, suffix)
			}
		}
		return v2alpha1.WinnerAssessmentData{}, "no version satisfies all objectives: " + fails(versions...)
	}

	best := []string{candidates[0]}
	for _, v := range candidates[1:] {
		switch b := values[best[0]]; {
		case values[v] == b:
			best = append(best, v)
		case (high && values[v] > b) || (!high && values[v] < b):
			best = []string{v}
		}
	}
	dir := "lowest"
	if high {
		dir = "highest"
	}
	value := FormatNumbers(values[best[0]])[0]
	if len(best) > 1 {
		return v2alpha1.WinnerAssessmentData{BestVersions: best},
			fmt.Sprintf("no unique winner: %s share the %s %s (%s)%s", strings.Join(best, ", "), dir, reward.Metric, value, suffix)
	}
	w := best[0]
	return v2alpha1.WinnerAssessmentData{WinnerFound: true, Winner: &w, BestVersions: []string{w}},
		fmt.Sprintf("found unique winner: %s has the %s %s (%s) of the versions that satisfy all objectives%s", w, dir, reward.Metric, value, suffix)
}
