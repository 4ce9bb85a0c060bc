//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/sampleapp"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// The batch of BenchmarkConcurrentExperiments: how many experiments run at once, and each
// one's shape (the seed's interval, a few iterations).
var concurrencyLevels = []int{1, 5, 10, 20, 40}

const (
	concInterval   = 10 * time.Second
	concIterations = 5
	// An iterate step that starts more than this after its slot (startTime + k × interval)
	// measured late: Kubernetes keeps both times to the second.
	concLate = time.Second
)

// BenchmarkConcurrentExperiments runs N experiments at once on the node's real Tekton, for
// N in concurrencyLevels, and reports what a batch cost: the per-iteration overhead of
// the PipelineRuns (median and 95th percentile over the experiments), the iterations
// whose iterate step started after its slot, TaskRun pods per second, the processor time
// of the Tekton controller, kube-apiserver, etcd, the kubelet and containerd over the
// batch, and the node's memory. It is a benchmark, not a timed test: nothing fails on a
// figure. docs/benchmarks.md ("Concurrent experiments") records a run and docs/scale.md
// extrapolates from it.
//
//	make bench-e2e   # go test -tags e2e -run '^$' -bench BenchmarkConcurrentExperiments -benchtime 1x -timeout 120m ./test/e2e/
//
// Half the experiments (even i) are seed-like Conformance tests of one version (no traffic
// object), half Progressive Canaries that shift the weights of an Istio VirtualService of
// their own. Each runs in a namespace of its own (installIn: the ServiceAccount, RBAC and
// Tasks), with intervalSeconds 10 and 5 iterations, against sample-app versions of its
// own. The versions are pkg/sampleapp servers in the benchmark process on 127.0.0.1
// (the node's kubelet admits 110 pods: 40 experiments' versions as pods would leave no
// room for their TaskRuns), called every 250 ms and scraped every second by one
// Prometheus on the host, which pods reach through a proxy on the bridge. Only the
// stages run in pods, as in the other e2e tests: inline PipelineRuns of `iter8ctl
// pipelinerun --image localhost/iter8-tekton/stages:e2e --image-pull-policy Never`,
// created at once.
//
// ITER8_E2E_CONCURRENCY=2,3 runs those levels instead of concurrencyLevels.
// ITER8_E2E_TEKTON_QPS=Q sets the Tekton controller's kube-api-qps and kube-api-burst to Q
// (KUBE_API_QPS, KUBE_API_BURST; Tekton doubles both) before the first batch. By default
// the controller keeps Tekton's own limits: 20 requests/s, burst 20 (v1.6.0
// cmd/controller/main.go).
func BenchmarkConcurrentExperiments(b *testing.B) {
	if q := os.Getenv("ITER8_E2E_TEKTON_QPS"); q != "" {
		setTektonQPS(b, q)
	}
	levels := concurrencyLevels
	if v := os.Getenv("ITER8_E2E_CONCURRENCY"); v != "" {
		levels = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("ITER8_E2E_CONCURRENCY=%q: want numbers of experiments separated by commas", v)
			}
			levels = append(levels, n)
		}
	}
	var results []*concResult
	for _, n := range levels {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			b.StopTimer()
			var rs []*concResult
			for round := 0; round < b.N; round++ {
				rs = append(rs, runConcurrentBatch(b, n, round))
			}
			r := mergeConcResults(rs)
			r.report(b, len(rs))
			results = append(results, r)
		})
	}
	if len(results) > 0 {
		b.Logf("concurrent experiments on the node (%d iterations of %s each):\n%s", concIterations, concInterval, concTable(results))
	}
}

// setTektonQPS gives the Tekton controller's API client q requests/s and a burst of q
// (doubled by Tekton) and waits for the new controller.
func setTektonQPS(b *testing.B, q string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"-n", "tekton-pipelines", "set", "env", "deployment/tekton-pipelines-controller", "KUBE_API_QPS=" + q, "KUBE_API_BURST=" + q},
		{"-n", "tekton-pipelines", "rollout", "status", "deployment/tekton-pipelines-controller", "--timeout=180s"},
	} {
		if _, err := kubectl(ctx, nil, args...); err != nil {
			b.Fatal(err)
		}
	}
	logf("the Tekton controller's client: KUBE_API_QPS=%s, KUBE_API_BURST=%s (Tekton doubles both)", q, q)
	time.Sleep(10 * time.Second) // the old pod's exit, the new one's leader election
}

// concResult is what one or more batches of n experiments measured.
type concResult struct {
	n, experiments, failed int
	wall                   time.Duration // first PipelineRun created → the batch seen done
	overheads              []float64     // per experiment, s per iteration
	startLags              []float64     // per experiment: PipelineRun created → started, s
	slack                  []float64     // per iteration: slot − iterate's step start, s
	missed, slots          int
	pods                   int
	// Per TaskRun, s: created → step started (the pod's start), step finished → TaskRun
	// completed (the pod's exit seen), previous TaskRun completed → this one created
	// (Tekton's PipelineRun reconcile).
	podStart, tail, handoff []float64
	cpu                     map[string]time.Duration // processor time over the wall, by component
	memBase, memPeak        int64                    // node: MemTotal − MemAvailable
	rssBase, rssPeak        int64                    // the cluster's processes (below)
	api                     apiCounts                // during the batch, background subtracted
	etcdPutBytes, etcdPuts  float64                  // during the batch, background subtracted
	etcdDBBefore, etcdDB    float64                  // etcd's database size before and after
	promQueries             float64                  // HTTP requests to /api/v1/query
	tektonRequests          float64                  // the Tekton controller's API requests, background subtracted
	live                    map[string][2]int64      // what a batch left in its namespaces: objects, bytes of JSON
	sloPodStart             histDelta                // kubelet_pod_start_sli_duration_seconds
	mutating                histDelta                // apiserver_request_duration_seconds, writes
	fsync                   histDelta                // etcd_disk_wal_fsync_duration_seconds
	extra                   []string                 // other figures, logged
	load                    [2]string                // /proc/loadavg at the start and the end
}

type apiCounts struct {
	writes, reads float64
	byResource    map[string]float64 // by verb and resource
}

func (r *concResult) cores(component string) float64 {
	if r.wall <= 0 {
		return 0
	}
	return r.cpu[component].Seconds() / r.wall.Seconds()
}

// nodeCores is what the kubelet, containerd, the shims and runc used: the node's share of
// starting and stopping pods.
func (r *concResult) nodeCores() float64 {
	return r.cores("kubelet") + r.cores("containerd") + r.cores("containerd-shims") + r.cores("runc")
}

