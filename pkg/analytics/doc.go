// Package analytics holds the decisions of an iter8 experiment iteration as pure functions:
// whether each version satisfies each objective, which version wins, which traffic weights
// to recommend and which versions must be rolled back. It reads only the Experiment it is
// given (spec, embedded Metrics, aggregated metric values and current weights) and performs
// no I/O, so the assess stage, iter8ctl and the local runner reach the same verdicts.
//
// The semantics are those of iter8-analytics v2 with three deliberate changes:
//   - a missing metric value is judged by the Metric's missing-value policy (Fail,
//     ReusePrevious, Ignore) and never passes silently once maxConsecutiveMissing is reached;
//   - every verdict carries a human-readable reason;
//   - recommended weights are rounded deterministically (largest remainder) instead of
//     randomly, and the old weights are matched by version name, not by position.
package analytics
