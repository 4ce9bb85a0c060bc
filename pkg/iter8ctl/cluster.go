package iter8ctl

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/termsafe"
)

// clusterFlags are the flags of the commands that read Experiments from the cluster, as
// kubectl spells them; KUBECONFIG is honoured as kubectl does.
type clusterFlags struct {
	kubeconfig, context, namespace string
}

func (f *clusterFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace (default: the context's, else default)")
}

// config returns the client configuration and the namespace the flags select.
func (f *clusterFlags) config() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading the kubeconfig: %w", err)
	}
	ns := f.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	return cfg, ns, nil
}

// getExperiment reads the Experiment name from the cluster, as a report reads it
// (readReport): fields iter8ctl does not know are named once on standard error.
func (f *clusterFlags) getExperiment(cmd *cobra.Command, name string) (*v2alpha1.Experiment, error) {
	cfg, ns, err := f.config()
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	u, err := dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns).Get(contextOf(cmd), name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading experiment %s/%s: %w", ns, name, err)
	}
	b, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	exp, ignored, err := v2alpha1.ReadExperiment(b)
	if err != nil {
		return nil, fmt.Errorf("decoding experiment %s/%s: %w", ns, name, err)
	}
	if len(ignored) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "Warning: experiment %s/%s: ignored %s that this iter8ctl does not read: %s\n", ns, name, plural(len(ignored), "field"), strings.Join(ignored, ", "))
	}
	return exp, nil
}

func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// readSource reads the experiment a report is about: the file of -f, or the NAME argument
// from the cluster; exactly one of them.
func readSource(cmd *cobra.Command, args []string, file string, cf *clusterFlags) (*v2alpha1.Experiment, error) {
	switch {
	case len(args) > 1:
		return nil, usageErrorf(cmd, "unexpected argument %q: %s takes one experiment", args[1], cmd.CommandPath())
	case len(args) == 1 && file != "":
		return nil, usageErrorf(cmd, "an experiment NAME and -f %s: give one of them", file)
	case len(args) == 1:
		return cf.getExperiment(cmd, args[0])
	case file == "":
		return nil, usageErrorf(cmd, "an experiment NAME (from the cluster) or -f FILE|- is required")
	}
	return readReport(cmd, file)
}

func newGetCommand() *cobra.Command {
	var cf clusterFlags
	var all bool
	cmd := &cobra.Command{
		Use:   "get [-n NAMESPACE | -A]",
		Short: "List the experiments of the cluster",
		Long: `get lists the experiments of a namespace (or of all, with -A) as kubectl get does: name,
testing pattern, target, stage, completed iterations and the status message.`,
		Example: `  iter8ctl get -n default
  iter8ctl get -A --context prod`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, ns, err := cf.config()
			if err != nil {
				return err
			}
			dyn, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return err
			}
			if all {
				ns = ""
			}
			l, err := dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns).List(contextOf(cmd), metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("listing experiments: %w", err)
			}
			type row struct{ ns, line string }
			var rows []row
			for _, u := range l.Items {
				b, err := u.MarshalJSON()
				if err != nil {
					return err
				}
				exp, _, err := v2alpha1.ReadExperiment(b)
				if err != nil {
					rows = append(rows, row{u.GetNamespace(), fmt.Sprintf("%s\t?\t?\t?\t?\tunreadable: %v", u.GetName(), err)})
					continue
				}
				rows = append(rows, row{exp.Namespace, fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s", exp.Name, exp.Spec.Strategy.TestingPattern,
					exp.Spec.Target, exp.Status.GetStage(), exp.Status.GetCompletedIterations(), statusLine(exp))})
			}
			sort.SliceStable(rows, func(i, j int) bool { return rows[i].ns+"/"+rows[i].line < rows[j].ns+"/"+rows[j].line })
			w := tabwriter.NewWriter(termsafe.Writer{W: cmd.OutOrStdout()}, 0, 8, 3, ' ', 0)
			header := "NAME\tTYPE\tTARGET\tSTAGE\tCOMPLETED ITERATIONS\tMESSAGE"
			if all {
				header = "NAMESPACE\t" + header
			}
			fmt.Fprintln(w, header)
			for _, r := range rows {
				if all {
					fmt.Fprintf(w, "%s\t%s\n", r.ns, r.line)
				} else {
					fmt.Fprintln(w, r.line)
				}
			}
			if len(rows) == 0 {
				where := "namespace " + ns
				if all {
					where = "any namespace"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "No experiments in %s.\n", where)
			}
			return w.Flush()
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the experiments of every namespace")
	return cmd
}

func statusLine(exp *v2alpha1.Experiment) string {
	if exp.Status.Message == nil {
		return ""
	}
	return *exp.Status.Message
}
