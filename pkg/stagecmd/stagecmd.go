// Package stagecmd is the command line of the four stage binaries (init-experiment,
// iterate, assess, finalize): flags, cluster clients, Tekton results and exit codes.
package stagecmd

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/buildinfo"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
	"github.com/iter8-tools/iter8-tekton/pkg/experiment"
	"github.com/iter8-tools/iter8-tekton/pkg/kindmap"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics"
	"github.com/iter8-tools/iter8-tekton/pkg/termsafe"
	"github.com/iter8-tools/iter8-tekton/pkg/traffic"
)

// The stages.
const (
	StageInit     = "init-experiment"
	StageIterate  = "iterate"
	StageAssess   = "assess"
	StageFinalize = "finalize"
)

// Exit codes. A CI gate tells the experiment's verdict (3) from a broken stage (1).
const (
	ExitOK             = 0
	ExitError          = 1
	ExitUsage          = 2
	ExitAimNotAchieved = 3
)

// ErrAimNotAchieved is returned by finalize when the experiment ended without achieving
// its aim (outcome NoWinner or RolledBack); the stage's own work succeeded.
var ErrAimNotAchieved = errors.New("experiment did not achieve its aim")

// ErrExperimentFailed is returned by finalize when the experiment could not run to its end
// or could not be judged (outcome Failed): the job is broken, not the release, so it exits
// ExitError and a CI gate can tell the two apart.
var ErrExperimentFailed = errors.New("experiment failed")

type usageError struct{ error }

// errVersion ends a run that printed the version (--version).
var errVersion = errors.New("version printed")

// Main runs the stage and returns the process's exit code.
func Main(stage string, args []string, stdout, stderr io.Writer) int {
	// The stage's output is its log: names and backends' answers in it must not reach a
	// terminal (kubectl logs, tkn) raw.
	stdout, stderr = termsafe.Writer{W: stdout}, termsafe.Writer{W: stderr}
	ctx, cancel := signalContext()
	defer cancel()
	err := Run(ctx, stage, args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp), errors.Is(err, errVersion):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n", stage, err)
		return ExitUsage
	case errors.Is(err, ErrAimNotAchieved):
		fmt.Fprintf(stderr, "%s: %v\n", stage, err)
		return ExitAimNotAchieved
	default:
		fmt.Fprintf(stderr, "%s: error: %v\n", stage, err)
		return ExitError
	}
}

type options struct {
	experiment, namespace string
	kubeconfig, context   string
	kubeconfigDir         string
	results               map[string]string
	iteration             int
	intervalSeconds       string
	pipelineStatus        string
	pipelineRun           string // namespace/name, as given
	pipelineRunNamespace  string
	pipelineRunName       string
	prometheusURL         string
	metricNamespaces      string
	targetWait            time.Duration
	requestTimeout        time.Duration
	logFormat             string
	reportDir             string
}

var stageHelp = map[string]string{
	StageInit:     "validates the experiment, acquires its target, runs the start actions, reads its metrics and starts it.\nresults: iterations, target",
	StageIterate:  "waits for iteration K's time slot and measures every metric of every version.\nresults: iteration",
	StageAssess:   "judges iteration K: objectives, winner, weights, rollback; applies the weights.\nresults: continue (true|false), winner, recommended, iteration",
	StageFinalize: "ends the experiment: restores traffic after a failure or rollback, runs the finish actions, marks it Completed.\nexits 3 when the experiment did not achieve its aim (NoWinner, RolledBack), 1 when it failed (Failed).\nresults: outcome (Succeeded|NoWinner|RolledBack|Failed), winner, recommended",
}