// stagePods is the processor time of the TaskRuns' pods: every pod's but Tekton's own.
func (r *concResult) stagePods() float64 {
	return r.cores("pods") - r.cores("tekton-controller") - r.cores("tekton-webhook") - r.cores("tekton-resolvers")
}

// other is the node's busy time that none of the measured processes used: other work on
// the machine (the load average says how much) and kernel threads.
func (r *concResult) other() float64 {
	known := 0.0
	for c := range r.cpu {
		if c != "node" && c != "node-iowait" && !strings.HasPrefix(c, "tekton-") { // Tekton's processes are in "pods"
			known += r.cores(c)
		}
	}
	return r.cores("node") - known
}

func (r *concResult) report(b *testing.B, rounds int) {
	b.ReportMetric(median(r.overheads), "overhead-p50-s")
	b.ReportMetric(percentile(r.overheads, 95), "overhead-p95-s")
	b.ReportMetric(float64(r.missed), "missed-slots")
	b.ReportMetric(float64(r.failed), "failed")
	b.ReportMetric(float64(r.pods)/r.wall.Seconds(), "pods/s")
	b.ReportMetric(r.cores("tekton-controller"), "tekton-cpu-cores")
	b.ReportMetric(r.cores("kube-apiserver"), "apiserver-cpu-cores")
	b.ReportMetric(r.cores("etcd"), "etcd-cpu-cores")
	b.ReportMetric(r.nodeCores(), "kubelet+containerd+runc-cpu-cores")
	b.ReportMetric(r.stagePods(), "stage-pods-cpu-cores")
	b.ReportMetric(r.cores("node"), "node-cpu-cores")
	b.ReportMetric(r.other(), "other-cpu-cores")
	b.ReportMetric(float64(r.memPeak)/(1<<20), "node-mem-MiB")
	b.ReportMetric(float64(r.memPeak-r.memBase)/(1<<20), "node-mem-delta-MiB")
	b.ReportMetric(r.api.writes/r.wall.Seconds(), "api-writes/s")
	b.ReportMetric(r.etcdPutBytes/float64(r.experiments), "etcd-put-B/exp")
	// The timer never runs (set-up and teardown take minutes); ns/op is the batch's wall.
	b.ReportMetric(float64(r.wall.Nanoseconds())/float64(rounds), "ns/op")
	// The long form goes to stderr: the testing package keeps 10 lines of a benchmark's log.
	fmt.Fprintf(os.Stderr, "N=%d: %s\n", r.n, r.describe())
}

// describe is the long form of a result, for the log.
func (r *concResult) describe() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%d experiments (%d failed), wall %.1f s; load average at start %s, at end %s\n", r.experiments, r.failed, r.wall.Seconds(), r.load[0], r.load[1])
	fmt.Fprintf(&s, "  overhead per iteration: p50 %.2f s, p95 %.2f s, max %.2f s; PipelineRun created → started: p50 %.1f s, max %.1f s\n",
		median(r.overheads), percentile(r.overheads, 95), maxOf(r.overheads), median(r.startLags), maxOf(r.startLags))
	fmt.Fprintf(&s, "  slots: %d of %d missed (iterate's step > %s after its slot); slack (slot − step start): p50 %.0f s, p5 %.0f s, min %.0f s\n",
		r.missed, r.slots, concLate, median(r.slack), percentile(r.slack, 5), minOf(r.slack))
	fmt.Fprintf(&s, "  TaskRuns: %d pods, %.2f pods/s; created → step started p50 %.0f s p95 %.0f s; step finished → completed p50 %.0f s p95 %.0f s; previous completed → created p50 %.0f s p95 %.0f s\n",
		r.pods, float64(r.pods)/r.wall.Seconds(), median(r.podStart), percentile(r.podStart, 95), median(r.tail), percentile(r.tail, 95), median(r.handoff), percentile(r.handoff, 95))
	fmt.Fprintf(&s, "  kubelet pod start SLI (created → running, watched): n %d, mean %.2f s, p50 %.2f s, p99 %.2f s\n",
		int(r.sloPodStart.count), r.sloPodStart.mean(), r.sloPodStart.quantile(0.5), r.sloPodStart.quantile(0.99))
	var comps []string
	for c := range r.cpu {
		comps = append(comps, c)
	}
	sort.Strings(comps)
	s.WriteString("  CPU (cores over the wall):")
	for _, c := range comps {
		fmt.Fprintf(&s, " %s %.3f;", c, r.cores(c))
	}
	fmt.Fprintf(&s, " stage pods (pods less Tekton's) %.3f; node less all the above (other work on the machine, kernel threads) %.3f", r.stagePods(), r.other())
	s.WriteString("\n")
	fmt.Fprintf(&s, "  memory: node used %d → peak %d MiB (+%d); the cluster's processes' RSS %d → peak %d MiB (+%d)\n",
		r.memBase>>20, r.memPeak>>20, (r.memPeak-r.memBase)>>20, r.rssBase>>20, r.rssPeak>>20, (r.rssPeak-r.rssBase)>>20)
	w := r.wall.Seconds()
	fmt.Fprintf(&s, "  API requests (background subtracted): %.0f writes (%.1f/s, %.1f per experiment-iteration), %.0f reads (%.1f/s); mutating latency mean %.0f ms, p99 %.0f ms\n",
		r.api.writes, r.api.writes/w, r.api.writes/float64(r.experiments*concIterations), r.api.reads, r.api.reads/w, 1000*r.mutating.mean(), 1000*r.mutating.quantile(0.99))
	type kv struct {
		k string
		v float64
	}
	var by []kv
	for k, v := range r.api.byResource {
		by = append(by, kv{k, v})
	}
	sort.Slice(by, func(i, j int) bool { return by[i].v > by[j].v })
	for _, kind := range []string{"writes", "reads"} {
		fmt.Fprintf(&s, "  %s per experiment by verb and resource:", kind)
		n := 0
		for _, x := range by {
			verb, _, _ := strings.Cut(x.k, " ")
			if writeVerbs[verb] != (kind == "writes") || x.v/float64(r.experiments) < 0.5 {
				continue
			}
			if n++; n > 14 {
				break
			}
			fmt.Fprintf(&s, " %s %.1f;", x.k, x.v/float64(r.experiments))
		}
		s.WriteString("\n")
	}
	limit := "20/s, burst 20 (Tekton's default)"
	if q, err := strconv.ParseFloat(os.Getenv("ITER8_E2E_TEKTON_QPS"), 64); err == nil {
		limit = fmt.Sprintf("%g/s, burst %g (ITER8_E2E_TEKTON_QPS, doubled by Tekton)", 2*q, 2*q)
	}
	fmt.Fprintf(&s, "  Tekton controller: %.0f API requests (%.1f/s; %.1f per TaskRun; its client allows %s)\n",
		r.tektonRequests, r.tektonRequests/w, r.tektonRequests/float64(max(r.pods, 1)), limit)
	fmt.Fprintf(&s, "  etcd: %.0f puts, %.0f KiB put (%.0f KiB per experiment); db %.1f → %.1f MiB; WAL fsync mean %.1f ms, p99 %.1f ms\n",
		r.etcdPuts, r.etcdPutBytes/1024, r.etcdPutBytes/1024/float64(r.experiments), r.etcdDBBefore/(1<<20), r.etcdDB/(1<<20), 1000*r.fsync.mean(), 1000*r.fsync.quantile(0.99))
	fmt.Fprintf(&s, "  Prometheus: %.0f query requests (%.2f per experiment-iteration, %.2f/s)\n",
		r.promQueries, r.promQueries/float64(r.experiments*concIterations), r.promQueries/w)
	var liveTotal int64
	s.WriteString("  objects left per experiment (count, KiB of JSON):")
	for _, k := range sortedKeys(r.live) {
		liveTotal += r.live[k][1]
		fmt.Fprintf(&s, " %s %.1f, %.1f;", k, float64(r.live[k][0])/float64(r.experiments), float64(r.live[k][1])/1024/float64(r.experiments))
	}
	fmt.Fprintf(&s, " total %.0f KiB\n", float64(liveTotal)/1024/float64(r.experiments))
	for _, e := range r.extra {
		s.WriteString("  " + e + "\n")
	}
	return strings.TrimRight(s.String(), "\n")
}

