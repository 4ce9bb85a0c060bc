package iter8ctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/report"
)

func newReportCommand() *cobra.Command {
	var file, output, metric, outPath string
	var cf clusterFlags
	cmd := &cobra.Command{
		Use:   "report NAME | -f FILE|- [-o html|svg|markdown] [--metric NAME] [--out FILE]",
		Short: "Write an experiment's report: an HTML page, an SVG chart or Markdown",
		Long: `report writes what an experiment decided and how its metrics moved.

  -o html      (the default) one self-contained page: the outcome and why, the objectives'
               verdict per version, the comparisons, per metric a chart of every version
               over the iterations with the objectives' limits, the traffic weights over
               time and the latest values. CSS and SVG are inline; the page runs no script
               and fetches nothing, so it can be archived or mailed as it is.
  -o svg       the chart of one metric (--metric, its name or namespace/name).
  -o markdown  the outcome, why, the verdict table and the comparisons, for a pull-request
               comment.

The facts are describe's (iter8ctl describe prints the same verdicts, values and reasons);
the charts draw status.analysis.history and status.weightHistory. An experiment from a
release that did not record the history gets charts of the latest values only.

The experiment is read as describe reads it: from the cluster by NAME (--kubeconfig,
--context, -n; KUBECONFIG is honoured), or from FILE, or from standard input with -f -.
The report goes to standard output, or to --out FILE.`,
		Example: `  # A page for the experiment in the cluster
  iter8ctl report canary -n default --out canary.html

  # A pull-request comment
  kubectl get experiment canary -o yaml | iter8ctl report -f - -o markdown

  # The chart of one metric
  iter8ctl report -f result.yaml -o svg --metric mean-latency --out latency.svg`,
		RunE: func(cmd *cobra.Command, args []string) error {
			format := report.Format(output)
			if !validReportFormat(format) {
				return usageErrorf(cmd, "invalid output format %q: want one of %v", output, report.Formats)
			}
			if metric != "" && format != report.FormatSVG {
				return usageErrorf(cmd, "--metric selects the chart of -o svg, not of -o %s", output)
			}
			if format == report.FormatSVG && metric == "" {
				return usageErrorf(cmd, "-o svg draws one metric: name it with --metric")
			}
			exp, err := readSource(cmd, args, file, &cf)
			if err != nil {
				return err
			}
			b, err := report.Render(exp, format, metric)
			if err != nil {
				return err
			}
			return writeReport(cmd, b, outPath)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "experiment file, or - for standard input")
	cmd.Flags().StringVarP(&output, "output", "o", string(report.FormatHTML), "output format: html, svg or markdown")
	cmd.Flags().StringVar(&metric, "metric", "", "the metric of -o svg: its name, or namespace/name")
	cmd.Flags().StringVar(&outPath, "out", "", "write the report to this file instead of standard output")
	cf.add(cmd)
	return cmd
}

func validReportFormat(f report.Format) bool {
	for _, v := range report.Formats {
		if f == v {
			return true
		}
	}
	return false
}

// writeReport writes b to standard output, or to path through a temporary file in the
// same directory, so that a reader never sees half a report.
func writeReport(cmd *cobra.Command, b []byte, path string) error {
	if path == "" {
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	return writeFileAtomic(path, b)
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing the report to %s: %w", path, err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the report to %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the report to %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the report to %s: %w", path, err)
	}
	return nil
}

// writeRunReport writes the HTML report of a local run to path.
func writeRunReport(exp *v2alpha1.Experiment, path string) error {
	b, err := report.HTML(exp)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}