func parse(stage string, args []string, stderr io.Writer) (*options, error) {
	o := &options{results: map[string]string{}}
	fs := flag.NewFlagSet(stage, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s --experiment NAME [--namespace NS] [flags]\n\n%s %s\n\nFlags:\n", stage, stage, stageHelp[stage])
		fs.PrintDefaults()
	}
	version := fs.Bool("version", false, "print the version and exit")
	fs.StringVar(&o.experiment, "experiment", "", "name of the Experiment (required)")
	fs.StringVar(&o.namespace, "namespace", "", "namespace of the Experiment (default: the pod's namespace, else the kubeconfig's)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file; in-cluster configuration when empty")
	fs.StringVar(&o.context, "context", "", "kubeconfig context")
	fs.StringVar(&o.kubeconfigDir, "kubeconfig-dir", "", "directory holding a file kubeconfig (the Tasks' kubeconfig workspace): the experiment's cluster, instead of --kubeconfig; the PipelineRun is still read from the pod's own cluster (empty: none)")
	fs.Func("result", "write Tekton result NAME to PATH, as NAME=PATH (repeatable)", func(s string) error {
		name, path, ok := strings.Cut(s, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("want NAME=PATH, got %q", s)
		}
		o.results[name] = path
		return nil
	})
	fs.StringVar(&o.metricNamespaces, "metric-namespaces", "iter8-knative,iter8-istio,iter8-system", "namespaces searched, in order, for a bare metric name not in the experiment's namespace")
	fs.StringVar(&o.logFormat, "log-format", "text", "the log's format: text (a line per decision) or json (an object per line: time, stage, experiment, iteration, msg)")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 30*time.Second, "how long one request to the Kubernetes API server may take before it is retried (0: no limit)")
	fs.StringVar(&o.prometheusURL, "prometheus-url", "", "Prometheus base URL for provider prometheus metrics without urlTemplate")
	switch stage {
	case StageIterate, StageAssess:
		fs.IntVar(&o.iteration, "iteration", 0, "iteration number, from 1 (required)")
		fs.StringVar(&o.intervalSeconds, "interval-seconds", "", "override spec.duration.intervalSeconds (for tests and demos; empty: the spec's)")
	case StageInit:
		fs.DurationVar(&o.targetWait, "target-wait", 10*time.Minute, "how long to wait for another experiment to release the target")
		fs.StringVar(&o.pipelineRun, "pipelinerun", "", "the PipelineRun this stage runs in, as namespace/name: the experiment's clock starts when it started, if init finishes within half an interval (empty: when init finishes)")
	case StageFinalize:
		fs.StringVar(&o.pipelineStatus, "pipeline-status", "", "Tekton's $(tasks.status)")
		fs.StringVar(&o.reportDir, "report-dir", "", "write the experiment's report into this directory as NAME.html and NAME.md (iter8ctl report; the Task's optional report workspace); empty: none")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if *version {
		fmt.Fprintf(stderr, "%s %s\n", stage, buildinfo.Read())
		return nil, errVersion
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return nil, usageError{fmt.Errorf("--log-format %q: want text or json", o.logFormat)}
	}
	if o.experiment == "" {
		return nil, usageError{errors.New("--experiment is required")}
	}
	if (stage == StageIterate || stage == StageAssess) && o.iteration < 1 {
		return nil, usageError{fmt.Errorf("--iteration must be at least 1, got %d", o.iteration)}
	}
	if o.pipelineRun != "" {
		var ok bool
		o.pipelineRunNamespace, o.pipelineRunName, ok = strings.Cut(o.pipelineRun, "/")
		if !ok || o.pipelineRunNamespace == "" || o.pipelineRunName == "" || strings.Contains(o.pipelineRunName, "/") {
			return nil, usageError{fmt.Errorf("--pipelinerun %q: want namespace/name", o.pipelineRun)}
		}
	}
	if o.kubeconfigDir != "" {
		path := filepath.Join(o.kubeconfigDir, "kubeconfig")
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			return nil, usageError{fmt.Errorf("--kubeconfig-dir %q holds no file kubeconfig: the Secret bound to the kubeconfig workspace needs the key kubeconfig", o.kubeconfigDir)}
		}
		o.kubeconfig = path
	}
	if o.intervalSeconds != "" {
		if n, err := strconv.Atoi(o.intervalSeconds); err != nil || n < 1 {
			return nil, usageError{fmt.Errorf("--interval-seconds must be a whole number of seconds >= 1, got %q", o.intervalSeconds)}
		}
	}
	return o, nil
}

// Run runs one stage against the cluster.
func Run(ctx context.Context, stage string, args []string, stdout, stderr io.Writer) error {
	if _, ok := stageHelp[stage]; !ok {
		return fmt.Errorf("unknown stage %q", stage)
	}
	o, err := parse(stage, args, stderr)
	if err != nil {
		return err
	}
	go experiment.WarmCodecs()
	cfg, ns, err := restConfig(o)
	if err != nil {
		return err
	}
	if o.logFormat == "json" {
		stdout = &jsonLines{w: stdout, stage: stage, experiment: ns + "/" + o.experiment, iteration: o.iteration, now: time.Now}
	}
	// The log says which build judged the experiment.
	fmt.Fprintf(stdout, "%s %s\n", stage, buildinfo.Read())
	d, err := clusterDeps(cfg, ns, o, stage, stdout)
	if err != nil {
		return err
	}
	return runStage(ctx, d, stage, o)
}

