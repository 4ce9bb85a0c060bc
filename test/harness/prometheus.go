package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// EnvPrometheus names the prometheus binary; default /usr/bin/prometheus (Debian's
// package), else prometheus on PATH.
const EnvPrometheus = "ITER8_PROMETHEUS"

// PrometheusJob is the job label of the targets StartPrometheus scrapes.
const PrometheusJob = "iter8-test"

// Prometheus is a Prometheus server on 127.0.0.1 with its own temporary TSDB, scraping a
// fixed set of targets every second.
type Prometheus struct {
	url    string
	dir    string
	config string // path of prometheus.yml
	cmd    *exec.Cmd
	api    promv1.API
	done   chan struct{} // closed when the process has exited
	err    error         // the Wait result, set before done is closed

	stopOnce sync.Once
	stopErr  error
}

func prometheusBinary() (string, error) {
	if p := os.Getenv(EnvPrometheus); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("prometheus (%s=%s): %w", EnvPrometheus, p, err)
		}
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/prometheus"); err == nil {
		return "/usr/bin/prometheus", nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", errors.New("prometheus (Debian package prometheus)")
	}
	return p, nil
}

// StartPrometheus starts Prometheus on a free port of 127.0.0.1 with a temporary storage
// directory, scraping the targets (host:port, path /metrics) every second as job
// PrometheusJob. It returns when Prometheus is ready and has scraped every target
// successfully. Stop it with Stop. Without a deadline in ctx it waits at most a minute.
//
// Start-up takes about 5 s with targets: Prometheus 2.42 (Debian 12) applies scrape
// targets on a fixed 5 s tick. Tests that need several exporters can share one Prometheus
// and change its targets with SetTargets (which costs the same tick).
//
// When the binary is missing the error wraps ErrToolsMissing.
func StartPrometheus(ctx context.Context, targets []string) (*Prometheus, error) {
	if err := checkTools(NeedPrometheus); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		p, retry, err := startPrometheus(ctx, targets)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// startPrometheus makes one attempt; retry reports whether the port was taken.
func startPrometheus(ctx context.Context, targets []string) (p *Prometheus, retry bool, err error) {
	bin, err := prometheusBinary()
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrToolsMissing, err)
	}
	dir, err := os.MkdirTemp("", "iter8-prometheus-")
	if err != nil {
		return nil, false, fmt.Errorf("starting prometheus: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(scrapeConfig(targets)), 0o644); err != nil {
		return nil, false, fmt.Errorf("starting prometheus: writing its config: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, false, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, false, fmt.Errorf("starting prometheus: %w", err)
	}
	defer func() { _ = logFile.Close() }() // the child has its own copy

	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.enable-lifecycle",
		"--log.level=warn",
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Prometheus dies with the test binary, even when that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("starting prometheus %s: %w", bin, err)
	}
	url := "http://" + addr
	client, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, false, fmt.Errorf("creating a prometheus client for %s: %w", url, err)
	}
	p = &Prometheus{url: url, dir: dir, config: config, cmd: cmd, api: promv1.NewAPI(client), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	logTail := func() string {
		data, _ := os.ReadFile(logPath)
		return tail(string(data), 15)
	}
	if err := p.waitReady(ctx); err != nil {
		_ = p.kill()
		l := logTail()
		return nil, strings.Contains(l, "address already in use"), fmt.Errorf("starting prometheus on %s: %w\n%s", addr, err, l)
	}
	if err := p.waitTargetSet(ctx, targets); err != nil {
		_ = p.kill()
		return nil, false, fmt.Errorf("starting prometheus on %s: %w\n%s", addr, err, logTail())
	}
	return p, false, nil
}

