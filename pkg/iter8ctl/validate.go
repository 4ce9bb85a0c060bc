package iter8ctl

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/localrun"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics/builtin"
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

When the files hold Metrics, a reference namespace/name into a namespace other than the
shared sets' (iter8-knative, iter8-istio, iter8-system: the install puts them in the
cluster) must be among them. A bare name may be in the shared sets, so it is the cluster's
to resolve, as are references when the files hold no Metric.`,
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
			given := metricSet{}
			var exps []fileExperiment
			var metricDocs []fileMetric
			for _, f := range files {
				n, lines, docs := validateFile(cmd, f)
				objects += n
				problems += len(lines)
				for _, l := range lines {
					fmt.Fprintln(out, l)
				}
				for _, d := range docs {
					switch {
					case d.Metric != nil:
						given.add(d.Metric)
						metricDocs = append(metricDocs, fileMetric{file: inputName(f), index: d.Index, metric: d.Metric})
					case d.Experiment != nil:
						exps = append(exps, fileExperiment{file: inputName(f), index: d.Index, exp: d.Experiment})
					}
				}
			}
			if len(given) > 0 {
				for _, x := range exps {
					for _, l := range given.unresolved(x) {
						fmt.Fprintln(out, l)
						problems++
					}
				}
			}
			for _, w := range literalPlaceholders(metricDocs, exps) {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w)
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

// validateFile returns how many objects path holds, one line per problem, and the
// decoded documents.
func validateFile(cmd *cobra.Command, path string) (int, []string, []v2alpha1.Document) {
	name := inputName(path)
	b, err := readInput(cmd, path)
	if err != nil {
		return 0, []string{err.Error()}, nil
	}
	docs, err := v2alpha1.DecodeDocuments(bytes.NewReader(b))
	if err != nil {
		return 0, []string{fmt.Sprintf("%s: %v", name, err)}, nil
	}
	if len(docs) == 0 {
		return 0, []string{fmt.Sprintf("%s: no Experiment or Metric found", name)}, nil
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
	return len(docs), lines, docs
}

type fileMetric struct {
	file   string
	index  int
	metric *v2alpha1.Metric
}

// literalPlaceholders warns of each $x that would be sent as it is written: any in a
// urlTemplate, which is not templated, and, when Experiments are given, any in params or a
// body that some version of them does not define.
func literalPlaceholders(ms []fileMetric, exps []fileExperiment) []string {
	var out []string
	for _, fm := range ms {
		m := fm.metric
		where := fmt.Sprintf("%s: %s", fm.file, objectName("Metric", m.Name, fm.index))
		if u := m.Spec.URLTemplate; u != nil {
			for _, p := range metrics.Placeholders(*u) {
				out = append(out, fmt.Sprintf("%s: spec.urlTemplate: $%s is sent as it is: urlTemplate is not templated (docs/reference.md, Templated fields)", where, p))
			}
		}
		if len(m.Spec.Mock) > 0 {
			continue
		}
		fields := map[string]string{}
		for i, p := range m.Spec.Params {
			fields[fmt.Sprintf("spec.params[%d].value", i)] = p.Value
		}
		if m.Spec.Body != nil {
			fields["spec.body"] = *m.Spec.Body
		}
		paths := make([]string, 0, len(fields))
		for f := range fields {
			paths = append(paths, f)
		}
		sort.Strings(paths)
		for _, x := range exps {
			if x.exp.Spec.VersionInfo == nil {
				continue
			}
			for _, f := range paths {
				for _, p := range metrics.Placeholders(fields[f]) {
					if slices.Contains(metrics.ComputedArgs, p) {
						continue
					}
					var lacking []string
					for _, v := range x.exp.Spec.VersionNames() {
						if !versionDefines(x.exp, v, p) {
							lacking = append(lacking, v)
						}
					}
					if len(lacking) > 0 {
						out = append(out, fmt.Sprintf("%s: %s: $%s is sent as it is for version %s of Experiment %s, which has no variable %s",
							where, f, p, strings.Join(lacking, ", "), x.exp.Name, p))
					}
				}
			}
		}
	}
	return out
}

func versionDefines(exp *v2alpha1.Experiment, version, variable string) bool {
	vi := exp.Spec.VersionInfo
	for _, d := range append([]v2alpha1.VersionDetail{vi.Baseline}, vi.Candidates...) {
		if d.Name != version {
			continue
		}
		for _, nv := range d.Variables {
			if nv.Name == variable {
				return true
			}
		}
	}
	return false
}

type fileExperiment struct {
	file  string
	index int
	exp   *v2alpha1.Experiment
}

// metricSet holds the Metrics of the files, by namespace/name; one without a namespace
// is in whichever namespace looks it up, as iter8ctl run keeps it in the experiment's.
type metricSet map[string]bool

func (s metricSet) add(m *v2alpha1.Metric) {
	if m.Namespace == "" {
		s["*/"+m.Name] = true
		return
	}
	s[m.Namespace+"/"+m.Name] = true
}

func (s metricSet) has(ns, name string) bool {
	return s[ns+"/"+name] || s["*/"+name] || (ns == builtin.Namespace && builtin.Has(name))
}

// unresolved returns a line for each criteria reference of x that no given Metric (and no
// builtin one) provides.
func (s metricSet) unresolved(x fileExperiment) []string {
	exp := x.exp
	if exp.Spec.Criteria == nil {
		return nil
	}
	c := exp.Spec.Criteria
	type ref struct{ path, ref string }
	var refs []ref
	for i, o := range c.Objectives {
		refs = append(refs, ref{fmt.Sprintf("spec.criteria.objectives[%d].metric", i), o.Metric})
	}
	for i, r := range c.Rewards {
		refs = append(refs, ref{fmt.Sprintf("spec.criteria.rewards[%d].metric", i), r.Metric})
	}
	if c.Reward != nil {
		refs = append(refs, ref{"spec.criteria.reward.metric", c.Reward.Metric})
	}
	for i, m := range c.Indicators {
		refs = append(refs, ref{fmt.Sprintf("spec.criteria.indicators[%d]", i), m})
	}
	var lines []string
	for _, r := range refs {
		// Only a reference into a namespace the files speak for is judged: a bare name may
		// be in the shared sets, which the install puts in the cluster, and so may any name
		// in their namespaces.
		ns, name, explicit := strings.Cut(r.ref, "/")
		if !explicit || slices.Contains(localrun.MetricNamespaces, ns) {
			continue
		}
		if s.has(ns, name) {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s: %s: %s: metric %q is in none of the given files",
			x.file, objectName("Experiment", exp.Name, x.index), r.path, v2alpha1.BoundedValue(r.ref)))
	}
	// In field order, as the object's other problems.
	sort.Strings(lines)
	return lines
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