func runStage(ctx context.Context, d *experiment.Deps, stage string, o *options) error {
	results := map[string]string{}
	var err error
	switch stage {
	case StageInit:
		var r *experiment.InitResult
		if r, err = experiment.Init(ctx, d); r != nil {
			results["iterations"] = strconv.Itoa(int(r.Iterations))
			results["target"] = r.Target
		}
	case StageIterate:
		var r *experiment.IterateResult
		if r, err = experiment.Iterate(ctx, d, int32(o.iteration)); r != nil {
			results["iteration"] = strconv.Itoa(int(r.Iteration))
		}
	case StageAssess:
		var r *experiment.AssessResult
		r, err = experiment.Assess(ctx, d, int32(o.iteration))
		results["continue"] = "false"
		results["iteration"] = strconv.Itoa(o.iteration)
		if r != nil {
			results["continue"] = strconv.FormatBool(r.Continue)
			results["winner"] = r.Winner
			results["recommended"] = r.Recommended
		}
	case StageFinalize:
		var r *experiment.FinalizeResult
		if r, err = experiment.Finalize(ctx, d, o.pipelineStatus); r != nil {
			results["outcome"] = string(r.Outcome)
			results["winner"] = r.Winner
			results["recommended"] = r.Recommended
			if o.reportDir != "" {
				// The report is for people; failing to write it changes neither the
				// outcome nor the exit status a CI gate reads. It is logged.
				logReport(d.Log, o.reportDir, func() (*v2alpha1.Experiment, error) { return d.Store.Get(ctx) })
			}
			if err == nil {
				switch r.Outcome {
				case experiment.OutcomeNoWinner, experiment.OutcomeRolledBack:
					err = fmt.Errorf("%w (%s): %s", ErrAimNotAchieved, r.Outcome, r.Reason)
				case experiment.OutcomeFailed:
					err = fmt.Errorf("%w: %s", ErrExperimentFailed, r.Reason)
				}
			}
		}
	}
	if errors.Is(err, experiment.ErrGone) {
		// The experiment was deleted: stop the pipeline cleanly and touch nothing.
		d.Log.Write([]byte(stage + ": " + err.Error() + "; nothing to do\n"))
		err = nil
		if stage == StageFinalize {
			results["outcome"] = string(experiment.OutcomeFailed)
		}
	}
	if werr := writeResults(o.results, results); werr != nil && err == nil {
		err = werr
	}
	return err
}

// writeResults writes each requested result; a result the stage did not produce is
// written empty, so Tekton never waits on a missing file.
func writeResults(paths, values map[string]string) error {
	for name, path := range paths {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("writing result %s: %w", name, err)
		}
		if err := os.WriteFile(path, []byte(values[name]), 0o644); err != nil {
			return fmt.Errorf("writing result %s: %w", name, err)
		}
	}
	return nil
}

func restConfig(o *options) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading the Kubernetes client configuration: %w", err)
	}
	ns := o.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	cfg.UserAgent = "iter8-tekton"
	// client-go sets no timeout: a request the API server never answers (a dropped
	// connection, a stuck apiserver) would hang the stage until Tekton's timeout instead
	// of failing as a transient error the stores retry.
	cfg.Timeout = o.requestTimeout
	// client-go's default client-side limit (5 requests/s after a burst of 10) made init,
	// which reads each metric in up to four namespaces, wait seconds for itself. A stage is
	// short-lived and its requests are bounded by the experiment's size, so the API
	// server's own flow control is the right limit.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, ns, nil
}

