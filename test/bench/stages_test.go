package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics"
	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// size is versions × metrics.
type size struct{ versions, metrics int }

func (s size) String() string { return fmt.Sprintf("%dx%d", s.versions, s.metrics) }

// sizes are the growth table: 1, 10, 50 versions × 3, 10, 50 metrics. 1x3 and
// 10x10 are the sizes of the targets.
var sizes = []size{{1, 3}, {1, 10}, {1, 50}, {10, 3}, {10, 10}, {10, 50}, {50, 3}, {50, 10}, {50, 50}}

// BenchmarkStages runs iteration k of an experiment as the pipeline does, iterate then
// assess, each a separate process of the stripped binary, and, in the same loop, the bare
// minimum of the same work: the iteration's resolved queries sent once each to Prometheus
// (concurrently, at most metrics.DefaultParallelism at a time, like the stage) and one
// UpdateStatus of the experiment, from this process with clients and connections already
// made. It reports the medians and the ratios stage/minimum; ns/op is one iterate + assess
// + minimum.
func BenchmarkStages(b *testing.B) {
	w := setup(b)
	for _, s := range sizes {
		b.Run(s.String(), func(b *testing.B) { benchStages(b, w, s, w.run, true) })
	}
}

// BenchmarkStagesInProcess is BenchmarkStages with iterate and assess called in this
// process (stagecmd.Run: flags, clients, the stage), for the sizes of the targets. Its
// difference to BenchmarkStages is the cost of a process; run with -cpuprofile, it shows
// where a stage's own time goes. It reports no RSS.
func BenchmarkStagesInProcess(b *testing.B) {
	w := setup(b)
	for _, s := range []size{{1, 3}, {10, 10}} {
		b.Run(s.String(), func(b *testing.B) { benchStages(b, w, s, w.runInProcess, false) })
	}
}

// runner runs a stage against experiment ns/name.
type runner func(ctx context.Context, stage, ns, name string, args ...string) (stageRun, error)

// rssIterations is how many iterations, after the timed ones, run under time(1) for the
// stages' peak resident set.
const rssIterations = 3

// benchStages times iterations of s with run; with rss, it then runs rssIterations more
// under time(1) for the peak RSS of iterate, assess and iterate --help.
func benchStages(b *testing.B, w *world, s size, run runner, rss bool) {
	ctx := context.Background()
	ns := harness.Namespace(b, w.kube)
	const name = "bench"
	for i := range s.metrics {
		mo := metricObject(i, w.prom.URL())
		if _, err := w.dyn.Resource(mo.GroupVersionKind().GroupVersion().WithResource("metrics")).Namespace(ns).Create(ctx, mo, metav1.CreateOptions{}); err != nil {
			b.Fatalf("creating metric %d: %v", i, err)
		}
	}
	eo := experimentObject(name, ns+"/sample-app", s.versions, s.metrics)
	if _, err := w.dyn.Resource(eo.GroupVersionKind().GroupVersion().WithResource("experiments")).Namespace(ns).Create(ctx, eo, metav1.CreateOptions{}); err != nil {
		b.Fatalf("creating the experiment: %v", err)
	}
	if _, err := w.run(ctx, "init-experiment", ns, name); err != nil {
		b.Fatal(err)
	}
	w.backdate(b, ns, name)

	m := newMinimum(w)
	var iter, assess, minimum, startup []time.Duration
	var statusBytes int
	k := 0
	for b.Loop() {
		k++
		if k > iterationsPerLoop-rssIterations {
			b.Fatalf("more than %d iterations: raise iterationsPerLoop", iterationsPerLoop-rssIterations)
		}
		r, err := run(ctx, "iterate", ns, name, "--iteration", fmt.Sprint(k), "--interval-seconds", "1")
		if err != nil {
			b.Fatal(err)
		}
		iter = append(iter, r.wall)
		if r, err = run(ctx, "assess", ns, name, "--iteration", fmt.Sprint(k), "--interval-seconds", "1"); err != nil {
			b.Fatal(err)
		}
		assess = append(assess, r.wall)

		// The floor of any stage process: start, package initialization and flag
		// parsing, no client and no request.
		if r, err = w.exec(ctx, false, "iterate", "--help"); err != nil {
			b.Fatal(err)
		}
		startup = append(startup, r.wall)

		u, qs := w.iterationQueries(b, ns, name, s, k)
		if j, err := u.MarshalJSON(); err == nil {
			// Every stage reads and writes the whole object: its size is part of the cost.
			statusBytes = len(j)
		}
		d, err := m.run(ctx, qs, u, k)
		if err != nil {
			b.Fatal(err)
		}
		minimum = append(minimum, d)
	}
	// b.Loop has stopped the timer: the runs for the RSS are not in ns/op.
	var iterRSS, assessRSS, startupRSS int64
	if rss {
		exp := []string{"--kubeconfig", w.cp.Kubeconfig(), "--namespace", ns, "--experiment", name}
		for i := 1; i <= rssIterations; i++ {
			iteration := []string{"--iteration", fmt.Sprint(k + i), "--interval-seconds", "1"}
			for _, p := range []struct {
				peak  *int64
				stage string
				args  []string
			}{
				{&iterRSS, "iterate", slices.Concat(exp, iteration)},
				{&assessRSS, "assess", slices.Concat(exp, iteration)},
				{&startupRSS, "iterate", []string{"--help"}},
			} {
				r, err := w.exec(ctx, true, p.stage, p.args...)
				if err != nil {
					b.Fatal(err)
				}
				*p.peak = max(*p.peak, r.maxRSS)
			}
		}
	}
	mi, ma, mm, ms0 := median(iter), median(assess), median(minimum), median(startup)
	b.ReportMetric(ms(ms0), "startup-ms")
	b.ReportMetric(ms(mm), "minimum-ms")
	b.ReportMetric(ms(mi), "iterate-ms")
	b.ReportMetric(ms(ma), "assess-ms")
	b.ReportMetric(float64(mi)/float64(mm), "iterate-x-minimum")
	b.ReportMetric(float64(ma)/float64(mm), "assess-x-minimum")
	if rss {
		b.ReportMetric(float64(iterRSS)/1024, "iterate-MiB")
		b.ReportMetric(float64(assessRSS)/1024, "assess-MiB")
		b.ReportMetric(float64(startupRSS)/1024, "startup-MiB")
	}
	b.ReportMetric(float64(statusBytes)/1024, "object-KiB")
	rssOf := func(kib int64) string {
		if !rss {
			return ""
		}
		return fmt.Sprintf(", %.1f MiB peak RSS", float64(kib)/1024)
	}
	b.Logf("%s, %d queries, %d iterations: iterate %.0f ms (%.2fx minimum%s), assess %.0f ms (%.2fx%s), minimum %.0f ms, start-up (iterate --help) %.0f ms%s, experiment object %d KiB",
		s, s.versions*s.metrics, len(iter), ms(mi), float64(mi)/float64(mm), rssOf(iterRSS),
		ms(ma), float64(ma)/float64(mm), rssOf(assessRSS), ms(mm), ms(ms0), rssOf(startupRSS), statusBytes/1024)
}

