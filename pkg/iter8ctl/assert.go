package iter8ctl

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iter8-tools/iter8-tekton/pkg/describe"
)

func newAssertCommand() *cobra.Command {
	var file string
	var names []string
	cmd := &cobra.Command{
		Use:   "assert -f FILE|- -c CONDITION [-c CONDITION...]",
		Short: "Exit non-zero unless an experiment meets every condition",
		Long: `assert checks conditions on an experiment's outcome, for CI gates. It prints
"All conditions satisfied." and exits 0 when every condition holds; otherwise it names each
condition that does not hold and why, and exits 1.

Conditions:
  completed      the experiment has completed (successfully or not)
  noFailure      the experiment has not failed
  winnerFound    the last assessment found a winner
  candidateWon   the winner is a candidate
  baselineWon    the winner is the baseline (a conformant version, or a canary that lost)
  rolledBack     a version violated a rollback objective and was rolled back`,
		Example: `  # Gate a release on a successful canary
  kubectl get experiment canary -o yaml | iter8ctl assert -f - -c completed -c noFailure -c candidateWon

  # Check that a conformance test passed
  iter8ctl assert -f experiment.yaml -c completed -c noFailure -c winnerFound`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFile(cmd, file); err != nil {
				return err
			}
			if len(names) == 0 {
				return usageErrorf(cmd, "at least one -c condition is required: one of %s", conditionList())
			}
			var conds []describe.Condition
			for _, n := range names {
				c, err := describe.ParseCondition(n)
				if err != nil {
					return usageErrorf(cmd, "%v", err)
				}
				conds = append(conds, c)
			}
			exp, err := readReportedExperiment(cmd, file)
			if err != nil {
				return err
			}
			if err := describe.Assert(exp, conds); err != nil {
				return unmetError(err, len(conds))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "All conditions satisfied.")
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "experiment file, or - for standard input")
	cmd.Flags().StringArrayVarP(&names, "condition", "c", nil, "condition to check (repeatable): "+conditionList())
	return cmd
}

func conditionList() string {
	names := make([]string, len(describe.Conditions))
	for i, c := range describe.Conditions {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// unmetError keeps a single unmet condition on one line, and lists several one per line
// under a count, so that the one "Error:" line Main prints heads them all.
func unmetError(err error, total int) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) == 1 {
		return err
	}
	unmet := joined.Unwrap()
	lines := make([]string, len(unmet))
	for i, e := range unmet {
		lines[i] = "  " + e.Error()
	}
	return fmt.Errorf("%d of %d conditions not satisfied:\n%s", len(unmet), total, strings.Join(lines, "\n"))
}