func clusterDeps(cfg *rest.Config, ns string, o *options, stage string, log io.Writer) (*experiment.Deps, error) {
	// Only the dynamic client and kindmap, sharing one HTTP client and so one connection:
	// client-go's typed clients and discovery would link every built-in API group's scheme
	// and the OpenAPI models into the binary (some 10 MB, and their registration at every
	// start).
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes HTTP client: %w", err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("creating the dynamic client: %w", err)
	}
	mapper, err := kindmap.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	api, err := experiment.NewJSONClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	// One mapper for the actions and the weights: what one reads, the other need not.
	tc := &traffic.Client{Dynamic: dyn, Mapper: mapper}
	secrets := func(ctx context.Context, namespace, name string) (*credential.Secret, error) {
		return readSecret(ctx, dyn, namespace, name)
	}
	collector := &metrics.Collector{PrometheusURL: o.prometheusURL, Secrets: secrets, SecretNamespace: ns}
	// common/readiness takes kubectl's kinds, short names included (ksvc, deploy).
	// What common/exec and run: may execute is the cluster admin's to say, at install
	// time (docs/security.md); by default nothing.
	execPolicy := actions.ParseExecAllowlist(os.Getenv(actions.ExecAllowlistEnv))
	env := actions.Env{Dynamic: dyn, Mapper: mapper, Secrets: secrets, Out: log, Collect: experiment.CollectBuiltin, Exec: execPolicy}
	d := &experiment.Deps{
		Store:            &experiment.ClusterStore{Client: api, Events: experiment.RESTEvents{Client: api}, Namespace: ns, Name: o.experiment, Component: "iter8-" + stage},
		Metrics:          experiment.ClusterMetrics{Dynamic: dyn},
		MetricNamespaces: splitList(o.metricNamespaces),
		Measure:          experiment.MeasureWith(collector, metav1.Now),
		Sample:           collector.CollectSamples,
		Traffic:          tc,
		RunActions: func(ctx context.Context, exp *v2alpha1.Experiment, action string) error {
			return actions.Run(ctx, env, exp, action)
		},
		ValidateActions: func(exp *v2alpha1.Experiment) *apis.FieldError {
			return actions.Validate(exp).Also(actions.CheckExec(exp, execPolicy))
		},
		CheckMirroring: func(ctx context.Context, exp *v2alpha1.Experiment) string {
			return experiment.CheckDarkVersion(ctx, dyn, exp)
		},
		Lease:      &experiment.ClusterLease{Client: api},
		TargetWait: o.targetWait,
		Log:        log,
	}
	if o.pipelineRun != "" {
		d.StartedAt = func(ctx context.Context) (time.Time, error) {
			prDyn := dyn
			if o.kubeconfigDir != "" {
				// The PipelineRun is in the cluster running the pod, not the experiment's.
				local, err := rest.InClusterConfig()
				if err != nil {
					return time.Time{}, fmt.Errorf("reading the PipelineRun from this cluster: %w", err)
				}
				local.UserAgent, local.Timeout = cfg.UserAgent, cfg.Timeout
				if prDyn, err = dynamic.NewForConfig(local); err != nil {
					return time.Time{}, fmt.Errorf("reading the PipelineRun from this cluster: %w", err)
				}
			}
			return pipelineRunStart(ctx, prDyn, o.pipelineRunNamespace, o.pipelineRunName)
		}
	}
	if o.intervalSeconds != "" {
		n, _ := strconv.Atoi(o.intervalSeconds)
		d.Interval = time.Duration(n) * time.Second
	}
	return d, nil
}

var secretsResource = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// readSecret reads a Secret: its decoded data, and its annotations, which say where the
// data may be sent.
func readSecret(ctx context.Context, dyn dynamic.Interface, namespace, name string) (*credential.Secret, error) {
	u, err := dyn.Resource(secretsResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	data, _, err := unstructured.NestedStringMap(u.Object, "data")
	if err != nil {
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	out := &credential.Secret{Namespace: namespace, Name: name, Data: make(map[string]string, len(data)), Annotations: u.GetAnnotations()}
	for k, v := range data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("reading secret %s/%s: key %s: %w", namespace, name, k, err)
		}
		out.Data[k] = string(b)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// MultiCall runs the stage named by the program's base name, or, when the program is
// called by another name, by its first argument; it returns the exit code.
func MultiCall(argv []string, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "iter8-stage: no program name")
		return ExitUsage
	}
	stage, args := filepath.Base(argv[0]), argv[1:]
	if _, ok := stageHelp[stage]; !ok {
		if len(args) == 0 {
			fmt.Fprintf(stderr, "Usage: %s STAGE [flags]\n\nSTAGE is one of %s, %s, %s, %s; %s STAGE --help tells more.\n",
				stage, StageInit, StageIterate, StageAssess, StageFinalize, stage)
			return ExitUsage
		}
		stage, args = args[0], args[1:]
		if _, ok := stageHelp[stage]; !ok {
			fmt.Fprintf(stderr, "iter8-stage: unknown stage %q: want %s, %s, %s or %s\n", stage, StageInit, StageIterate, StageAssess, StageFinalize)
			return ExitUsage
		}
	}
	return Main(stage, args, stdout, stderr)
}
