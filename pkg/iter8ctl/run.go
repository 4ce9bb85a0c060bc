package iter8ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/describe"
	"github.com/iter8-tools/iter8-tekton/pkg/localrun"
)

func newRunCommand() *cobra.Command {
	var (
		files           []string
		prometheusURL   string
		output          string
		outPath         string
		reportPath      string
		intervalSeconds int
		allowExec       []string
	)
	cmd := &cobra.Command{
		Use:   "run -f FILE [-f FILE...] [--prometheus URL] [-o yaml|json] [--out FILE]",
		Short: "Run an experiment in this process, without a cluster",
		Long: `run runs a whole experiment locally with the same stages the Tekton tasks run:
init-experiment, then iterate and assess every intervalSeconds for iterationsPerLoop ×
maxLoops iterations (fewer when a version is rolled back), then finalize. The experiment
and its status live in memory (and in --out, rewritten after every change); nothing
shifts traffic.

The files hold one Experiment and any number of Metrics, decoded strictly. A bare metric
name is looked up in the experiment's namespace ("default" when it names none), then in
iter8-knative, iter8-istio and iter8-system; a Metric of the files without a namespace is
in the experiment's namespace, as if applied there. The builtin metrics (iter8-system/mean-latency,
error-rate, latency-95th-percentile, ...) are always there: their values come from the
metrics/collect task's load, sent to each version's URL. Metrics with mock levels give
those levels; prometheus metrics query --prometheus.

Tasks that need a cluster (knative/init-experiment, common/readiness) fail with an error
that names them; notification/http and metrics/collect work. common/exec and run: execute
commands as you, so they run only with --allow-exec (any command) or
--allow-exec=cmd1,cmd2; an experiment with another command is refused before it starts.

Progress goes to standard error, one line per decision, prefixed with the elapsed time.
At the end run prints the describe of the experiment to standard output, or with -o the
Experiment with its status; --report FILE writes the HTML report (iter8ctl report) as
well. Ctrl-C stops the running stage and finalizes the experiment
as cancelled (Completed and Failed, "ended after k of N iterations").

Exit status (the outcome is the finalize Task's ` + "`outcome`" + ` result too):
  0    Succeeded: the experiment achieved its aim (Conformance: the version passed;
       Canary: the candidate won; A/B, A/B/N: a winner was found)
  3    NoWinner or RolledBack: the experiment ran and judged, and the release did not pass
  1    Failed: the experiment could not run or could not be judged (metrics unreadable,
       a start action failed, traffic could not be restored), or iter8ctl itself failed
  2    a bad command line, or an experiment or metric file that is missing, undecodable
       or invalid
  130  stopped by Ctrl-C (or SIGTERM), after finalize
The reason is on standard error.`,
		Example: `  # Run an experiment that sends its own load (metrics/collect) to a local service
  sample-app --version current --listen 127.0.0.1:18080 &
  iter8ctl run -f examples/conformance.yaml

  # Decide an A/B experiment on mock metrics
  iter8ctl run -f examples/ab.yaml -f examples/ab-metrics.yaml

  # Faster, for a demo: one second per iteration, and keep the result
  iter8ctl run -f experiment.yaml --interval-seconds 1 --out result.yaml

  # Keep an HTML report of the run
  iter8ctl run -f experiment.yaml --report report.html

  # Metrics from Prometheus, defined in a file of Metric objects
  iter8ctl run -f experiment.yaml -f metrics.yaml --prometheus http://127.0.0.1:9090`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageErrorf(cmd, "flag -f is required: an experiment file, or - for standard input")
			}
			switch output {
			case "", "yaml", "json":
			default:
				return usageErrorf(cmd, "invalid output format %q: want yaml or json (the describe text when not set)", output)
			}
			if intervalSeconds < 0 {
				return usageErrorf(cmd, "--interval-seconds must not be negative, got %d", intervalSeconds)
			}
			policy := execPolicy(allowExec)
			exp, ms, err := readRunFiles(cmd, files, policy)
			if err != nil {
				return err
			}

			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			// The first Ctrl-C stops the running stage and finalizes; from then on the
			// default handling is back, so a second one ends the process even if a
			// finish action hangs.
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				stop()
			}()
			log := &localrun.ElapsedWriter{W: cmd.ErrOrStderr(), Start: time.Now()}
			res, runErr := localrun.Run(ctx, localrun.Options{
				Experiment:    exp,
				Metrics:       ms,
				PrometheusURL: prometheusURL,
				Interval:      time.Duration(intervalSeconds) * time.Second,
				Path:          outPath,
				Log:           log,
				Exec:          policy,
			})
			stop()
			if res == nil || res.Experiment == nil {
				return runErr
			}
			if err := writeRunOutput(cmd, res.Experiment, output, outPath); err != nil {
				return errors.Join(runErr, err)
			}
			if reportPath != "" {
				if err := writeRunReport(res.Experiment, reportPath); err != nil {
					return errors.Join(runErr, err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Report: %s\n", reportPath)
			}
			return runErr
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "file of the Experiment and Metrics, or - for standard input (repeatable)")
	cmd.Flags().StringVar(&prometheusURL, "prometheus", "", "Prometheus base URL for prometheus metrics without urlTemplate")
	cmd.Flags().StringVarP(&output, "output", "o", "", "print the Experiment with its status as yaml or json instead of the describe text")
	cmd.Flags().StringVar(&outPath, "out", "", "write the Experiment with its status to this file (after every change)")
	cmd.Flags().StringVar(&reportPath, "report", "", "write the HTML report (iter8ctl report) of the finished experiment to this file")
	cmd.Flags().IntVar(&intervalSeconds, "interval-seconds", 0, "seconds per iteration, instead of spec.duration.intervalSeconds (0: the spec's)")
	cmd.Flags().StringSliceVar(&allowExec, "allow-exec", nil, "let common/exec and run: execute these commands (comma-separated; alone, any command), as you: only for experiments you trust")
	cmd.Flags().Lookup("allow-exec").NoOptDefVal = allowAnyCommand
	return cmd
}

