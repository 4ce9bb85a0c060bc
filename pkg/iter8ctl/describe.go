package iter8ctl

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/describe"
)

func newDescribeCommand() *cobra.Command {
	var file, output string
	var watching bool
	var cf clusterFlags
	cmd := &cobra.Command{
		Use:   "describe NAME | -f FILE|-",
		Short: "Describe an experiment: progress, winner, objectives and metrics",
		Long: `describe prints an experiment's progress and, once an iteration has completed, the winner,
the reward, objective and metric assessments per version. When an objective failed or a
value is missing, an Assessment Details section says why: the value against the limit, or
what the metric query returned (no data, an error).

The experiment is read from the cluster by NAME (with kubectl's --kubeconfig, --context
and -n; KUBECONFIG is honoured), or from FILE, or from standard input with -f -, in YAML or
JSON, iter8.tools/v2alpha1 or v2alpha2, as any iter8 v2 controller wrote it: fields that
later releases renamed are read in their new spelling, and fields iter8ctl does not read are
ignored and named once on standard error (iter8ctl validate is the strict check).

With -o json or -o yaml, describe prints a summary for programs instead: stage, completed
iterations, winner, recommended version, each version's verdict on each objective with
its reason, each metric value with its state, and the conditions.`,
		Example: `  # Describe an experiment in the cluster
  iter8ctl describe mirroring -n default
  kubectl get experiment mirroring -o yaml | iter8ctl describe -f -

  # Watch it: describe again at every change, until it completes
  iter8ctl describe mirroring -n default -w

  # The winner, for a script
  kubectl get experiment canary -o json | iter8ctl describe -f - -o json | jq -r .winner`,
		RunE: func(cmd *cobra.Command, args []string) error {
			format := describe.Format(output)
			if !validFormat(format) {
				return usageErrorf(cmd, "invalid output format %q: want one of %v", output, describe.Formats)
			}
			if watching {
				if len(args) != 1 || file != "" {
					return usageErrorf(cmd, "-w watches an experiment in the cluster: give its NAME, not -f")
				}
				first := true
				return cf.watchExperiment(contextOf(cmd), args[0], cmd.ErrOrStderr(), func(exp *v2alpha1.Experiment) error {
					if !first {
						fmt.Fprintf(cmd.OutOrStdout(), "\n---------- %s ----------\n\n", time.Now().Format(time.TimeOnly))
					}
					first = false
					return describe.Write(cmd.OutOrStdout(), exp, format)
				})
			}
			exp, err := readSource(cmd, args, file, &cf)
			if err != nil {
				return err
			}
			return describe.Write(cmd.OutOrStdout(), exp, format)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "experiment file, or - for standard input")
	cmd.Flags().StringVarP(&output, "output", "o", string(describe.FormatText), "output format: text, json or yaml")
	watchFlag(cmd, &watching)
	cf.add(cmd)
	return cmd
}

func validFormat(f describe.Format) bool {
	for _, v := range describe.Formats {
		if f == v {
			return true
		}
	}
	return false
}