// concTable is the summary of every level, the table docs/benchmarks.md records.
func concTable(rs []*concResult) string {
	var s strings.Builder
	s.WriteString("| N | overhead p50 / p95 (s per iteration) | missed slots | pods/s | Tekton controller | kube-apiserver | etcd | kubelet, containerd, shims, runc | stage pods | node busy (other work) | node memory (peak, +Δ) | API writes/s | load average (1 min) |\n")
	s.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&s, "| %d | %.2f / %.2f | %d of %d | %.2f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f (%.2f) | %d MiB, +%d | %.1f | %s → %s |\n",
			r.n, median(r.overheads), percentile(r.overheads, 95), r.missed, r.slots, float64(r.pods)/r.wall.Seconds(),
			r.cores("tekton-controller"), r.cores("kube-apiserver"), r.cores("etcd"), r.nodeCores(), r.stagePods(), r.cores("node"), r.other(),
			r.memPeak>>20, (r.memPeak-r.memBase)>>20, r.api.writes/r.wall.Seconds(), first(r.load[0]), first(r.load[1]))
	}
	return s.String()
}

func mergeConcResults(rs []*concResult) *concResult {
	if len(rs) == 1 {
		return rs[0]
	}
	m := &concResult{n: rs[0].n, cpu: map[string]time.Duration{}, api: apiCounts{byResource: map[string]float64{}}, load: [2]string{rs[0].load[0], rs[len(rs)-1].load[1]}}
	for _, r := range rs {
		m.experiments += r.experiments
		m.failed += r.failed
		m.wall += r.wall
		m.overheads = append(m.overheads, r.overheads...)
		m.startLags = append(m.startLags, r.startLags...)
		m.slack = append(m.slack, r.slack...)
		m.missed += r.missed
		m.slots += r.slots
		m.pods += r.pods
		m.podStart = append(m.podStart, r.podStart...)
		m.tail = append(m.tail, r.tail...)
		m.handoff = append(m.handoff, r.handoff...)
		for k, v := range r.cpu {
			m.cpu[k] += v
		}
		if m.memBase == 0 || r.memBase < m.memBase {
			m.memBase, m.rssBase = r.memBase, r.rssBase
		}
		m.memPeak = max(m.memPeak, r.memPeak)
		m.rssPeak = max(m.rssPeak, r.rssPeak)
		m.api.writes += r.api.writes
		m.api.reads += r.api.reads
		for k, v := range r.api.byResource {
			m.api.byResource[k] += v
		}
		m.etcdPutBytes += r.etcdPutBytes
		m.etcdPuts += r.etcdPuts
		m.etcdDBBefore, m.etcdDB = r.etcdDBBefore, r.etcdDB
		m.promQueries += r.promQueries
		m.tektonRequests += r.tektonRequests
		if m.live == nil {
			m.live = map[string][2]int64{}
		}
		for k, v := range r.live {
			x := m.live[k]
			m.live[k] = [2]int64{x[0] + v[0], x[1] + v[1]}
		}
		m.sloPodStart.add(r.sloPodStart)
		m.mutating.add(r.mutating)
		m.fsync.add(r.fsync)
		m.extra = append(m.extra, r.extra...)
	}
	return m
}

// concExperiment is one experiment of a batch.
type concExperiment struct {
	ns, kind string
	revs     []string
	pr       map[string]any // the PipelineRun of iter8ctl pipelinerun
	prName   string
}

