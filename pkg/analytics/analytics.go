package analytics

import (
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provenance is written into every analysis this package produces.
const Provenance = "iter8-tekton/analytics"

// Result is the outcome of one assessment of an experiment.
type Result struct {
	// VersionAssessments holds, per version, one verdict (Data) and one reason (Reasons)
	// per objective, in the order of spec.criteria.objectives.
	VersionAssessments v2alpha1.VersionAssessmentAnalysis
	// WinnerAssessment holds the winner, if any; its Message explains why.
	WinnerAssessment v2alpha1.WinnerAssessmentAnalysis
	// Weights holds recommended integer weights, one per version in version order, adding
	// up to 100. It is nil for Conformance and when there are no versions. It is computed
	// for FixedSplit too, for information: the caller applies weights only when
	// spec.ShiftsTraffic() (Progressive and BlueGreen).
	Weights *v2alpha1.WeightsAnalysis
	// Rollback lists, in version order, the versions (baseline included) that do not
	// satisfy an objective whose RollsBack(deploymentPattern) is true. When it is not
	// empty the experiment must stop and restore traffic to the baseline.
	Rollback []string
	// Comparisons holds the judge's verdict on each candidate (see Judge); nil without
	// criteria.comparisons.
	Comparisons *v2alpha1.ComparisonAnalysis
	// RecommendedVersion is the version to promote: the winner if there is one, else the
	// baseline; always the baseline when Rollback is not empty; "" with no versions.
	RecommendedVersion string
}

// Assess judges the experiment's latest aggregated metrics
// (exp.Status.Analysis.AggregatedMetrics, keyed by metric reference exactly as in
// spec.criteria, then by version name) against its criteria: VersionAssessments, then
// Winner, then Weights (from the winner's BestVersions, exp.Status.CurrentWeightDistribution
// and the spec's weight limits), then Rollback. It does not modify exp, needs no particular
// stage, and copes with a nil exp, no versionInfo, no criteria and no analysis (giving
// empty assessments and no winner). now stamps the analyses' timestamps.
func Assess(exp *v2alpha1.Experiment, now metav1.Time) Result {
	meta := func(msg string) v2alpha1.AnalysisMetaData {
		md := v2alpha1.AnalysisMetaData{Provenance: Provenance, Timestamp: now}
		if msg != "" {
			md.Message = &msg
		}
		return md
	}
	if exp == nil {
		return Result{
			VersionAssessments: v2alpha1.VersionAssessmentAnalysis{AnalysisMetaData: meta("no experiment"), Data: map[string][]bool{}, Reasons: map[string][]string{}},
			WinnerAssessment:   v2alpha1.WinnerAssessmentAnalysis{AnalysisMetaData: meta("no experiment")},
		}
	}

	data, reasons := VersionAssessments(exp)
	judged := Judge(exp)
	winner, winnerMsg := decideWinner(exp, data, judgedOut(exp, judged))
	rollback := rollbackWith(exp, data, judged)
	res := Result{
		VersionAssessments: v2alpha1.VersionAssessmentAnalysis{AnalysisMetaData: meta(assessmentSummary(exp, data)), Data: data, Reasons: reasons, Verdicts: flatVerdicts(exp, data)},
		WinnerAssessment:   v2alpha1.WinnerAssessmentAnalysis{AnalysisMetaData: meta(winnerMsg), Data: winner},
		Rollback:           rollback,
	}
	if judged != nil {
		res.Comparisons = &v2alpha1.ComparisonAnalysis{AnalysisMetaData: meta(judgementSummary(exp, judged)), Data: judged}
	}

	versions := exp.Spec.VersionNames()
	if len(versions) == 0 {
		return res
	}
	switch {
	case len(rollback) > 0:
		res.RecommendedVersion = versions[0]
	case winner.WinnerFound && winner.Winner != nil:
		res.RecommendedVersion = *winner.Winner
	default:
		res.RecommendedVersion = versions[0]
	}

	if exp.Spec.Strategy.TestingPattern != v2alpha1.TestingPatternConformance {
		w, msg := weights(versions, winner.BestVersions, exp.Status.CurrentWeightDistribution,
			exp.Spec.MaxCandidateWeight(), exp.Spec.MaxCandidateWeightIncrement())
		if p := exp.Spec.DeploymentPattern(); p == v2alpha1.DeploymentPatternFixedSplit {
			msg = "not applied (deployment pattern FixedSplit): " + msg
		}
		res.Weights = &v2alpha1.WeightsAnalysis{AnalysisMetaData: meta(msg), Data: w}
	}
	return res
}

// flatVerdicts lists data's verdicts in version, then objective order.
func flatVerdicts(exp *v2alpha1.Experiment, data map[string][]bool) []v2alpha1.ObjectiveVerdict {
	var out []v2alpha1.ObjectiveVerdict
	for _, v := range exp.Spec.VersionNames() {
		for i, o := range exp.Spec.Objectives() {
			out = append(out, v2alpha1.ObjectiveVerdict{Version: v, Objective: int32(i), Metric: o.Metric, Satisfied: satisfied(data, v, i)})
		}
	}
	return out
}

// assessmentSummary says in one line which versions satisfy all objectives.
func assessmentSummary(exp *v2alpha1.Experiment, data map[string][]bool) string {
	objectives := exp.Spec.Objectives()
	if len(objectives) == 0 {
		return "no objectives: every version is feasible"
	}
	var parts []string
	for _, v := range exp.Spec.VersionNames() {
		if feasible(objectives, data, v) {
			parts = append(parts, v+" satisfies all objectives")
		} else {
			parts = append(parts, v+" fails "+strings.Join(failedMetrics(objectives, data, v), ", "))
		}
	}
	if len(parts) == 0 {
		return "no versions"
	}
	return strings.Join(parts, "; ")
}

// Rollback lists, in version order, every version (baseline included) that does not satisfy
// an objective of exp whose RollsBack(deploymentPattern) is true (rollback_on_failure,
// defaulting to true for BlueGreen), and every candidate whose comparisons Fail (see
// Judge). assessments is as VersionAssessments returns; a missing verdict counts as not
// satisfied, so malformed input errs towards the baseline. Dry-run criteria never roll back.
func Rollback(exp *v2alpha1.Experiment, assessments map[string][]bool) []string {
	return rollbackWith(exp, assessments, Judge(exp))
}

func rollbackWith(exp *v2alpha1.Experiment, assessments map[string][]bool, judged map[string]v2alpha1.CandidateJudgement) []string {
	objectives := exp.Spec.Objectives()
	pattern := exp.Spec.DeploymentPattern()
	failed := map[string]bool{}
	for _, v := range judgedFailed(exp, judged) {
		failed[v] = true
	}
	var out []string
	for _, v := range exp.Spec.VersionNames() {
		if failed[v] {
			out = append(out, v)
			continue
		}
		for i, o := range objectives {
			if o.RollsBack(pattern) && !o.IsDryRun() && !satisfied(assessments, v, i) {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// judgementSummary says in one line how each candidate fared in the comparisons.
func judgementSummary(exp *v2alpha1.Experiment, judged map[string]v2alpha1.CandidateJudgement) string {
	var parts []string
	for _, v := range exp.Spec.VersionNames() {
		if j, ok := judged[v]; ok {
			parts = append(parts, v+": "+j.Reason)
		}
	}
	return strings.Join(parts, "; ")
}

// RollbackReasons explains Rollback: for each version it lists, the reasons (as in
// reasons, from VersionAssessments) of the rollback objectives it does not satisfy.
func RollbackReasons(exp *v2alpha1.Experiment, assessments map[string][]bool, reasons map[string][]string) []string {
	objectives := exp.Spec.Objectives()
	pattern := exp.Spec.DeploymentPattern()
	judged := Judge(exp)
	failed := map[string]bool{}
	for _, v := range judgedFailed(exp, judged) {
		failed[v] = true
	}
	var out []string
	for _, v := range exp.Spec.VersionNames() {
		if failed[v] {
			out = append(out, v+": "+judged[v].Reason)
		}
		for i, o := range objectives {
			if !o.RollsBack(pattern) || o.IsDryRun() || satisfied(assessments, v, i) {
				continue
			}
			line := o.Metric + ": no verdict: not satisfied"
			if r := reasons[v]; i < len(r) {
				line = r[i]
			}
			out = append(out, v+": "+line)
		}
	}
	return out
}
