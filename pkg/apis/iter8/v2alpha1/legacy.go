package v2alpha1

import (
	"encoding/json"

	"sigs.k8s.io/yaml"
)

// legacyFields are the fields of earlier releases that upgradeLegacy reads: not ignored.
var legacyFields = map[string]bool{
	"spec.strategy.type":              true,
	"spec.strategy.weights.algorithm": true,
	"spec.metrics":                    true,
	"status.recommendedBaseline":      true,
}

// upgradeLegacy reads, from the raw object, what earlier iter8 controllers wrote under
// names this version does not have, into the fields it has, where those are empty:
//
//   - spec.strategy.type (v2alpha1, late 2020) is the testing pattern;
//   - spec.strategy.weights.algorithm is the deployment pattern;
//   - spec.metrics (the metrics the controller resolved, v2alpha1 and early v2alpha2) are
//     the metrics of the status;
//   - the conditions ExperimentCompleted and ExperimentFailed are Completed and Failed;
//   - status.recommendedBaseline is the version recommended for promotion.
//
// Nothing is upgraded that the object also holds in today's shape.
func upgradeLegacy(raw []byte, exp *Experiment) {
	var legacy struct {
		Spec struct {
			Strategy struct {
				Type    TestingPatternType `json:"type"`
				Weights struct {
					Algorithm DeploymentPatternType `json:"algorithm"`
				} `json:"weights"`
			} `json:"strategy"`
			Metrics []MetricInfo `json:"metrics"`
		} `json:"spec"`
		Status struct {
			RecommendedBaseline *string `json:"recommendedBaseline"`
		} `json:"status"`
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil || json.Unmarshal(js, &legacy) != nil {
		return
	}
	st := &exp.Spec.Strategy
	if st.TestingPattern == "" && legacy.Spec.Strategy.Type != "" {
		st.TestingPattern = legacy.Spec.Strategy.Type
	}
	if st.DeploymentPattern == nil && legacy.Spec.Strategy.Weights.Algorithm != "" {
		dp := legacy.Spec.Strategy.Weights.Algorithm
		st.DeploymentPattern = &dp
	}
	if len(exp.Status.Metrics) == 0 && len(legacy.Spec.Metrics) > 0 {
		exp.Status.Metrics = legacy.Spec.Metrics
	}
	for _, c := range exp.Status.Conditions {
		if c == nil {
			continue
		}
		switch c.Type {
		case "ExperimentCompleted":
			if exp.Status.Condition(ConditionCompleted) == nil {
				c.Type = ConditionCompleted
			}
		case "ExperimentFailed":
			if exp.Status.Condition(ConditionFailed) == nil {
				c.Type = ConditionFailed
			}
		}
	}
	if r := legacy.Status.RecommendedBaseline; r != nil && *r != "" && exp.Status.RecommendedVersion() == "" {
		exp.SetRecommendedVersion(*r)
	}
}