// readRunFiles decodes every file strictly and checks every object as init-experiment
// would, so that a mistake is named by file, object and field before anything runs.
func readRunFiles(cmd *cobra.Command, files []string, policy actions.ExecPolicy) (*v2alpha1.Experiment, []*v2alpha1.Metric, error) {
	var exp *v2alpha1.Experiment
	var expAt string
	var ms []*v2alpha1.Metric
	var problems []string
	for _, f := range files {
		name := inputName(f)
		b, err := readInput(cmd, f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		docs, err := v2alpha1.DecodeDocuments(bytes.NewReader(b))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if len(docs) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no Experiment or Metric found", name))
			continue
		}
		for _, d := range docs {
			var obj string
			var ferr *apis.FieldError
			switch {
			case d.Experiment != nil:
				obj = objectName("Experiment", d.Experiment.Name, d.Index)
				if exp != nil {
					problems = append(problems, fmt.Sprintf("%s: %s: a second Experiment (the first is in %s); run takes one", name, obj, expAt))
					continue
				}
				exp, expAt = d.Experiment, name
				// Locally the weights are modelled: Progressive and BlueGreen need no
				// weightObjRef (localrun.ModelTraffic).
				localrun.ModelTraffic(exp)
				ferr = actions.ValidateExperiment(exp).Also(actions.CheckExec(exp, policy))
			case d.Metric != nil:
				obj = objectName("Metric", d.Metric.Name, d.Index)
				ms = append(ms, d.Metric)
				ferr = d.Metric.Validate()
			}
			var lines []string
			for _, fe := range ferr.WrappedErrors() {
				lines = append(lines, fmt.Sprintf("%s: %s: %s", name, obj, fieldErrorLine(fe)))
			}
			sort.Strings(lines)
			problems = append(problems, lines...)
		}
	}
	if exp == nil && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("no Experiment in %s", strings.Join(files, ", ")))
	}
	if len(problems) > 0 {
		return nil, nil, &invalidInputError{errors.New(strings.Join(problems, "\n"))}
	}
	return exp, ms, nil
}

// allowAnyCommand is --allow-exec without a list.
const allowAnyCommand = "*"

// execPolicy is what --allow-exec allows: nothing when it is not given.
func execPolicy(allow []string) actions.ExecPolicy {
	var p actions.ExecPolicy
	for _, c := range allow {
		if c == allowAnyCommand {
			p.AllowAll = true
		} else if c = strings.TrimSpace(c); c != "" {
			p.Commands = append(p.Commands, c)
		}
	}
	return p
}

// writeRunOutput prints the describe text, or the experiment as yaml or json, and writes
// the experiment to outPath: the store wrote it after every change, and writing the final
// state once more leaves no doubt about what the file holds.
func writeRunOutput(cmd *cobra.Command, exp *v2alpha1.Experiment, output, outPath string) error {
	b, err := yaml.Marshal(exp)
	if err != nil {
		return fmt.Errorf("encoding the experiment: %w", err)
	}
	if outPath != "" {
		if err := os.WriteFile(outPath, b, 0o644); err != nil {
			return fmt.Errorf("writing the experiment to %s: %w", outPath, err)
		}
	}
	out := cmd.OutOrStdout()
	switch output {
	case "yaml":
		_, err = out.Write(b)
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(exp)
	default:
		err = describe.Write(out, exp, describe.FormatText)
	}
	if err != nil {
		return fmt.Errorf("printing the experiment: %w", err)
	}
	return nil
}
