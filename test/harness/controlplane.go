package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Environment variables read by the harness.
const (
	// EnvKubeconfig names a kubeconfig of a running cluster that StartControlPlane uses
	// instead of starting one.
	EnvKubeconfig = "ITER8_KUBECONFIG"
	// EnvClusterCache is the work directory of test/local-cluster (binaries, state).
	EnvClusterCache = "ITER8_CLUSTER_CACHE"
)

// ControlPlane is a running etcd and kube-apiserver started from test/local-cluster, or a
// cluster named by ITER8_KUBECONFIG.
type ControlPlane struct {
	config     *rest.Config
	kubeconfig string
	kit        string // test/local-cluster
	dir        string // the work directory of this instance; "" for a reused cluster

	stopOnce sync.Once
	stopErr  error

	crdMu        sync.Mutex
	crdInstalled map[string]bool // files installed by InstallCRDs
}

// CacheDir returns the work directory of test/local-cluster: $ITER8_CLUSTER_CACHE, or
// $HOME/.cache/iter8-tekton/cluster (the same default as test/local-cluster/env.sh).
// The harness takes kube-apiserver and kubectl from its bin/ and runs every control plane
// in a directory of its own below cp/.
func CacheDir() (string, error) {
	if d := os.Getenv(EnvClusterCache); d != "" {
		return filepath.Abs(d)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the cluster cache directory (set %s): %w", EnvClusterCache, err)
	}
	return filepath.Join(home, ".cache", "iter8-tekton", "cluster"), nil
}

// StartControlPlane starts etcd and kube-apiserver on 127.0.0.1 with
// `test/local-cluster/up.sh --control-plane`, in a work directory of its own and on free
// ports, so test binaries of several packages can each run one at the same time. It
// returns when the apiserver is ready (/readyz). Stop it with Stop.
//
// With ITER8_KUBECONFIG set, it starts nothing and returns that cluster; Stop then does
// nothing.
//
// When a tool is missing the error wraps ErrToolsMissing.
func StartControlPlane(ctx context.Context) (*ControlPlane, error) {
	if kc := os.Getenv(EnvKubeconfig); kc != "" {
		return reuseCluster(ctx, kc)
	}
	if err := checkTools(NeedControlPlane); err != nil {
		return nil, err
	}
	kit, err := KitDir()
	if err != nil {
		return nil, err
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(cache, " \t\n") {
		return nil, fmt.Errorf("cluster cache directory %q contains white space, which test/local-cluster does not support; set %s", cache, EnvClusterCache)
	}
	instances := filepath.Join(cache, "cp")
	if err := os.MkdirAll(instances, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", instances, err)
	}
	cleanStaleInstances(ctx, kit, instances)

	// A port picked here may be taken by someone else before the apiserver binds it;
	// up.sh then refuses to start and the next attempt picks other ports.
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		cp, retry, err := startInstance(ctx, kit, cache, instances)
		if err == nil {
			return cp, nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// startInstance makes one attempt; retry reports whether a port conflict made it fail.
func startInstance(ctx context.Context, kit, cache, instances string) (cp *ControlPlane, retry bool, err error) {
	dir, err := os.MkdirTemp(instances, "cp-")
	if err != nil {
		return nil, false, fmt.Errorf("creating a control-plane directory: %w", err)
	}
	if err := writeOwner(dir); err != nil {
		_ = os.RemoveAll(dir)
		return nil, false, err
	}
	if err := os.Symlink(filepath.Join(cache, "bin"), filepath.Join(dir, "bin")); err != nil {
		_ = os.RemoveAll(dir)
		return nil, false, fmt.Errorf("linking the binaries into %s: %w", dir, err)
	}
	// Certificates and keys of an earlier instance: generating them takes 0.5-3 s.
	reusePKI(filepath.Join(cache, "cp-pki"), filepath.Join(dir, "pki"))
	ports, err := freePorts(3)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, false, err
	}
	env := append(os.Environ(),
		"CL="+dir,
		"LC_API_PORT="+strconv.Itoa(ports[0]),
		"LC_ETCD_PORT="+strconv.Itoa(ports[1]),
		"LC_ETCD_PEER_PORT="+strconv.Itoa(ports[2]),
	)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(kit, "up.sh"), "--control-plane")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		err = fmt.Errorf("starting the control plane (test/local-cluster/up.sh --control-plane): %w\n%s%s",
			err, tail(stderr.String(), 20), logTails(filepath.Join(dir, "logs"), "etcd", "kube-apiserver"))
		retry := strings.Contains(stderr.String(), "is in use")
		if os.Getenv("LC_KEEP_ON_FAILURE") == "1" {
			return nil, false, fmt.Errorf("%w\nLC_KEEP_ON_FAILURE=1: left running in %s; stop with CL=%s %s/down.sh --purge", err, dir, dir, kit)
		}
		// up.sh stops what it started when a step fails; down.sh --purge also covers an
		// up.sh that was cancelled, and removes the directory.
		_ = runDown(dir, kit)
		_ = os.RemoveAll(dir)
		return nil, retry, err
	}
	cp = &ControlPlane{kubeconfig: strings.TrimSpace(stdout.String()), kit: kit, dir: dir}
	cfg, err := loadConfig(cp.kubeconfig)
	if err != nil {
		_ = cp.Stop()
		return nil, false, err
	}
	cp.config = cfg
	savePKI(filepath.Join(dir, "pki"), filepath.Join(cache, "cp-pki"))
	return cp, false, nil
}

