package sampleapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyBucketsMs are the histogram bounds, in milliseconds, of Knative's queue-proxy
// (defaultLatencyDistribution in knative.dev/serving/pkg/queue/request_metric.go).
var LatencyBucketsMs = []float64{
	5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600,
	700, 800, 900, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
}

// The metric names and labels are those Knative's queue-proxy exports for the user
// container: resource labels of the revision, then the view's tag keys.
const (
	MetricRequestCount     = "revision_app_request_count"
	MetricRequestLatencies = "revision_app_request_latencies"

	// ContainerName is the container_name label: queue-proxy reports its metrics under
	// its own container name.
	ContainerName = "queue-proxy"
)

// Labels are the label names of both metrics, in Knative's order.
var Labels = []string{
	"namespace_name", "service_name", "configuration_name", "revision_name",
	"container_name", "pod_name", "response_code", "response_code_class",
}

// Config is one revision of the sample app.
type Config struct {
	// Version is the text GET / answers with.
	Version string
	// Namespace, Service, Configuration, Revision and Pod label the metrics.
	Namespace     string
	Service       string
	Configuration string
	Revision      string
	Pod           string
	// Latency is added to every counted request; LatencyJitter adds up to that much more,
	// uniformly, from a generator seeded with Seed.
	Latency       time.Duration
	LatencyJitter time.Duration
	Seed          uint64
	// ErrorRate is the fraction of counted requests answered with 500, in [0, 1].
	ErrorRate float64
}

func (c Config) validate() error {
	if c.Version == "" {
		return errors.New("version is empty: set --version or T_VERSION")
	}
	if math.IsNaN(c.ErrorRate) || c.ErrorRate < 0 || c.ErrorRate > 1 {
		return fmt.Errorf("error rate %v is not in [0, 1]", c.ErrorRate)
	}
	if c.Latency < 0 || c.LatencyJitter < 0 {
		return fmt.Errorf("latency %v and jitter %v must not be negative", c.Latency, c.LatencyJitter)
	}
	return nil
}

// App serves one revision.
type App struct {
	cfg      Config
	count    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	registry *prometheus.Registry

	mu       sync.Mutex
	requests uint64 // counted requests so far
	rng      *rand.Rand
}

// New returns the app of cfg. Empty Revision and Configuration default to Version and
// Service, as in a Knative Service whose revisions are named after their versions.
func New(cfg Config) (*App, error) {
	if cfg.Revision == "" {
		cfg.Revision = cfg.Version
	}
	if cfg.Configuration == "" {
		cfg.Configuration = cfg.Service
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	constLabels := prometheus.Labels{
		"namespace_name":     cfg.Namespace,
		"service_name":       cfg.Service,
		"configuration_name": cfg.Configuration,
		"revision_name":      cfg.Revision,
		"container_name":     ContainerName,
		"pod_name":           cfg.Pod,
	}
	a := &App{
		cfg: cfg,
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        MetricRequestCount,
			Help:        "The number of requests that are routed to user-container",
			ConstLabels: constLabels,
		}, []string{"response_code", "response_code_class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        MetricRequestLatencies,
			Help:        "The response time in millisecond",
			ConstLabels: constLabels,
			Buckets:     LatencyBucketsMs,
		}, []string{"response_code", "response_code_class"}),
		registry: prometheus.NewRegistry(),
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	a.registry.MustRegister(a.count, a.latency)
	return a, nil
}

// Handler serves GET / (counted), /metrics and /healthz (not counted).
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/", a.serveApp)
	return mux
}

// next decides the fate of the next counted request: whether it fails, and its added delay.
func (a *App) next() (fail bool, delay time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests++
	n := float64(a.requests)
	r := a.cfg.ErrorRate
	fail = math.Floor(n*r) > math.Floor((n-1)*r)
	delay = a.cfg.Latency
	if a.cfg.LatencyJitter > 0 {
		delay += time.Duration(a.rng.Int64N(int64(a.cfg.LatencyJitter) + 1))
	}
	return fail, delay
}

func (a *App) serveApp(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := http.StatusOK
	defer func() {
		labels := prometheus.Labels{
			"response_code":       strconv.Itoa(code),
			"response_code_class": strconv.Itoa(code/100) + "xx",
		}
		// Milliseconds with a fraction: Knative truncates to whole milliseconds, which would
		// make every fast request 0 ms and hide small injected latencies.
		a.latency.With(labels).Observe(float64(time.Since(start)) / float64(time.Millisecond))
		a.count.With(labels).Inc()
	}()

	if r.URL.Path != "/" {
		code = http.StatusNotFound
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusMethodNotAllowed
		http.Error(w, "method not allowed", code)
		return
	}
	fail, delay := a.next()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	if fail {
		code = http.StatusInternalServerError
		http.Error(w, fmt.Sprintf("injected error from version %s", a.cfg.Version), code)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, a.cfg.Version)
}

// usageError marks errors in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// ExitCode maps an error of Run to a process exit code: 2 for a bad command line, 1 otherwise.
func ExitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

func parse(args []string, stderr io.Writer) (cfg Config, listen string, err error) {
	fs := flag.NewFlagSet("sample-app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host, _ := os.Hostname()
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&cfg.Version, "version", os.Getenv("T_VERSION"), "version GET / answers with (default $T_VERSION)")
	fs.StringVar(&cfg.Revision, "revision", "", "revision_name label (default the version)")
	fs.StringVar(&cfg.Namespace, "namespace", "default", "namespace_name label")
	fs.StringVar(&cfg.Service, "service", "sample-app", "service_name label")
	fs.StringVar(&cfg.Configuration, "configuration", "", "configuration_name label (default the service)")
	fs.StringVar(&cfg.Pod, "pod", envOr("POD_NAME", host), "pod_name label (default $POD_NAME, else the host name)")
	fs.DurationVar(&cfg.Latency, "latency", 0, "latency added to every request")
	fs.DurationVar(&cfg.LatencyJitter, "latency-jitter", 0, "up to this much more latency, uniformly random")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the latency jitter")
	fs.Float64Var(&cfg.ErrorRate, "error-rate", 0, "fraction of requests answered with 500, in [0, 1]; errors are spread evenly")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, "", err
		}
		return cfg, "", usageError{err}
	}
	if fs.NArg() > 0 {
		return cfg, "", usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	return cfg, listen, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Run parses args, serves until ctx is done, then shuts down gracefully. It prints the
// address it listens on to stdout ("listening on http://127.0.0.1:8080"), so that a caller
// using --listen 127.0.0.1:0 learns the port.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, listen, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	app, err := New(cfg)
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "sample-app %s (revision %s) listening on http://%s\n", app.cfg.Version, app.cfg.Revision, ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	<-errc
	return nil
}
