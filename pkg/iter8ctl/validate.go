package iter8ctl

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func newValidateCommand() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "validate -f FILE|- [-f FILE...]",
		Short: "Check Experiment and Metric files before they are applied",
		Long: `validate decodes every document of every file strictly (unknown fields, other kinds and
other API versions are errors) and checks each Experiment and Metric the way
init-experiment does. It prints every problem on its own line,

  FILE: Kind/name: field.path: message

and exits 1 when there is any, or prints "N objects valid." and exits 0.

Metrics that an experiment references but the files do not contain are not reported:
whether they exist is for the cluster to say.`,
		Example: `  # Validate an experiment and the metrics it uses
  iter8ctl validate -f experiment.yaml -f metrics.yaml

  # Validate what kustomize builds
  kustomize build config/samples | iter8ctl validate -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageErrorf(cmd, "flag -f is required: a file, or - for standard input")
			}
			out := cmd.OutOrStdout()
			objects, problems := 0, 0
			for _, f := range files {
				n, lines := validateFile(cmd, f)
				objects += n
				problems += len(lines)
				for _, l := range lines {
					fmt.Fprintln(out, l)
				}
			}
			if problems > 0 {
				return fmt.Errorf("%s found", plural(problems, "problem"))
			}
			fmt.Fprintf(out, "%s valid.\n", plural(objects, "object"))
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "file of Experiments and Metrics, or - for standard input (repeatable)")
	return cmd
}

// validateFile returns how many objects path holds and one line per problem.
func validateFile(cmd *cobra.Command, path string) (int, []string) {
	name := inputName(path)
	b, err := readInput(cmd, path)
	if err != nil {
		return 0, []string{err.Error()}
	}
	docs, err := v2alpha1.DecodeDocuments(bytes.NewReader(b))
	if err != nil {
		return 0, []string{fmt.Sprintf("%s: %v", name, err)}
	}
	if len(docs) == 0 {
		return 0, []string{fmt.Sprintf("%s: no Experiment or Metric found", name)}
	}
	var lines []string
	for _, d := range docs {
		var obj string
		var ferr *apis.FieldError
		switch {
		case d.Experiment != nil:
			obj = objectName("Experiment", d.Experiment.Name, d.Index)
			ferr = actions.ValidateExperiment(d.Experiment)
		case d.Metric != nil:
			obj = objectName("Metric", d.Metric.Name, d.Index)
			ferr = d.Metric.Validate()
		}
		var objLines []string
		for _, fe := range ferr.WrappedErrors() {
			objLines = append(objLines, fmt.Sprintf("%s: %s: %s", name, obj, fieldErrorLine(fe)))
		}
		// knative orders problems by message; by field path they read like the object.
		sort.Strings(objLines)
		lines = append(lines, objLines...)
	}
	return len(docs), lines
}

func objectName(kind, name string, index int) string {
	if name == "" {
		return fmt.Sprintf("%s in document %d", kind, index)
	}
	return kind + "/" + v2alpha1.BoundedValue(name)
}

// fieldErrorLine puts the field paths first, so that an object's lines sort and grep by
// field, and keeps multi-line details on the one line.
func fieldErrorLine(fe *apis.FieldError) string {
	msg := fe.Message
	if fe.Details != "" {
		msg += ": " + strings.Join(strings.Fields(fe.Details), " ")
	}
	if len(fe.Paths) == 0 {
		return msg
	}
	return strings.Join(fe.Paths, ", ") + ": " + msg
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