// stageRun is one stage process: its wall time and, when measured, its peak resident set
// (KiB).
type stageRun struct {
	wall   time.Duration
	maxRSS int64
}

// gnuTime is Debian's time(1). The peak RSS comes from it rather than from this process's
// rusage of the child: Go starts children with vfork (CLONE_VM), and Linux folds the
// high-water RSS of the address space an exec leaves, here the benchmark process's own,
// into the child's ru_maxrss, so a 20 MB stage would read as this process's 60 MB. time(1)
// forks a small process of its own, so its %M is the stage's own peak (a floor of ~2 MB).
// Its own start and exit (about a millisecond) are not the stage's: timed runs go without
// it, and the RSS comes from runs of their own.
const gnuTime = "/usr/bin/time"

// run runs a stage binary against the experiment and fails when it fails, or when
// iterate waited for its slot (the benchmark would measure the sleep).
func (w *world) run(ctx context.Context, stage, ns, name string, args ...string) (stageRun, error) {
	return w.exec(ctx, false, stage, append([]string{"--kubeconfig", w.cp.Kubeconfig(), "--namespace", ns, "--experiment", name}, args...)...)
}

// exec runs a stage binary; with rss under time(1), for its peak RSS.
func (w *world) exec(ctx context.Context, rss bool, stage string, args ...string) (stageRun, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	rssFile := filepath.Join(w.bin, "maxrss")
	cmd := exec.CommandContext(ctx, filepath.Join(w.bin, stage), args...)
	if rss {
		cmd = exec.CommandContext(ctx, gnuTime, append([]string{"-f", "%M", "-o", rssFile, filepath.Join(w.bin, stage)}, args...)...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return stageRun{}, fmt.Errorf("%s %s: %w\n%s", stage, strings.Join(args, " "), err, out.String())
	}
	if strings.Contains(out.String(), "waiting") {
		return stageRun{}, fmt.Errorf("%s %s waited for its slot:\n%s", stage, strings.Join(args, " "), out.String())
	}
	if !rss {
		return stageRun{wall: wall}, nil
	}
	b, err := os.ReadFile(rssFile)
	if err != nil {
		return stageRun{}, fmt.Errorf("reading the peak RSS of %s: %w", stage, err)
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return stageRun{}, fmt.Errorf("reading the peak RSS of %s: %w", stage, err)
	}
	return stageRun{wall: wall, maxRSS: kib}, nil
}

// runInProcess is run with stagecmd.Run in this process; it measures no RSS.
func (w *world) runInProcess(ctx context.Context, stage, ns, name string, args ...string) (stageRun, error) {
	all := append([]string{"--kubeconfig", w.cp.Kubeconfig(), "--namespace", ns, "--experiment", name}, args...)
	var out bytes.Buffer
	start := time.Now()
	err := stagecmd.Run(ctx, stage, all, &out, &out)
	wall := time.Since(start)
	if err != nil {
		return stageRun{}, fmt.Errorf("%s %s: %w\n%s", stage, strings.Join(args, " "), err, out.String())
	}
	if strings.Contains(out.String(), "waiting") {
		return stageRun{}, fmt.Errorf("%s %s waited for its slot:\n%s", stage, strings.Join(args, " "), out.String())
	}
	return stageRun{wall: wall}, nil
}

// backdate moves the experiment's start an hour back, so that the slot of every
// iteration the benchmark runs (start + k × 1 s) has passed and iterate never sleeps.
func (w *world) backdate(b *testing.B, ns, name string) {
	b.Helper()
	ctx := context.Background()
	r := w.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns)
	u, err := r.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, ok, _ := unstructured.NestedString(u.Object, "status", "startTime"); !ok {
		b.Fatalf("init-experiment did not start the experiment: status %v", u.Object["status"])
	}
	start := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if err := unstructured.SetNestedField(u.Object, start, "status", "startTime"); err != nil {
		b.Fatal(err)
	}
	if _, err := r.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		b.Fatalf("backdating the experiment: %v", err)
	}
}

