package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/iter8-tools/iter8-tekton/pkg/sampleapp"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

func TestMain(m *testing.M) {
	// RunControlPlane is MainControlPlane returning the code, so the sample apps and
	// Prometheus of the benchmarks are stopped too.
	code := harness.RunControlPlane(m)
	stopWorld()
	os.Exit(code)
}

// maxVersions is the most versions a benchmark uses: one sample app serves each.
const maxVersions = 50

// world is what every benchmark shares: the control plane with the project's CRDs, the
// stage binaries, maxVersions sample apps under load and a Prometheus scraping them.
type world struct {
	cp   *harness.ControlPlane
	dyn  dynamic.Interface
	kube kubernetes.Interface
	prom *harness.Prometheus
	// bin holds the stripped stage binaries, built once.
	bin     string
	servers []*http.Server
	stop    context.CancelFunc
	load    sync.WaitGroup
}

var shared struct {
	once sync.Once
	w    *world
	err  error
}

// setup returns the shared world, starting it on first use (about a minute: the build
// of the binaries and maxVersions revisions' first samples).
func setup(b *testing.B) *world {
	b.Helper()
	harness.Integration(b, harness.NeedControlPlane, harness.NeedPrometheus)
	cp := harness.SharedControlPlane(b)
	shared.once.Do(func() { shared.err = start(cp) })
	if shared.err != nil {
		b.Fatalf("setting up the benchmark world: %v", shared.err)
	}
	return shared.w
}

// start fills shared.w as it goes, so that stopWorld stops whatever started even when a
// later step fails.
func start(cp *harness.ControlPlane) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := os.Stat(gnuTime); err != nil {
		return fmt.Errorf("the peak RSS of a stage is read with GNU time: apt-get install time (%w)", err)
	}
	w := &world{cp: cp}
	shared.w = w
	var err error
	if w.dyn, err = dynamic.NewForConfig(cp.Config()); err != nil {
		return err
	}
	if w.kube, err = kubernetes.NewForConfig(cp.Config()); err != nil {
		return err
	}
	crds, err := harness.ProjectCRDs(harness.ProjectCRDDir)
	if err != nil {
		return err
	}
	if err := cp.InstallCRDs(ctx, crds...); err != nil {
		return err
	}
	if w.bin, err = buildStages(ctx); err != nil {
		return err
	}

	var targets []string
	for i := range maxVersions {
		a, err := sampleapp.New(sampleapp.Config{Version: fmt.Sprint(i + 1), Namespace: "bench", Service: "sample-app", Revision: versionName(i), Latency: 2 * time.Millisecond})
		if err != nil {
			return err
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(l)
		w.servers = append(w.servers, srv)
		targets = append(targets, l.Addr().String())
	}
	loadCtx, stop := context.WithCancel(context.Background())
	w.stop = stop
	// A request to each app every 250 ms: enough for every series to have data, little
	// enough to leave the machine's CPU to what is measured.
	client := &http.Client{Timeout: 2 * time.Second}
	for _, addr := range targets {
		w.load.Add(1)
		go func() {
			defer w.load.Done()
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-loadCtx.Done():
					return
				case <-tick.C:
					if resp, err := client.Get("http://" + addr + "/"); err == nil {
						resp.Body.Close()
					}
				}
			}
		}()
	}
	if w.prom, err = harness.StartPrometheus(ctx, targets); err != nil {
		return fmt.Errorf("starting Prometheus: %w", err)
	}
	for i := range maxVersions {
		q := fmt.Sprintf(`revision_app_request_latencies_count{revision_name=%q}`, versionName(i))
		if _, err := w.prom.WaitForSamples(ctx, q); err != nil {
			return fmt.Errorf("waiting for samples of %s: %w", versionName(i), err)
		}
	}
	return nil
}

// buildStages builds the stage binaries the way hack/images.sh does (static, stripped).
func buildStages(ctx context.Context) (string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "iter8-bench-")
	if err != nil {
		return "", err
	}
	goTool := os.Getenv("GO")
	if goTool == "" {
		goTool = "go"
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", dir+string(filepath.Separator),
		"./cmd/init-experiment", "./cmd/iterate", "./cmd/assess")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("building the stages: %w\n%s", err, out)
	}
	return dir, nil
}

func stopWorld() {
	w := shared.w
	if w == nil {
		return
	}
	if w.stop != nil {
		w.stop()
		w.load.Wait()
	}
	for _, s := range w.servers {
		s.Close()
	}
	if w.prom != nil {
		w.prom.Stop()
	}
	if w.bin != "" {
		os.RemoveAll(w.bin)
	}
}
