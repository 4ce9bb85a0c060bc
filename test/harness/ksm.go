package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// KubeStateMetricsBinary returns the path of kube-state-metrics in the cluster cache
// (test/local-cluster/build.sh builds it with kube-apiserver, at the version
// test/local-cluster/go/k8s/go.mod requires), and an error when it is not there.
func KubeStateMetricsBinary() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "kube-state-metrics", err
	}
	p := filepath.Join(cache, "bin", "kube-state-metrics")
	if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
		return p, fmt.Errorf("%s: not built", p)
	}
	return p, nil
}

// KubeStateMetrics is a running kube-state-metrics.
type KubeStateMetrics struct {
	cmd  *exec.Cmd
	addr string
	logs string
}

// Addr is host:port of its /metrics.
func (k *KubeStateMetrics) Addr() string { return k.addr }

// Stop ends it.
func (k *KubeStateMetrics) Stop() {
	_ = k.cmd.Process.Kill()
	_ = k.cmd.Wait()
}

// StartKubeStateMetrics runs kube-state-metrics against the cluster of kubeconfig with
// only the custom resources of configFile (--custom-resource-state-only), on a free
// loopback port, and returns once /metrics answers.
func StartKubeStateMetrics(ctx context.Context, kubeconfig, configFile, logDir string) (*KubeStateMetrics, error) {
	bin, err := KubeStateMetricsBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrToolsMissing, err)
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	logs := filepath.Join(logDir, "kube-state-metrics.log")
	f, err := os.Create(logs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig,
		"--host", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--telemetry-host", "127.0.0.1", "--telemetry-port", strconv.Itoa(ports[1]),
		"--custom-resource-state-only", "--custom-resource-state-config-file", configFile)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting kube-state-metrics: %w", err)
	}
	k := &KubeStateMetrics{cmd: cmd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), logs: logs}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + k.addr + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return k, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			k.Stop()
			b, _ := os.ReadFile(logs)
			return nil, fmt.Errorf("kube-state-metrics did not serve /metrics within a minute: %v\n%s", err, tail(string(b), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
