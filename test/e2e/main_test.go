//go:build e2e

// Package e2e runs iter8-tekton end to end on a whole single-node Kubernetes with the
// real Tekton controller and webhook and the real Knative Serving controller, webhook and
// autoscaler (test/local-cluster, full mode with LC_KNATIVE=1; root; knative_test.go says
// which part of Knative's networking the tests play): the stage images are imported into
// the node's containerd, the project is installed from a release (hack/release for the
// node's platform, into a registry on the node's bridge, then crds.yaml and release.yaml,
// as docs/release.md says), and PipelineRuns made by `iter8ctl pipelinerun` run the
// experiments in pods: the seed's through Tekton's bundles resolver with the released
// stage image, the others with the freshly built images imported into containerd.
//
//	make e2e          # or: go test -tags e2e -count=1 -v -parallel 8 -timeout 45m ./test/e2e/
//
// The tests run side by side (t.Parallel): each has its own Experiments, targets and
// Metrics; only TestSeedMirroring points the installed Knative Metrics (pointMetrics).
// TestCanaryRollback, which measures the time to safety, runs alone before them, and the
// others wait for the seed's bundle resolution (afterSeedResolution).
//
// ITER8_E2E_KUBECONFIG=$CL/etc/admin.kubeconfig reuses a running full cluster of the kit
// (started with LC_KNATIVE=1 test/local-cluster/up.sh) instead of starting and stopping one.
// ITER8_E2E_KEEP=1 leaves the cluster it started running.
package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// The images the tests import, with fixed tags (never pulled).
const (
	stagesImage    = "localhost/iter8-tekton/stages:e2e"
	fakeImage      = "localhost/iter8-tekton/fakestages:e2e"
	sampleAppImage = "localhost/iter8-tekton/sample-app:e2e"
	// The sample app's image under a name Knative does not resolve to a digest (dev.local
	// is in its default registries-skipping-tag-resolving), for the tests' own Services.
	knativeSampleAppImage = "dev.local/iter8-tekton/sample-app:e2e"
)

// seedImages are the images the seed's service.yaml names. The node has no network:
// setup imports the sample app's image under these names (the harness's one change for
// the seed, instead of editing its YAML), and the node's Knative lists gcr.io in
// registries-skipping-tag-resolving (test/local-cluster/build.sh), so that the
// controller does not ask gcr.io for their digests. The sample app answers with
// $T_VERSION, which the seed sets.
var seedImages = []string{
	"gcr.io/knative-samples/knative-route-demo:blue",
	"gcr.io/knative-samples/knative-route-demo:green",
}

// cluster is what every test uses.
var cluster struct {
	kubeconfig string
	config     *rest.Config
	kube       kubernetes.Interface
	dyn        dynamic.Interface
	root       string // repository root
	cl         string // the kit's work directory
	bin        string // iter8ctl and the other binaries built for the test
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		teardown()
		return 1
	}
	code := m.Run()
	teardown()
	return code
}

var started bool

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	cluster.root = root
	if cluster.cl, err = harness.CacheDir(); err != nil {
		return err
	}
	if cluster.bin, err = os.MkdirTemp("", "iter8-e2e-"); err != nil {
		return err
	}
	kit := filepath.Join(root, "test", "local-cluster")

	logf("building the images")
	if err := buildImages(ctx); err != nil {
		return err
	}

	cluster.kubeconfig = os.Getenv("ITER8_E2E_KUBECONFIG")
	if cluster.kubeconfig == "" {
		logf("building the cluster (test/local-cluster/build.sh; slow when cold)")
		if _, err := command(ctx, "", filepath.Join(kit, "build.sh")); err != nil {
			return err
		}
		logf("starting the cluster with Knative Serving (LC_KNATIVE=1 test/local-cluster/up.sh)")
		out, err := commandEnv(ctx, "", []string{"LC_KNATIVE=1"}, filepath.Join(kit, "up.sh"))
		if err != nil {
			return err
		}
		started = true
		cluster.kubeconfig = strings.TrimSpace(out)
	}
	if cluster.config, err = clientcmd.BuildConfigFromFlags("", cluster.kubeconfig); err != nil {
		return err
	}
	// The tests share these clients and run side by side, polling every 100-250 ms:
	// client-go's default of 5 requests per second would queue them for seconds (the
	// ingress player, the load's routes and the time-to-safety watch among them).
	cluster.config.QPS, cluster.config.Burst = 100, 200
	cluster.kube = kubernetes.NewForConfigOrDie(cluster.config)
	cluster.dyn = dynamic.NewForConfigOrDie(cluster.config)

	logf("importing the images")
	for _, img := range []string{"iter8-stages", "iter8-fakestages", "iter8-sample-app"} {
		if _, err := ctrImages(ctx, "import", filepath.Join(cluster.bin, img+".tar")); err != nil {
			return err
		}
	}
	for _, name := range append([]string{knativeSampleAppImage}, seedImages...) {
		if _, err := ctrImages(ctx, "tag", "--force", sampleAppImage, name); err != nil {
			return err
		}
	}

	// Knative Serving's CRDs came with Knative itself (up.sh); the Istio CRDs are for the
	// seed's routing-rules.yaml and the VirtualService tests (no Istio runs).
	if _, err := cluster.kube.AppsV1().Deployments("knative-serving").Get(ctx, "controller", metav1.GetOptions{}); err != nil {
		return fmt.Errorf("the cluster runs no Knative Serving controller (start it with LC_KNATIVE=1 test/local-cluster/up.sh): %w", err)
	}
	logf("installing the Istio CRDs")
	istio, err := harness.IstioCRDs(ctx)
	if err != nil {
		return err
	}
	if err := harness.InstallCRDs(ctx, cluster.config, istio...); err != nil {
		return err
	}
	// The networking layer of Knative, played for the whole run (knative_test.go).
	pctx, stop := context.WithCancel(context.Background())
	done := startIngressPlayer(pctx)
	stopIngressPlayer = func() { stop(); <-done }
	// The project as a user installs a release: from dist/, its images from a registry.
	return installRelease(ctx)
}