// runConcurrentBatch sets up n experiments, runs them at once and measures the batch.
func runConcurrentBatch(b *testing.B, n, round int) *concResult {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	// A client of its own without client-go's default throttling (5/s), so that the batch's
	// PipelineRuns are created at once and the benchmark's reads never queue.
	cfg := rest.CopyConfig(cluster.config)
	cfg.QPS, cfg.Burst = 200, 400
	dyn := dynamic.NewForConfigOrDie(cfg)
	kube := kubernetes.NewForConfigOrDie(cfg)

	exps := make([]*concExperiment, n)
	var allRevs []string
	for i := range exps {
		e := &concExperiment{ns: fmt.Sprintf("conc-n%d-r%d-e%02d", n, round, i)}
		prefix := fmt.Sprintf("n%d-r%d-e%02d", n, round, i)
		if i%2 == 0 {
			e.kind = "Conformance"
			e.revs = []string{prefix + "-v1"}
		} else {
			e.kind = "Canary"
			e.revs = []string{prefix + "-v1", prefix + "-v2"}
		}
		allRevs = append(allRevs, e.revs...)
		exps[i] = e
	}
	logf("N=%d: installing %d namespaces", n, n)
	for _, e := range exps {
		installIn(b, e.ns)
	}

	// The sample-app versions in this process, on loopback, and the load on them.
	targets := startConcApps(b, exps)
	prom, promURL := servePrometheus(ctx, b, targets, allRevs)
	pointMetrics(b, promURL)

	// The Experiments (and VirtualServices) in one kubectl apply; the PipelineRuns from
	// iter8ctl pipelinerun, decoded here and created at once below.
	var all strings.Builder
	for _, e := range exps {
		traffic, exp := concExperimentYAML(e)
		all.WriteString("---\n" + traffic + "---\n" + exp)
		f := writeFile(b, e.ns+".yaml", exp)
		out, err := iter8ctl(ctx, nil, "pipelinerun", "-f", f, "-n", e.ns, "--image", stagesImage, "--image-pull-policy", "Never")
		if err != nil {
			b.Fatal(err)
		}
		if err := yaml.Unmarshal([]byte(out), &e.pr); err != nil {
			b.Fatalf("decoding the PipelineRun of %s: %v", e.ns, err)
		}
	}
	if _, err := kubectl(ctx, []byte(all.String()), "apply", "-f", "-"); err != nil {
		b.Fatal(err)
	}

	waitForQuiet(prom, n)
	// Background: what the idle cluster (with the apps, the load and Prometheus) does in
	// 15 s, subtracted from the batch's API and etcd counts.
	logf("N=%d: measuring the idle cluster for 15 s", n)
	time.Sleep(5 * time.Second)
	bg0 := snapshot(ctx, kube, prom)
	time.Sleep(15 * time.Second)
	bg1 := snapshot(ctx, kube, prom)

	sampler := startMemSampler()
	r := &concResult{n: n, experiments: n, load: [2]string{loadavg(), ""}}
	logf("N=%d: creating %d PipelineRuns (load average %s)", n, n, r.load[0])
	start := time.Now()
	s0 := snapshot(ctx, kube, prom)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, e := range exps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created, err := dyn.Resource(pipelineRunGVR).Namespace(e.ns).Create(ctx, &unstructured.Unstructured{Object: e.pr}, metav1.CreateOptions{})
			if err != nil {
				errs[i] = err
				return
			}
			e.prName = created.GetName()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatalf("creating a PipelineRun: %v", err)
		}
	}

	// Done when every PipelineRun is: one list from the watch cache every 2 s.
	prs := map[string]*v1.PipelineRun{}
	for len(prs) < n {
		if ctx.Err() != nil {
			b.Fatalf("N=%d: %d of %d PipelineRuns done when the benchmark's time ran out", n, len(prs), n)
		}
		time.Sleep(2 * time.Second)
		l, err := dyn.Resource(pipelineRunGVR).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=iter8ctl", ResourceVersion: "0"})
		if err != nil {
			continue
		}
		for _, u := range l.Items {
			if !strings.HasPrefix(u.GetNamespace(), fmt.Sprintf("conc-n%d-r%d-", n, round)) {
				continue
			}
			var pr v1.PipelineRun
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &pr); err != nil {
				b.Fatal(err)
			}
			if pr.Status.CompletionTime != nil {
				prs[pr.Namespace] = &pr
			}
		}
	}
	s1 := snapshot(ctx, kube, prom)
	r.wall = time.Since(start)
	r.load[1] = loadavg()
	mem := sampler.stop()
	r.memBase, r.memPeak, r.rssBase, r.rssPeak = mem.base, mem.peak, mem.rssBase, mem.rssPeak
	r.diff(s0, s1, bg0, bg1)
	r.cpu["containerd-shims"] = mem.shimCPU
	// The shims' children are the runc runs and the containers' processes that exited,
	// which the kubelet's cgroup counted already: what is left of them is runc's.
	r.cpu["runc"] = max(0, mem.shimChildrenCPU-(r.cpu["pods"]-r.cpu["tekton-controller"]-r.cpu["tekton-webhook"]-r.cpu["tekton-resolvers"]))
	logf("N=%d: done in %.1f s (load average %s)", n, r.wall.Seconds(), r.load[1])

	for _, e := range exps {
		r.measure(b, e, prs[e.ns])
	}
	r.live = liveObjects(ctx, dyn, exps)

	// Everything of the batch goes before the next one starts: the namespace controller
	// deleting 40 namespaces' pods would run during the next batch otherwise.
	logf("N=%d: deleting the namespaces", n)
	for _, e := range exps {
		if err := kube.CoreV1().Namespaces().Delete(ctx, e.ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			b.Errorf("deleting namespace %s: %v", e.ns, err)
		}
	}
	for _, e := range exps {
		for {
			_, err := kube.CoreV1().Namespaces().Get(ctx, e.ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if ctx.Err() != nil {
				b.Fatalf("namespace %s still there: %v", e.ns, err)
			}
			time.Sleep(time.Second)
		}
	}
	return r
}