// SetTargets replaces the scrape targets (config reload through /-/reload) and waits
// until every new target is up. Without a deadline in ctx it waits at most a minute.
func (p *Prometheus) SetTargets(ctx context.Context, targets []string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	if err := os.WriteFile(p.config, []byte(scrapeConfig(targets)), 0o644); err != nil {
		return fmt.Errorf("setting prometheus targets: writing its config: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/-/reload", nil)
	if err != nil {
		return fmt.Errorf("setting prometheus targets: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("setting prometheus targets: reloading the config: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("setting prometheus targets: reloading the config: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := p.waitTargetSet(ctx, targets); err != nil {
		return fmt.Errorf("setting prometheus targets: %w", err)
	}
	return nil
}

// scrapeConfig returns a configuration that scrapes targets every second.
func scrapeConfig(targets []string) string {
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n")
	b.WriteString("scrape_configs:\n- job_name: " + PrometheusJob + "\n  static_configs:\n  - targets: [")
	for i, t := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(t))
	}
	b.WriteString("]\n")
	return b.String()
}

// waitReady polls /-/ready until it answers 200.
func (p *Prometheus) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/-/ready", nil)
		if err != nil {
			return fmt.Errorf("waiting until ready: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := p.pause(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("waiting until ready: %w", err)
		}
	}
}

// waitTargetSet polls the targets API until the active targets are exactly targets and
// all of them are up.
func (p *Prometheus) waitTargetSet(ctx context.Context, targets []string) error {
	want := make(map[string]bool, len(targets))
	for _, t := range targets {
		want[t] = true
	}
	state := "no answer"
	for {
		res, err := p.api.Targets(ctx)
		if err == nil {
			up, desc := 0, make([]string, 0, len(res.Active))
			for _, t := range res.Active {
				if t.Health == promv1.HealthGood && want[string(t.Labels[model.InstanceLabel])] {
					up++
				}
				desc = append(desc, fmt.Sprintf("%s %s %s", t.ScrapeURL, t.Health, t.LastError))
			}
			if up == len(want) && len(res.Active) == len(want) {
				return nil
			}
			state = strings.Join(desc, "; ")
			if len(desc) == 0 {
				state = "none active yet"
			}
		}
		if err := p.pause(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for scrape targets %s to be up: %w (targets: %s)", strings.Join(targets, ", "), err, state)
		}
	}
}

// pause waits d, and fails early when ctx ends or Prometheus has exited.
func (p *Prometheus) pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return fmt.Errorf("prometheus exited: %v", p.err)
	case <-time.After(d):
		return nil
	}
}

// URL returns the base URL, http://127.0.0.1:PORT.
func (p *Prometheus) URL() string { return p.url }

// API returns a client of the Prometheus HTTP API.
func (p *Prometheus) API() promv1.API { return p.api }

// WaitForSamples runs the instant query until it returns a non-empty vector and returns
// that vector. Without a deadline in ctx it waits at most 30 s.
func (p *Prometheus) WaitForSamples(ctx context.Context, query string) (model.Vector, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	last := "no answer yet"
	for {
		v, _, _, err := p.api.Query(ctx, query, time.Now())
		switch {
		case err != nil:
			last = err.Error()
		case v.Type() != model.ValVector:
			return nil, fmt.Errorf("query %q: got a %s, want a vector", query, v.Type())
		case len(v.(model.Vector)) > 0:
			return v.(model.Vector), nil
		default:
			last = "empty vector"
		}
		if err := p.pause(ctx, 250*time.Millisecond); err != nil {
			return nil, fmt.Errorf("waiting for samples of %q: %w (last result: %s)", query, err, last)
		}
	}
}

// CPUTime returns the processor time (user + system) the Prometheus process has used so
// far, from /proc, in clock ticks of 10 ms: a benchmark divides a difference over many
// iterations by their number. It is how a benchmark tells Prometheus's share of a query's
// cost from the client's.
func (p *Prometheus) CPUTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("reading Prometheus's CPU time: %w", err)
	}
	// The command, field 2, is in parentheses and may hold spaces: count from its end.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("reading Prometheus's CPU time: short /proc stat %q", s)
	}
	var ticks int64
	for _, f := range fields[11:13] { // utime and stime, fields 14 and 15
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading Prometheus's CPU time: %w", err)
		}
		ticks += n
	}
	// Linux reports in USER_HZ, 100 on every architecture Go supports here.
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// Stop stops Prometheus and deletes its directory. Safe to call twice.
func (p *Prometheus) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.kill() })
	return p.stopErr
}

// kill stops the process (SIGTERM, SIGKILL after 10 s) and removes the directory.
func (p *Prometheus) kill() error {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("stopping prometheus: removing %s: %w", p.dir, err)
	}
	return nil
}