// reusePKI copies the files of the saved PKI into dir (up.sh's ensure_pki creates only
// what is missing, and renews the apiserver certificate when its addresses differ).
// Without a saved PKI it does nothing.
func reusePKI(saved, dir string) {
	entries, err := os.ReadDir(saved)
	if err != nil {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(saved, e.Name()))
		if err != nil {
			_ = os.RemoveAll(dir) // a partial copy would mix two PKIs
			return
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600); err != nil {
			_ = os.RemoveAll(dir)
			return
		}
	}
}

// savePKI keeps the PKI of a started instance for the next ones, unless one is saved
// already. The rename makes it appear complete or not at all.
func savePKI(dir, saved string) {
	if _, err := os.Stat(saved); err == nil {
		return
	}
	tmp, err := os.MkdirTemp(filepath.Dir(saved), ".cp-pki-")
	if err != nil {
		return
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || os.WriteFile(filepath.Join(tmp, e.Name()), data, 0o600) != nil {
			return
		}
	}
	_ = os.Rename(tmp, saved) // fails harmlessly when another process saved one first
}

func reuseCluster(ctx context.Context, kubeconfig string) (*ControlPlane, error) {
	cfg, err := loadConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("using the cluster of %s=%s: %w", EnvKubeconfig, kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating a client for %s: %w", kubeconfig, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx); err != nil {
		return nil, fmt.Errorf("checking /readyz of the cluster of %s=%s: %w", EnvKubeconfig, kubeconfig, err)
	}
	return &ControlPlane{config: cfg, kubeconfig: kubeconfig}, nil
}

func loadConfig(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	// Tests create many objects quickly; client-side throttling only slows them down.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, nil
}

// Config returns a copy of the admin client configuration (group system:masters).
func (c *ControlPlane) Config() *rest.Config { return rest.CopyConfig(c.config) }

// Kubeconfig returns the path of the admin kubeconfig (for kubectl or a child process).
func (c *ControlPlane) Kubeconfig() string { return c.kubeconfig }

// LogsDir returns the directory with the etcd and kube-apiserver logs, or "" for a reused
// cluster. It is deleted by Stop.
func (c *ControlPlane) LogsDir() string {
	if c.dir == "" {
		return ""
	}
	return filepath.Join(c.dir, "logs")
}