// concExperimentYAML is e's Experiment: the seed's Conformance criteria over the shipped
// Knative metric set (read from Prometheus, no traffic object), or a Progressive Canary of
// its two versions on a VirtualService of its own with the same criteria. traffic is the
// Canary's VirtualService.
func concExperimentYAML(e *concExperiment) (traffic, experiment string) {
	criteria := `  criteria:
    objectives:
    - metric: iter8-knative/mean-latency
      upperLimit: 50
    - metric: iter8-knative/95th-percentile-tail-latency
      upperLimit: 100
    - metric: iter8-knative/error-rate
      upperLimit: "0.01"
  duration:
    intervalSeconds: ` + strconv.Itoa(int(concInterval.Seconds())) + `
    iterationsPerLoop: ` + strconv.Itoa(concIterations) + `
`
	head := `apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: exp
  namespace: ` + e.ns + `
spec:
  target: ` + e.ns + `/sample-app
`
	if e.kind == "Conformance" {
		return "", head + `  strategy:
    testingPattern: Conformance
` + criteria + `  versionInfo:
    baseline:
      name: current
      variables:
      - name: revision
        value: ` + e.revs[0] + `
`
	}
	ref := func(i int) string {
		return `      weightObjRef:
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        name: sample-app
        namespace: ` + e.ns + `
        fieldPath: .spec.http[0].route[` + strconv.Itoa(i) + `].weight
`
	}
	traffic = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: sample-app
  namespace: ` + e.ns + `
spec:
  hosts: [sample-app.example.com]
  http:
  - route:
    - destination: {host: ` + e.revs[0] + `}
      weight: 100
    - destination: {host: ` + e.revs[1] + `}
      weight: 0
`
	return traffic, head + `  strategy:
    testingPattern: Canary
    deploymentPattern: Progressive
` + criteria + `  versionInfo:
    baseline:
      name: ` + e.revs[0] + `
      variables:
      - name: revision
        value: ` + e.revs[0] + `
` + ref(0) + `    candidates:
    - name: ` + e.revs[1] + `
      variables:
      - name: revision
        value: ` + e.revs[1] + `
` + ref(1)
}

// startConcApps serves every version of the batch from this process on 127.0.0.1 and
// calls each every 250 ms until the benchmark ends. It returns the scrape targets.
func startConcApps(b *testing.B, exps []*concExperiment) []string {
	var targets []string
	for _, e := range exps {
		for i, rev := range e.revs {
			targets = append(targets, harness.StartSampleApp(b, sampleapp.Config{Version: fmt.Sprintf("v%d", i+1), Namespace: e.ns, Service: "sample-app", Revision: rev,
				Latency: 2 * time.Millisecond, LatencyJitter: time.Millisecond, Seed: uint64(len(targets))}))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 2 * time.Second}
	for _, addr := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if resp, err := client.Get("http://" + addr + "/"); err == nil {
						resp.Body.Close()
					}
				}
			}
		}()
	}
	b.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return targets
}

// measure adds one experiment's figures from its PipelineRun, TaskRuns and Experiment.
func (r *concResult) measure(b *testing.B, e *concExperiment, pr *v1.PipelineRun) {
	trs := taskRuns(b, e.ns, pr.Name)
	exp := getExperiment(b, e.ns, "exp")
	iters := int(exp.Status.GetCompletedIterations())
	if condition(pr) != "True/Succeeded" || iters != concIterations {
		r.failed++
		r.extra = append(r.extra, fmt.Sprintf("%s (%s): PipelineRun %s, %d iterations: %s", e.ns, e.kind, condition(pr), iters, trSummary(trs)))
	}
	for _, tr := range trs {
		r.pods += len(tr.Status.RetriesStatus)
		if tr.Status.PodName != "" {
			r.pods++
		}
	}
	if iters == 0 || pr.Status.CompletionTime == nil {
		return
	}
	wall := pr.Status.CompletionTime.Sub(pr.CreationTimestamp.Time)
	r.overheads = append(r.overheads, (wall-time.Duration(iters)*concInterval).Seconds()/float64(iters))
	if pr.Status.StartTime != nil {
		r.startLags = append(r.startLags, pr.Status.StartTime.Sub(pr.CreationTimestamp.Time).Seconds())
	}
	if st := exp.Status.StartTime; st != nil {
		for k := 1; k <= iters; k++ {
			tr := trs[fmt.Sprintf("iterate-%d", k)]
			if tr == nil {
				continue
			}
			started, _ := stepTimes(tr)
			if started.IsZero() {
				continue
			}
			slot := st.Add(time.Duration(k) * concInterval)
			r.slots++
			r.slack = append(r.slack, slot.Sub(started).Seconds())
			if started.Sub(slot) > concLate {
				r.missed++
			}
		}
	}
	// The chain of TaskRuns: init, iterate-1, assess-1, …, finalize.
	order := []string{"init-experiment"}
	for k := 1; k <= iters; k++ {
		order = append(order, fmt.Sprintf("iterate-%d", k), fmt.Sprintf("assess-%d", k))
	}
	order = append(order, "finalize")
	var prevDone time.Time
	for _, name := range order {
		tr := trs[name]
		if tr == nil {
			prevDone = time.Time{}
			continue
		}
		created := tr.CreationTimestamp.Time
		if !prevDone.IsZero() {
			r.handoff = append(r.handoff, created.Sub(prevDone).Seconds())
		}
		started, finished := stepTimes(tr)
		if !started.IsZero() {
			r.podStart = append(r.podStart, started.Sub(created).Seconds())
		}
		prevDone = time.Time{}
		if tr.Status.CompletionTime != nil {
			prevDone = tr.Status.CompletionTime.Time
			if !finished.IsZero() {
				r.tail = append(r.tail, prevDone.Sub(finished).Seconds())
			}
		}
	}
}

// stepTimes are when a TaskRun's (only) step started and finished, as Tekton recorded
// them from the step's entrypoint.
func stepTimes(tr *v1.TaskRun) (started, finished time.Time) {
	for _, s := range tr.Status.Steps {
		if s.Terminated != nil {
			return s.Terminated.StartedAt.Time, s.Terminated.FinishedAt.Time
		}
	}
	return
}

func trSummary(trs map[string]*v1.TaskRun) string {
	var out []string
	for _, name := range sortedKeys(trs) {
		out = append(out, name+"="+trStatus(trs[name]))
	}
	return strings.Join(out, " ")
}

// liveObjects is what the batch's experiments left in the cluster, by resource: the
// Experiment, PipelineRun, TaskRuns, their pods, Events, Leases, VirtualServices, as
// object counts and bytes of JSON. (etcd keeps pods and Events as protobuf, somewhat
// smaller; custom resources as JSON.)
func liveObjects(ctx context.Context, dyn dynamic.Interface, exps []*concExperiment) map[string][2]int64 {
	gvrs := []schema.GroupVersionResource{
		{Group: "iter8.tools", Version: "v2alpha2", Resource: "experiments"},
		pipelineRunGVR, taskRunGVR, vsGVR,
		{Version: "v1", Resource: "pods"},
		{Version: "v1", Resource: "events"},
		leaseGVR,
	}
	out := map[string][2]int64{}
	for _, e := range exps {
		for _, g := range gvrs {
			l, err := dyn.Resource(g).Namespace(e.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for _, u := range l.Items {
				if js, err := u.MarshalJSON(); err == nil {
					x := out[g.Resource]
					x[0]++
					x[1] += int64(len(js))
					out[g.Resource] = x
				}
			}
		}
	}
	return out
}

// --- Counters -------------------------------------------------------------------------

// sample is the cluster's counters at one instant.
type sample struct {
	at        time.Time
	cpu       map[string]time.Duration
	apiserver map[string]*dto.MetricFamily
	etcd      map[string]*dto.MetricFamily
	kubelet   map[string]*dto.MetricFamily
	tekton    map[string]*dto.MetricFamily
	prom      map[string]*dto.MetricFamily
}

// clusterPIDs are the processes whose time and memory the benchmark reads: the kit's
// (pid files in $CL/run) and, found by their command line, Tekton's controller and webhook.
func clusterPIDs() map[string]int {
	pids := map[string]int{}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "containerd"} {
		if b, err := os.ReadFile(filepath.Join(cluster.cl, "run", name+".pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				pids[name] = pid
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		argv0, _, _ := bytes.Cut(b, []byte{0})
		name := ""
		switch string(argv0) {
		case "/ko-app/controller":
			name = "tekton-controller"
		case "/ko-app/webhook":
			name = "tekton-webhook"
		case "/ko-app/resolvers":
			name = "tekton-resolvers"
		default:
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			pids[name] = pid
		}
	}
	return pids
}

// procStat returns a process's processor time (user + system, its own and that of the
// children it waited for) and resident memory.
func procStat(pid int) (time.Duration, int64, error) {
	own, children, rss, err := procTimes(pid)
	return own + children, rss, err
}

// procTimes returns a process's own processor time, that of the children it waited for,
// and its resident memory.
func procTimes(pid int) (own, children time.Duration, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 22 {
		return 0, 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ticks := func(fields []string) time.Duration {
		var n int64
		for _, x := range fields {
			v, _ := strconv.ParseInt(x, 10, 64)
			n += v
		}
		// USER_HZ is 100 on every architecture Go supports here.
		return time.Duration(n) * 10 * time.Millisecond
	}
	pages, _ := strconv.ParseInt(f[21], 10, 64)
	// utime and stime are fields 14-15, cutime and cstime 16-17, rss 24.
	return ticks(f[11:13]), ticks(f[13:15]), pages * int64(os.Getpagesize()), nil
}

// nodeCPU is the busy time of all the node's processors since boot, from /proc/stat
// (everything but idle and iowait).
func nodeCPU() (busy, iowait time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var ticks []int64
	for _, x := range f[1:] {
		n, _ := strconv.ParseInt(x, 10, 64)
		ticks = append(ticks, n)
	}
	var sum int64
	for i, t := range ticks {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is in user already
			continue
		}
		sum += t
	}
	return time.Duration(sum) * 10 * time.Millisecond, time.Duration(ticks[4]) * 10 * time.Millisecond
}

// kubepodsCPU is the processor time of every pod (Tekton's and the stages'), from the
// kubelet's cgroup (cgroupfs driver; v1 cpuacct or v2 cpu.stat).
func kubepodsCPU() time.Duration {
	if b, err := os.ReadFile("/sys/fs/cgroup/cpuacct/kubepods/cpuacct.usage"); err == nil {
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return time.Duration(n)
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/kubepods/cpu.stat"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "usage_usec "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return time.Duration(n) * time.Microsecond
			}
		}
	}
	return 0
}

func snapshot(ctx context.Context, kube kubernetes.Interface, prom *harness.Prometheus) *sample {
	s := &sample{at: time.Now(), cpu: map[string]time.Duration{}}
	for name, pid := range clusterPIDs() {
		if t, _, err := procStat(pid); err == nil {
			s.cpu[name] = t
		}
	}
	s.cpu["node"], s.cpu["node-iowait"] = nodeCPU()
	s.cpu["pods"] = kubepodsCPU()
	if t, _, err := procStat(os.Getpid()); err == nil {
		s.cpu["benchmark-process"] = t
	}
	if t, err := prom.CPUTime(); err == nil {
		s.cpu["prometheus"] = t
	}
	if raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx); err == nil {
		s.apiserver = parseMetrics(raw)
	}
	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	s.etcd = scrapeMetrics(insecure, "http://127.0.0.1:32379/metrics")
	s.kubelet = scrapeMetrics(insecure, "https://"+bridgeIP+":10250/metrics")
	s.prom = scrapeMetrics(insecure, prom.URL()+"/metrics")
	if pods, err := kube.CoreV1().Pods("tekton-pipelines").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=controller"}); err == nil && len(pods.Items) == 1 {
		s.tekton = scrapeMetrics(insecure, "http://"+pods.Items[0].Status.PodIP+":9090/metrics")
	}
	return s
}

func scrapeMetrics(c *http.Client, url string) map[string]*dto.MetricFamily {
	resp, err := c.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return parseMetrics(buf.Bytes())
}

func parseMetrics(raw []byte) map[string]*dto.MetricFamily {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, _ := p.TextToMetricFamilies(bytes.NewReader(raw))
	return mfs
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// counter sums a counter's (or gauge's) series that match.
func counter(mfs map[string]*dto.MetricFamily, name string, match func(map[string]string) bool) float64 {
	var sum float64
	for _, m := range mfs[name].GetMetric() {
		if match != nil && !match(labels(m)) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

// histDelta is the difference of a histogram's series that match between two samples.
type histDelta struct {
	count, sum float64
	buckets    map[float64]float64 // upper bound → cumulative count
}

func histogram(mfs map[string]*dto.MetricFamily, name string, match func(map[string]string) bool) histDelta {
	h := histDelta{buckets: map[float64]float64{}}
	for _, m := range mfs[name].GetMetric() {
		if m.Histogram == nil || (match != nil && !match(labels(m))) {
			continue
		}
		h.count += float64(m.Histogram.GetSampleCount())
		h.sum += m.Histogram.GetSampleSum()
		for _, bk := range m.Histogram.GetBucket() {
			h.buckets[bk.GetUpperBound()] += float64(bk.GetCumulativeCount())
		}
	}
	return h
}

func (h histDelta) minus(o histDelta) histDelta {
	d := histDelta{count: h.count - o.count, sum: h.sum - o.sum, buckets: map[float64]float64{}}
	for le, c := range h.buckets {
		d.buckets[le] = c - o.buckets[le]
	}
	return d
}

func (h *histDelta) add(o histDelta) {
	if h.buckets == nil {
		h.buckets = map[float64]float64{}
	}
	h.count += o.count
	h.sum += o.sum
	for le, c := range o.buckets {
		h.buckets[le] += c
	}
}

func (h histDelta) mean() float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	return h.sum / h.count
}

// quantile interpolates linearly within the bucket, as Prometheus's histogram_quantile.
func (h histDelta) quantile(q float64) float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	var les []float64
	for le := range h.buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	rank := q * h.count
	prevLE, prevC := 0.0, 0.0
	for _, le := range les {
		c := h.buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevLE
			}
			if c == prevC {
				return le
			}
			return prevLE + (le-prevLE)*(rank-prevC)/(c-prevC)
		}
		prevLE, prevC = le, c
	}
	return prevLE
}

var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "DELETECOLLECTION": true, "APPLY": true}

// apiRequests counts apiserver_request_total by kind of verb, and the writes by verb and
// resource.
func apiRequests(mfs map[string]*dto.MetricFamily) apiCounts {
	c := apiCounts{byResource: map[string]float64{}}
	for _, m := range mfs["apiserver_request_total"].GetMetric() {
		l := labels(m)
		v := m.GetCounter().GetValue()
		switch verb := l["verb"]; {
		case writeVerbs[verb]:
			c.writes += v
		case verb == "GET" || verb == "LIST":
			c.reads += v
		default:
			continue
		}
		res := l["resource"]
		if l["subresource"] != "" {
			res += "/" + l["subresource"]
		}
		c.byResource[l["verb"]+" "+res] += v
	}
	return c
}

// diff fills the counters of r from the samples around the batch (s0, s1), less what the
// idle cluster did in the same time (bg0, bg1).
func (r *concResult) diff(s0, s1, bg0, bg1 *sample) {
	wall := s1.at.Sub(s0.at)
	scale := wall.Seconds() / bg1.at.Sub(bg0.at).Seconds()
	r.cpu = map[string]time.Duration{}
	for k, v := range s1.cpu {
		if v0, ok := s0.cpu[k]; ok {
			r.cpu[k] = v - v0
		}
	}
	a0, a1, b0, b1 := apiRequests(s0.apiserver), apiRequests(s1.apiserver), apiRequests(bg0.apiserver), apiRequests(bg1.apiserver)
	r.api = apiCounts{
		writes:     a1.writes - a0.writes - scale*(b1.writes-b0.writes),
		reads:      a1.reads - a0.reads - scale*(b1.reads-b0.reads),
		byResource: map[string]float64{},
	}
	for k, v := range a1.byResource {
		r.api.byResource[k] = v - a0.byResource[k] - scale*(b1.byResource[k]-b0.byResource[k])
	}
	etcd := func(s *sample, name string) float64 { return counter(s.etcd, name, nil) }
	r.etcdPutBytes = etcd(s1, "etcd_debugging_mvcc_total_put_size_in_bytes") - etcd(s0, "etcd_debugging_mvcc_total_put_size_in_bytes") -
		scale*(etcd(bg1, "etcd_debugging_mvcc_total_put_size_in_bytes")-etcd(bg0, "etcd_debugging_mvcc_total_put_size_in_bytes"))
	r.etcdPuts = etcd(s1, "etcd_debugging_mvcc_put_total") - etcd(s0, "etcd_debugging_mvcc_put_total") -
		scale*(etcd(bg1, "etcd_debugging_mvcc_put_total")-etcd(bg0, "etcd_debugging_mvcc_put_total"))
	r.etcdDBBefore, r.etcdDB = etcd(s0, "etcd_mvcc_db_total_size_in_bytes"), etcd(s1, "etcd_mvcc_db_total_size_in_bytes")
	r.fsync = histogram(s1.etcd, "etcd_disk_wal_fsync_duration_seconds", nil).minus(histogram(s0.etcd, "etcd_disk_wal_fsync_duration_seconds", nil))
	tk := func(s *sample) float64 {
		return histogram(s.tekton, "tekton_pipelines_controller_client_latency", nil).count
	}
	r.tektonRequests = tk(s1) - tk(s0) - scale*(tk(bg1)-tk(bg0))
	for _, rec := range []string{"pipelinerun", "taskrun"} {
		for _, ok := range []string{"true", "false"} {
			match := func(l map[string]string) bool {
				return strings.HasSuffix(l["reconciler"], "."+rec+".Reconciler") && l["success"] == ok
			}
			n := counter(s1.tekton, "tekton_pipelines_controller_reconcile_count", match) - counter(s0.tekton, "tekton_pipelines_controller_reconcile_count", match)
			r.extra = append(r.extra, fmt.Sprintf("Tekton %s reconciles, success=%s: %.0f", rec, ok, n))
		}
	}
	isQuery := func(l map[string]string) bool { return l["handler"] == "/api/v1/query" }
	r.promQueries = counter(s1.prom, "prometheus_http_requests_total", isQuery) - counter(s0.prom, "prometheus_http_requests_total", isQuery)
	r.sloPodStart = histogram(s1.kubelet, "kubelet_pod_start_sli_duration_seconds", nil).minus(histogram(s0.kubelet, "kubelet_pod_start_sli_duration_seconds", nil))
	mutating := func(l map[string]string) bool { return writeVerbs[l["verb"]] }
	r.mutating = histogram(s1.apiserver, "apiserver_request_duration_seconds", mutating).minus(histogram(s0.apiserver, "apiserver_request_duration_seconds", mutating))

	// What else tells where the time goes, logged: the Tekton controller's work queues and
	// API client, the apiserver's priority-and-fairness queueing, the kubelet's relist.
	for _, h := range []struct {
		src  func(*sample) map[string]*dto.MetricFamily
		name string
		by   string
	}{
		{func(s *sample) map[string]*dto.MetricFamily { return s.tekton }, "tekton_pipelines_controller_workqueue_queue_latency_seconds", "name"},
		{func(s *sample) map[string]*dto.MetricFamily { return s.tekton }, "tekton_pipelines_controller_workqueue_work_duration_seconds", "name"},
		{func(s *sample) map[string]*dto.MetricFamily { return s.tekton }, "tekton_pipelines_controller_client_latency", ""},
		{func(s *sample) map[string]*dto.MetricFamily { return s.tekton }, "tekton_pipelines_controller_pipelinerun_duration_seconds", ""},
		{func(s *sample) map[string]*dto.MetricFamily { return s.apiserver }, "apiserver_flowcontrol_request_wait_duration_seconds", "priority_level"},
		{func(s *sample) map[string]*dto.MetricFamily { return s.kubelet }, "kubelet_pod_start_total_duration_seconds", ""},
		{func(s *sample) map[string]*dto.MetricFamily { return s.kubelet }, "kubelet_pleg_relist_duration_seconds", ""},
		{func(s *sample) map[string]*dto.MetricFamily { return s.kubelet }, "kubelet_pod_worker_duration_seconds", "operation_type"},
		{func(s *sample) map[string]*dto.MetricFamily { return s.kubelet }, "kubelet_runtime_operations_duration_seconds", ""},
	} {
		groups := map[string]bool{"": true}
		if h.by != "" {
			groups = map[string]bool{}
			for _, m := range h.src(s1)[h.name].GetMetric() {
				groups[labels(m)[h.by]] = true
			}
		}
		for _, g := range sortedKeys(groups) {
			match := func(l map[string]string) bool { return h.by == "" || l[h.by] == g }
			d := histogram(h.src(s1), h.name, match).minus(histogram(h.src(s0), h.name, match))
			if d.count < 1 {
				continue
			}
			label := h.name
			if g != "" {
				label += "{" + h.by + "=" + g + "}"
			}
			r.extra = append(r.extra, fmt.Sprintf("%s: n %.0f, mean %.3f s, p50 %.3f s, p99 %.3f s", label, d.count, d.mean(), d.quantile(0.5), d.quantile(0.99)))
		}
	}
}

// --- Memory -----------------------------------------------------------------------------

type memSampler struct {
	stopc chan struct{}
	done  chan memFigures
}

type memFigures struct {
	base, peak, rssBase, rssPeak int64
	// The processor time of the containerd shims (one per pod sandbox), which come and
	// go during the batch: their own, and that of the children they waited for (the runc
	// runs, and every container process that exited: the stage pods' steps).
	shimCPU, shimChildrenCPU time.Duration
}

// startMemSampler reads the node's used memory (MemTotal − MemAvailable), the resident
// memory of the cluster's processes (the kit's, every pod's through the kubelet's cgroup,
// and the containerd shims) and the shims' processor time now and every 500 ms until stop.
func startMemSampler() *memSampler {
	s := &memSampler{stopc: make(chan struct{}), done: make(chan memFigures, 1)}
	var f memFigures
	type seen struct{ first, last, firstChildren, lastChildren time.Duration }
	shimCPU := map[int]*seen{}
	read := func(initial bool) int64 {
		var rss int64
		for pid, st := range shims() {
			x := shimCPU[pid]
			if x == nil {
				x = &seen{}
				if initial { // only what it uses from now on counts
					x.first, x.firstChildren = st.cpu, st.children
				}
				shimCPU[pid] = x
			}
			x.last, x.lastChildren = st.cpu, st.children
			rss += st.rss
		}
		return clusterRSS() + rss
	}
	f.base, f.rssBase = nodeMemUsed(), read(true)
	f.peak, f.rssPeak = f.base, f.rssBase
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stopc:
				read(false)
				for _, x := range shimCPU {
					f.shimCPU += x.last - x.first
					f.shimChildrenCPU += x.lastChildren - x.firstChildren
				}
				s.done <- f
				return
			case <-tick.C:
				f.peak = max(f.peak, nodeMemUsed())
				f.rssPeak = max(f.rssPeak, read(false))
			}
		}
	}()
	return s
}

func (s *memSampler) stop() memFigures {
	close(s.stopc)
	return <-s.done
}

type shimStat struct {
	cpu, children time.Duration
	rss           int64
}

// shims are the containerd shims running now.
func shims() map[int]shimStat {
	out := map[int]shimStat{}
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		if b, err := os.ReadFile(c); err == nil && strings.HasPrefix(string(b), "containerd-shim") {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(c))); err == nil {
				if own, children, rss, err := procTimes(pid); err == nil {
					out[pid] = shimStat{own, children, rss}
				}
			}
		}
	}
	return out
}

func nodeMemUsed() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var total, avail int64
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "MemTotal:":
			total = n
		case "MemAvailable:":
			avail = n
		}
	}
	return (total - avail) * 1024
}

// clusterRSS is the resident memory of the kit's processes and of every pod (the kubepods
// cgroup's rss).
func clusterRSS() int64 {
	var sum int64
	for name, pid := range clusterPIDs() {
		if strings.HasPrefix(name, "tekton-") {
			continue // in kubepods
		}
		if _, rss, err := procStat(pid); err == nil {
			sum += rss
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory/kubepods/memory.stat"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "total_rss "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				sum += n
			}
		}
	}
	return sum
}

// waitForQuiet waits until other work on the machine (builds, tests of other checkouts),
// which competes with the batch for the same processors, uses less than
// $ITER8_E2E_QUIET_CPU cores (default 0.3) over 10 s, at most $ITER8_E2E_QUIET_WAIT
// (default 15m); then it goes on, and the figures say how much other work there was.
// Other work is the node's busy time less that of every process measured (the cluster's,
// its pods', the shims', Prometheus's and this process's): the load average would count
// the cluster's own idle work too, which grows with the batch's set-up.
func waitForQuiet(prom *harness.Prometheus, n int) {
	limit, wait := 0.3, 15*time.Minute
	if v, err := strconv.ParseFloat(os.Getenv("ITER8_E2E_QUIET_CPU"), 64); err == nil {
		limit = v
	}
	if v, err := time.ParseDuration(os.Getenv("ITER8_E2E_QUIET_WAIT")); err == nil {
		wait = v
	}
	deadline := time.Now().Add(wait)
	for i := 0; ; i++ {
		node0, ours0 := busyCPU(prom)
		time.Sleep(10 * time.Second)
		node1, ours1 := busyCPU(prom)
		busy := (node1 - node0).Seconds() / 10
		other := busy - (ours1-ours0).Seconds()/10
		if other < limit {
			logf("N=%d: other work on the machine %.2f cores (node busy %.2f, load average %s)", n, other, busy, loadavg())
			return
		}
		if time.Now().After(deadline) {
			logf("N=%d: other work on the machine %.2f cores (node busy %.2f, load average %s) after %s: going on", n, other, busy, loadavg(), wait)
			return
		}
		if i%6 == 0 {
			logf("N=%d: other work on the machine %.2f cores (node busy %.2f, load average %s): waiting until it is under %.2f (at most until %s)",
				n, other, busy, loadavg(), limit, deadline.UTC().Format("15:04:05"))
		}
	}
}

// busyCPU is the node's busy time and that of the processes the benchmark measures.
func busyCPU(prom *harness.Prometheus) (node, ours time.Duration) {
	node, _ = nodeCPU()
	for name, pid := range clusterPIDs() {
		if strings.HasPrefix(name, "tekton-") {
			continue // in the pods'
		}
		if t, _, err := procStat(pid); err == nil {
			ours += t
		}
	}
	ours += kubepodsCPU()
	for _, st := range shims() {
		ours += st.cpu // not their children: exited containers are in the pods' already
	}
	if t, _, err := procStat(os.Getpid()); err == nil {
		ours += t
	}
	if t, err := prom.CPUTime(); err == nil {
		ours += t
	}
	return node, ours
}

func first(s string) string { return strings.Fields(s + " ?")[0] }

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// --- Order statistics -------------------------------------------------------------------

func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	// Nearest rank.
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}

func minOf(xs []float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = math.Min(m, x)
	}
	return m
}