// seedResolved is closed once TestSeedMirroring's PipelineRun has resolved its bundles (or
// the test ended). Tekton resolves the bundle Pipeline's 63 Tasks one after the other
// (docs/release.md): about 1.6 s each on an idle node, three times that among the other
// tests' pods, which made the seed the longest test by minutes. So the tests that run
// beside it start after its resolution (afterSeedResolution).
var (
	seedResolved     = make(chan struct{})
	seedResolvedOnce sync.Once
)

func markSeedResolved() { seedResolvedOnce.Do(func() { close(seedResolved) }) }

// afterSeedResolution waits until TestSeedMirroring's bundles are resolved, when that test
// runs in this go test (-run and -skip).
func afterSeedResolution(t *testing.T) {
	t.Helper()
	if !runs("TestSeedMirroring") {
		return
	}
	start := time.Now()
	select {
	case <-seedResolved:
		t.Logf("started after the seed's bundle resolution (%s)", time.Since(start).Round(time.Second))
	case <-time.After(10 * time.Minute):
		t.Log("the seed's bundles were not resolved within 10 minutes; starting anyway")
	}
}

// runs reports whether go test's -run and -skip select the top-level test name.
func runs(name string) bool {
	match := func(flagName string) (set, matched bool) {
		f := flag.Lookup(flagName)
		if f == nil || f.Value.String() == "" {
			return false, false
		}
		top, _, _ := strings.Cut(f.Value.String(), "/")
		re, err := regexp.Compile(top)
		return true, err == nil && re.MatchString(name)
	}
	if set, ok := match("test.run"); set && !ok {
		return false
	}
	_, skipped := match("test.skip")
	return !skipped
}

// stopIngressPlayer stops the KIngress player that setup started.
var stopIngressPlayer = func() {}

func teardown() {
	stopIngressPlayer()
	teardownRelease()
	if started && os.Getenv("ITER8_E2E_KEEP") == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := command(ctx, "", filepath.Join(cluster.root, "test", "local-cluster", "down.sh")); err != nil {
			fmt.Fprintln(os.Stderr, "down.sh:", err)
		}
	}
	if cluster.bin != "" {
		os.RemoveAll(cluster.bin)
	}
}

// buildImages writes the stages image (hack/images.sh), the fake stages image of the
// shape tests and the sample app's image as tarballs into cluster.bin, and builds iter8ctl.
func buildImages(ctx context.Context) error {
	root, bin := cluster.root, cluster.bin
	if _, err := command(ctx, root, filepath.Join(root, "hack", "images.sh"), "--tag", stagesImage, "--out", filepath.Join(bin, "iter8-stages.tar")); err != nil {
		return err
	}
	env := []string{"CGO_ENABLED=0"}
	build := func(pkg, out string) error {
		_, err := commandEnv(ctx, root, env, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(bin, out), pkg)
		return err
	}
	for pkg, out := range map[string]string{"./test/e2e/fakestage": "fakestage", "./cmd/sample-app": "sample-app", "./cmd/iter8ctl": "iter8ctl"} {
		if err := build(pkg, out); err != nil {
			return err
		}
	}
	mkimg := filepath.Join(bin, "mkimg")
	if _, err := commandEnv(ctx, filepath.Join(root, "test/local-cluster/go/tools"), env, "go", "build", "-o", mkimg, "./mkimg"); err != nil {
		return err
	}
	fake := []string{"-tag", fakeImage, "-o", filepath.Join(bin, "iter8-fakestages.tar"), "-user", "65532:65532", "-entrypoint", "/ko-app/init-experiment"}
	for _, s := range []string{"init-experiment", "iterate", "assess", "finalize"} {
		fake = append(fake, filepath.Join(bin, "fakestage")+":/ko-app/"+s)
	}
	if _, err := command(ctx, "", mkimg, fake...); err != nil {
		return err
	}
	_, err := command(ctx, "", mkimg, "-tag", sampleAppImage, "-o", filepath.Join(bin, "iter8-sample-app.tar"),
		"-user", "65532:65532", "-entrypoint", "/sample-app", filepath.Join(bin, "sample-app")+":/sample-app")
	return err
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s e2e: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// command runs name with args in dir and returns its stdout; stderr goes to ours.
func command(ctx context.Context, dir, name string, args ...string) (string, error) {
	return commandEnv(ctx, dir, nil, name, args...)
}

func commandEnv(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	return commandIn(ctx, dir, env, nil, name, args...)
}

func commandIn(ctx context.Context, dir string, env []string, stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// kubectl runs the kit's kubectl against the cluster.
func kubectl(ctx context.Context, stdin []byte, args ...string) (string, error) {
	return commandIn(ctx, "", []string{"KUBECONFIG=" + cluster.kubeconfig}, stdin, filepath.Join(cluster.cl, "bin", "kubectl"), args...)
}

// iter8ctl runs the iter8ctl built for the test.
func iter8ctl(ctx context.Context, stdin []byte, args ...string) (string, error) {
	return commandIn(ctx, "", nil, stdin, filepath.Join(cluster.bin, "iter8ctl"), args...)
}

// ctrImages runs `ctr images ARGS...` against the node's containerd, in the namespace the
// kubelet uses.
func ctrImages(ctx context.Context, args ...string) (string, error) {
	return command(ctx, "", "ctr", append([]string{"--address", filepath.Join(cluster.cl, "run/containerd/containerd.sock"), "-n", "k8s.io", "images"}, args...)...)
}