// InstallCRDs installs the CRDs of the files (see the function InstallCRDs) that this
// ControlPlane has not installed yet, so tests sharing a control plane can each ask for
// what they need without paying for it twice.
func (c *ControlPlane) InstallCRDs(ctx context.Context, files ...string) error {
	c.crdMu.Lock()
	defer c.crdMu.Unlock()
	var todo []string
	for _, f := range files {
		if !c.crdInstalled[f] {
			todo = append(todo, f)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if err := InstallCRDs(ctx, c.config, todo...); err != nil {
		return err
	}
	if c.crdInstalled == nil {
		c.crdInstalled = map[string]bool{}
	}
	for _, f := range todo {
		c.crdInstalled[f] = true
	}
	return nil
}

// Stop stops etcd and kube-apiserver (test/local-cluster/down.sh) and deletes the work
// directory of this instance. It does nothing for a reused cluster. Safe to call twice.
func (c *ControlPlane) Stop() error {
	c.stopOnce.Do(func() {
		if c.dir == "" {
			return
		}
		c.stopErr = runDown(c.dir, c.kit)
	})
	return c.stopErr
}

// runDown runs down.sh --purge for the instance in dir.
func runDown(dir, kit string) error {
	// up.sh writes the kit's marker before it starts anything; without it nothing runs
	// and down.sh --purge would refuse to delete the directory.
	if _, err := os.Stat(filepath.Join(dir, ".local-cluster")); errors.Is(err, fs.ErrNotExist) {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing %s: %w", dir, err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(kit, "down.sh"), "--purge")
	cmd.Env = append(os.Environ(), "CL="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("stopping the control plane in %s (test/local-cluster/down.sh): %w\n%s", dir, err, tail(string(out), 20))
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("stopping the control plane: %s still exists after down.sh --purge:\n%s", dir, tail(string(out), 20))
	}
	return nil
}

// --- instances left behind ----------------------------------------------------------------

// writeOwner records this process (pid and start time) as the owner of dir.
func writeOwner(dir string) error {
	start, err := processStartTime(os.Getpid())
	if err != nil {
		return err
	}
	owner := fmt.Sprintf("%d %s\n", os.Getpid(), start)
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(owner), 0o644); err != nil {
		return fmt.Errorf("writing the owner of %s: %w", dir, err)
	}
	return nil
}

// processStartTime returns field 22 of /proc/PID/stat (start time in clock ticks since
// boot), which tells a process from a later one with the same pid.
func processStartTime(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", fmt.Errorf("reading the start time of process %d: %w", pid, err)
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("parsing /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 20 {
		return "", fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return f[19], nil
}

// ownerAlive reports whether the process recorded in dir/owner still runs.
func ownerAlive(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "owner"))
	if err != nil {
		// Being created right now, or broken: give a starting process a minute.
		fi, serr := os.Stat(dir)
		return serr == nil && time.Since(fi.ModTime()) < time.Minute
	}
	var pid int
	var start string
	if _, err := fmt.Sscan(string(data), &pid, &start); err != nil {
		return false
	}
	now, err := processStartTime(pid)
	return err == nil && now == start
}

// cleanStaleInstances stops the control planes whose test process has died without
// stopping them (killed, or a test timeout), and deletes their directories.
func cleanStaleInstances(ctx context.Context, kit, instances string) {
	entries, err := os.ReadDir(instances)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(instances, e.Name())
		if !e.IsDir() || ownerAlive(dir) || ctx.Err() != nil {
			continue
		}
		if err := runDown(dir, kit); err != nil {
			fmt.Fprintf(os.Stderr, "harness: cleaning up a control plane left behind: %v\n", err)
			continue
		}
		fmt.Fprintf(os.Stderr, "harness: stopped a control plane left behind in %s\n", dir)
	}
}

// --- helpers --------------------------------------------------------------------------------

// kitPorts are the fixed ports of test/local-cluster/env.sh (the full mode uses them);
// freePorts never hands them out, so a control plane never blocks a full cluster.
var kitPorts = map[int]bool{36443: true, 32379: true, 32380: true, 10248: true, 10249: true, 10250: true, 10256: true, 10257: true, 10259: true}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
		}
		ls = append(ls, l) // held until all are found, so they differ
		if port := l.Addr().(*net.TCPAddr).Port; !kitPorts[port] {
			ports = append(ports, port)
		}
	}
	return ports, nil
}

// logTails returns the last lines of dir/NAME.log for each name that has a log.
func logTails(dir string, names ...string) string {
	var b strings.Builder
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n+".log"))
		if err != nil || len(data) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n--- %s.log (last lines) ---\n%s", n, tail(string(data), 10))
	}
	return b.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
