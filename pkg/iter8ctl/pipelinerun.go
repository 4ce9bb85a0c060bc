package iter8ctl

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iter8-tools/iter8-tekton/pipelines"
	"github.com/iter8-tools/iter8-tekton/pkg/tekton"
)

func newPipelineRunCommand() *cobra.Command {
	var file, output string
	var opts pipelines.Options
	cmd := &cobra.Command{
		Use:   "pipelinerun -f FILE|-",
		Short: "Print a Tekton PipelineRun that runs an experiment",
		Long: fmt.Sprintf(`pipelinerun prints a tekton.dev/v1 PipelineRun that runs the experiment in FILE (or
standard input with -f -) to its end, ready for kubectl create -f -.

The PipelineRun embeds the iter8-experiment Pipeline unrolled to exactly the experiment's
iterations (iterationsPerLoop × maxLoops, at most %d): init-experiment, then iterate-k and
assess-k for every iteration, each guarded by the previous assess's continue result so the
run stops early, and finalize in finally. It references the four iter8 Tasks by name, so
kubectl apply -k config/ must have installed them in the PipelineRun's namespace.

Its timeouts follow the experiment's duration: tasks = %v + iterations × (interval + %v),
finally = %v, pipeline = tasks + finally; Tekton's 60-minute default never cuts an
experiment short. The PipelineRun is validated with Tekton's own validation.

Where the cluster forbids inline Pipelines (Tekton's disable-inline-spec feature flag), apply
the Pipeline of the experiment's size once (-o pipeline, named iter8-experiment-N for N
iterations) and create PipelineRuns that reference it (--pipeline-ref).

With --bundle REF, the Pipeline bundle of a release (images.txt of the release; see
docs/release.md), the PipelineRun references the catalog Pipeline (at most %d iterations)
through Tekton's bundles resolver: the Pipeline and its four Tasks come from the bundles, by
digest, and neither need be installed in the cluster.

With --report-claim CLAIM, finalize writes the experiment's report (NAME.html and NAME.md,
as iter8ctl report writes them) into that PersistentVolumeClaim, bound as the Pipeline's
report workspace; the TaskRuns' pods get fsGroup 65532, the stage image's group, so that
the non-root step may write to it.`,
			pipelines.MaxIterations, pipelines.DefaultAllowance.Init, pipelines.DefaultAllowance.PerIteration, pipelines.DefaultAllowance.Finalize,
			pipelines.CatalogIterations),
		Example: `  # Run the seed's experiment
  kubectl apply -f experiment.yaml
  iter8ctl pipelinerun -f experiment.yaml | kubectl create -f -

  # Where disable-inline-spec forbids inline Pipelines
  iter8ctl pipelinerun -f experiment.yaml -o pipeline | kubectl apply -f -
  iter8ctl pipelinerun -f experiment.yaml --pipeline-ref | kubectl create -f -

  # The Pipeline and its Tasks from a release's bundle, through Tekton's bundles resolver
  iter8ctl pipelinerun -f experiment.yaml --bundle ghcr.io/iter8-tools/iter8-tekton/pipeline@sha256:... | kubectl create -f -

  # Keep the report in a PersistentVolumeClaim
  iter8ctl pipelinerun -f experiment.yaml --report-claim iter8-reports | kubectl create -f -

  # From the object in the cluster, with a locally built stage image
  kubectl get experiment mirroring -o yaml | iter8ctl pipelinerun -f - --image localhost/iter8-tekton/stages:dev --image-pull-policy Never`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFile(cmd, file); err != nil {
				return err
			}
			if opts.IntervalSeconds < 0 {
				return usageErrorf(cmd, "--interval-seconds must not be negative, got %d", opts.IntervalSeconds)
			}
			switch opts.ImagePullPolicy {
			case "", "Always", "IfNotPresent", "Never":
			default:
				return usageErrorf(cmd, "invalid --image-pull-policy %q: want Always, IfNotPresent or Never", opts.ImagePullPolicy)
			}
			if output != "pipelinerun" && output != "pipeline" {
				return usageErrorf(cmd, "invalid --output %q: want pipelinerun or pipeline", output)
			}
			if opts.Bundle != "" && (opts.PipelineRef || output == "pipeline") {
				return usageErrorf(cmd, "--bundle %q: the bundle brings the Pipeline; it excludes --pipeline-ref and -o pipeline", opts.Bundle)
			}
			exp, err := readExperiment(cmd, file)
			if err != nil {
				return err
			}
			var obj any
			if output == "pipeline" {
				obj, err = pipelines.SizedPipeline(exp, opts)
			} else {
				obj, err = pipelines.PipelineRun(exp, opts)
			}
			if err != nil {
				return err
			}
			b, err := tekton.MarshalYAML(obj)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), strings.TrimPrefix(string(b), "---\n"))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "experiment file, or - for standard input")
	f.StringVarP(&opts.Namespace, "namespace", "n", "", "namespace of the PipelineRun (default: the experiment's, else default)")
	f.StringVar(&opts.ServiceAccount, "service-account", tekton.ServiceAccount, "ServiceAccount the stages run as")
	f.StringVar(&opts.Image, "image", "", "stage image (default: the Tasks' default, "+tekton.DefaultImage+")")
	f.StringVar(&opts.ImagePullPolicy, "image-pull-policy", "", "imagePullPolicy of the stage steps: Always, IfNotPresent or Never (default: the Tasks' default, IfNotPresent)")
	f.Int32Var(&opts.IntervalSeconds, "interval-seconds", 0, "override the experiment's intervalSeconds, for tests and demos (0: the experiment's)")
	f.StringVarP(&output, "output", "o", "pipelinerun", "what to print: pipelinerun, or pipeline (the Pipeline of the experiment's size, for --pipeline-ref)")
	f.StringVar(&opts.KubeconfigSecret, "kubeconfig-secret", "", "Secret (key kubeconfig) bound to the kubeconfig workspace: the experiment lives in the cluster it points at, the PipelineRun here")
	f.BoolVar(&opts.PipelineRef, "pipeline-ref", false, "reference the Pipeline of the experiment's size (iter8-experiment-N, see -o pipeline) instead of embedding it")
	f.StringVar(&opts.Bundle, "bundle", "", "reference the catalog Pipeline in this Pipeline bundle of a release (REGISTRY/pipeline@sha256:...) through Tekton's bundles resolver")
	f.StringVar(&opts.ReportClaim, "report-claim", "", "PersistentVolumeClaim to bind as the report workspace: finalize writes the experiment's report into it")
	return cmd
}