// iterationQueries reads the experiment after iteration k and returns it with the
// queries iterate sent, checking that every metric of every version was measured and
// assessed.
func (w *world) iterationQueries(b *testing.B, ns, name string, s size, k int) (*unstructured.Unstructured, []string) {
	b.Helper()
	u, err := w.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	exp, err := harness.ExperimentFrom(u)
	if err != nil {
		b.Fatal(err)
	}
	if got := exp.Status.GetCompletedIterations(); got != int32(k) {
		b.Fatalf("%d iterations completed, want %d", got, k)
	}
	a := exp.Status.Analysis
	if a == nil || a.AggregatedMetrics == nil || a.VersionAssessments == nil {
		b.Fatalf("iteration %d left no aggregated metrics or assessments", k)
	}
	var qs []string
	for ref, md := range a.AggregatedMetrics.Data {
		for v, vd := range md.Data {
			if vd.State == v2alpha1.MetricStateError {
				b.Fatalf("%s of %s: error %s (query %s)", ref, v, vd.Reason, vd.Query)
			}
			qs = append(qs, vd.Query)
		}
	}
	if len(qs) != s.versions*s.metrics {
		b.Fatalf("iteration %d measured %d values, want %d", k, len(qs), s.versions*s.metrics)
	}
	return u, qs
}

// minimum is the bare minimum of one iteration, with warm clients.
type minimum struct {
	w    *world
	http *http.Client
}

func newMinimum(w *world) *minimum {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = metrics.DefaultParallelism
	return &minimum{w: w, http: &http.Client{Transport: t}}
}

// run sends each query once, at most metrics.DefaultParallelism at a time, reading each
// answer whole, then writes the experiment's status once (a changed lastUpdateTime, so
// the apiserver really writes). It returns the time taken.
func (m *minimum) run(ctx context.Context, qs []string, u *unstructured.Unstructured, k int) (time.Duration, error) {
	u = u.DeepCopy()
	stamp := time.Now().Add(time.Duration(k) * time.Hour).UTC().Format(time.RFC3339)
	if err := unstructured.SetNestedField(u.Object, stamp, "status", "lastUpdateTime"); err != nil {
		return 0, err
	}
	start := time.Now()
	sem := make(chan struct{}, metrics.DefaultParallelism)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for _, q := range qs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			err := m.query(ctx, q)
			mu.Lock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	if _, err := m.w.dyn.Resource(v2alpha1.ExperimentResource).Namespace(u.GetNamespace()).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		return 0, fmt.Errorf("writing the status: %w", err)
	}
	return time.Since(start), nil
}

func (m *minimum) query(ctx context.Context, q string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.w.prom.URL()+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return err
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return fmt.Errorf("querying %s: %w", q, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("reading the answer to %s: %w", q, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("querying %s: %s", q, resp.Status)
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
