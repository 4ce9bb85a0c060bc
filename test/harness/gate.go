package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvIntegration selects what happens to integration tests whose tools are missing:
//
//	(unset)    run them when the tools are there, skip them (with a message) otherwise
//	required   fail them when a tool is missing (make test and CI set this)
//	off, skip  skip them (make unit sets skip)
const EnvIntegration = "ITER8_INTEGRATION"

// ErrToolsMissing is wrapped by the errors of StartControlPlane and StartPrometheus when a
// binary they need is not installed or not built.
var ErrToolsMissing = errors.New("integration test tools missing")

// Need names a group of tools an integration test needs.
type Need int

const (
	// NeedControlPlane: the kit's scripts, kube-apiserver and kubectl in the cluster cache,
	// etcd, openssl and ss. Nothing when ITER8_KUBECONFIG names a running cluster.
	NeedControlPlane Need = iota + 1
	// NeedPrometheus: Debian's prometheus (or $ITER8_PROMETHEUS).
	NeedPrometheus
	// NeedKubeStateMetrics: kube-state-metrics built into the cluster cache, and promtool.
	NeedKubeStateMetrics
	// NeedChromium: Debian's chromium (or $ITER8_CHROMIUM), for the report's screenshot
	// test. Not among the needs of Integration without arguments.
	NeedChromium
)

const setupHint = "set up with `make tools` (hack/tools.sh installs the Debian packages etcd-server, prometheus, chromium, openssl, iproute2, procps and builds kube-apiserver, kubectl and kube-state-metrics into the cluster cache)"

// checkTools returns an error wrapping ErrToolsMissing that lists what is missing.
func checkTools(needs ...Need) error {
	if len(needs) == 0 {
		needs = []Need{NeedControlPlane, NeedPrometheus}
	}
	var missing []string
	for _, n := range needs {
		switch n {
		case NeedControlPlane:
			if os.Getenv(EnvKubeconfig) != "" {
				continue
			}
			if kit, err := KitDir(); err != nil {
				missing = append(missing, err.Error())
			} else if _, err := os.Stat(filepath.Join(kit, "up.sh")); err != nil {
				missing = append(missing, "test/local-cluster/up.sh")
			}
			cache, err := CacheDir()
			if err != nil {
				missing = append(missing, err.Error())
			} else {
				for _, b := range []string{"kube-apiserver", "kubectl"} {
					p := filepath.Join(cache, "bin", b)
					if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
						missing = append(missing, p)
					}
				}
			}
			for _, c := range []string{"etcd", "openssl", "ss"} {
				if _, err := exec.LookPath(c); err != nil {
					missing = append(missing, c)
				}
			}
		case NeedPrometheus:
			if _, err := prometheusBinary(); err != nil {
				missing = append(missing, err.Error())
			}
		case NeedKubeStateMetrics:
			if p, err := KubeStateMetricsBinary(); err != nil {
				missing = append(missing, p)
			}
			if _, err := exec.LookPath("promtool"); err != nil {
				missing = append(missing, "promtool")
			}
		case NeedChromium:
			if _, err := ChromiumBinary(); err != nil {
				missing = append(missing, err.Error())
			}
		default:
			return fmt.Errorf("checking tools: unknown need %d", n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; %s", ErrToolsMissing, strings.Join(missing, ", "), setupHint)
}

// Integration marks t as an integration test that needs the given tools (all of them when
// none are given). When a tool is missing it fails t if ITER8_INTEGRATION=required and
// skips it otherwise, saying what is missing and how to set up. ITER8_INTEGRATION=off and
// -short (unless required) skip it.
func Integration(t testing.TB, needs ...Need) {
	t.Helper()
	mode := os.Getenv(EnvIntegration)
	switch mode {
	case "", "required", "off", "skip":
	default:
		t.Fatalf("%s=%q: want required, off, skip or unset", EnvIntegration, mode)
	}
	if mode == "off" || mode == "skip" {
		t.Skipf("integration test skipped: %s=%s", EnvIntegration, mode)
	}
	if mode != "required" && testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	if err := checkTools(needs...); err != nil {
		if mode == "required" {
			t.Fatalf("%v (failing because %s=required)", err, EnvIntegration)
		}
		t.Skipf("integration test skipped: %v (with %s=required this fails)", err, EnvIntegration)
	}
}

// shared is the control plane of a test binary, started on first use.
var shared struct {
	mu      sync.Mutex
	main    bool // MainControlPlane runs
	started bool
	cp      *ControlPlane
	err     error
}

// MainControlPlane is a TestMain for packages whose tests use SharedControlPlane:
//
//	func TestMain(m *testing.M) { harness.MainControlPlane(m) }
//
// It runs the tests and then stops the shared control plane, if one was started. It
// calls os.Exit. SIGINT and SIGTERM stop the control plane as well.
func MainControlPlane(m *testing.M) { os.Exit(RunControlPlane(m)) }

// RunControlPlane is MainControlPlane without os.Exit, for a TestMain that does more: it
// returns the exit code. A failure to stop the control plane turns success into 1.
func RunControlPlane(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "harness: %v: stopping the control plane\n", s)
			if err := stopShared(); err != nil {
				fmt.Fprintln(os.Stderr, "harness:", err)
			}
			os.Exit(1)
		case <-done:
		}
	}()

	code := m.Run()
	signal.Stop(sig)
	close(done)
	if err := stopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func stopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cp == nil {
		return nil
	}
	return shared.cp.Stop()
}

// SharedControlPlane returns the control plane of this test binary, starting it on first
// use (about 4 s). It gates t like Integration(t, NeedControlPlane), and fails t when the
// control plane does not start. TestMain must call MainControlPlane (or RunControlPlane),
// which stops it after the tests. Tests share it: give each its own Namespace.
func SharedControlPlane(t testing.TB) *ControlPlane {
	t.Helper()
	Integration(t, NeedControlPlane)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		t.Fatal("harness.SharedControlPlane needs TestMain to call harness.MainControlPlane(m), which stops the control plane after the tests")
	}
	if !shared.started {
		shared.started = true
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		start := time.Now()
		shared.cp, shared.err = StartControlPlane(ctx)
		if shared.err == nil {
			t.Logf("shared control plane at %s ready in %v", shared.cp.config.Host, time.Since(start).Round(time.Millisecond))
		}
	}
	if shared.err != nil {
		t.Fatalf("starting the shared control plane: %v", shared.err)
	}
	return shared.cp
}
