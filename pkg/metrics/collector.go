package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
	"github.com/iter8-tools/iter8-tekton/pkg/metrics/builtin"
)

// Result is what one query produced for one metric and one version.
type Result struct {
	// State is Value, NoData (empty result, NaN, ±Inf, null) or Error (timeout, HTTP
	// error, bad JSON, a result of the wrong shape, a jq error, a missing secret).
	State v2alpha1.MetricState
	// Value is the number when State is Value.
	Value float64
	// Samples are the numbers of a REST metric with spec.samples whose jqExpression gave
	// an array; Value is then their mean.
	Samples []float64
	// Reason says why there is no value, short and specific.
	Reason string
	// Query is the query as sent after substitution: the PromQL text, or the method, URL
	// template, parameters and body of a REST query. It never holds a secret value.
	Query string
	// Attempts is how many requests the query took, retries included.
	Attempts int
}

// Backoff is the retry policy for transient errors (connection errors, HTTP 5xx, 408, 429,
// timeouts). The delay starts at Initial and doubles up to Max; at most Attempts requests
// are made. Whatever the policy, a query with its retries never takes longer than the
// metric's timeoutSeconds.
type Backoff struct {
	Initial  time.Duration
	Max      time.Duration
	Attempts int
}

// DefaultBackoff retries after 100ms, 200ms, 400ms, ... within the metric's timeout.
var DefaultBackoff = Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Attempts: 6}

// DefaultParallelism bounds the number of queries in flight to one backend.
const DefaultParallelism = 16

// DefaultSecretNamespace is where a secret named without a namespace is looked up, the
// namespace of iter8's analytics service.
const DefaultSecretNamespace = "iter8-system"

// Collector queries metric backends.
type Collector struct {
	// HTTPClient sends every request. When nil, a client like http.DefaultClient that
	// keeps more idle connections per backend.
	HTTPClient *http.Client
	// PrometheusURL is the base URL for a prometheus metric without urlTemplate.
	PrometheusURL string
	// Secrets reads the secrets of metrics that have one. When nil, such metrics give Error.
	Secrets credential.Getter
	// SecretNamespace is the namespace of a secret named without one (the Experiment's);
	// DefaultSecretNamespace when empty. A secret named with a namespace must be in this
	// one or in the Metric's.
	SecretNamespace string
	// Retry is the retry policy; DefaultBackoff when zero.
	Retry Backoff
	// Parallelism bounds the queries in flight to one backend (scheme and host of the
	// urlTemplate); DefaultParallelism when 0.
	Parallelism int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// BatchSize bounds the distinct Prometheus queries sent in one request; queries of one
	// Collect to the same Prometheus with the same secret, authentication and timeout are
	// joined. DefaultBatchSize when 0; 1 or less sends every query alone.
	BatchSize int
	// NoMerge sends each version's query as written. By default the queries of a metric
	// whose versions' queries differ only in the values of label matchers are merged into
	// one that answers every version (see mergeVersions), when they are batched.
	NoMerge bool
}

// job is one metric to collect under the key analytics looks it up by.
type job struct {
	key       string
	metric    *v2alpha1.Metric
	name      string // the metric's name, without namespace
	namespace string // the metric's namespace, where known
	err       string // set when the reference cannot be resolved
}

// jobs lists what Collect queries: every metric reference of the criteria as written, and
// every embedded metric no reference resolves to, under its namespace/name.
func jobs(exp *v2alpha1.Experiment) []job {
	var out []job
	used := map[*v2alpha1.Metric]bool{}
	embedded := func(key string, m *v2alpha1.Metric) job {
		j := job{key: key, metric: m, name: m.Name, namespace: m.Namespace}
		for i := range exp.Status.Metrics {
			if &exp.Status.Metrics[i].MetricObj == m {
				ns, name, ok := strings.Cut(exp.Status.Metrics[i].Name, "/")
				if !ok {
					ns, name = "", ns
				}
				if j.name == "" {
					j.name = name
				}
				if j.namespace == "" {
					j.namespace = ns
				}
			}
		}
		return j
	}
	for _, ref := range exp.Spec.MetricRefs() {
		if m, ok := exp.Status.MetricObj(ref); ok {
			used[m] = true
			out = append(out, embedded(ref, m))
			continue
		}
		if m, ok := builtinRef(ref); ok {
			out = append(out, job{key: ref, metric: m, name: m.Name, namespace: m.Namespace})
			continue
		}
		out = append(out, job{key: ref, err: fmt.Sprintf("metric %q is not in status.metrics", ref)})
	}
	for i := range exp.Status.Metrics {
		m := &exp.Status.Metrics[i].MetricObj
		if !used[m] {
			out = append(out, embedded(exp.Status.Metrics[i].Name, m))
		}
	}
	return out
}

// builtinRef resolves iter8-system/<name>, or a bare builtin name, to a builtin metric.
func builtinRef(ref string) (*v2alpha1.Metric, bool) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		ns, name = builtin.Namespace, ref
	}
	if ns != builtin.Namespace {
		return nil, false
	}
	for _, m := range builtin.Metrics() {
		if m.Name == name {
			return &m, true
		}
	}
	return nil, false
}

// Collect queries every metric for every version of the experiment and returns
// metric key -> version name -> Result. The keys are the metric references as written in
// spec.criteria, and the namespace/name of embedded metrics no reference names. Queries
// run concurrently, at most Parallelism at a time per backend, each bounded by its
// metric's timeout, so a slow backend delays only its own queries. Prometheus queries are
// all evaluated at the collector's now, and those that share a Prometheus, a secret, an
// authentication and a timeout are sent together, up to BatchSize distinct queries per
// request, each still getting its own Result as if sent alone; unless NoMerge, a metric's
// queries for several versions go as one query that answers them all where
// mergeVersions proves the results the same (its Results are as if each version's query
// was sent alone too, Query included). Collect never fails:
// every problem is a Result in state Error or NoData. A reference that nothing resolves
// to is an Error; iter8-system/<builtin name> and a bare builtin name resolve to the
// builtin metric when status.metrics does not hold them.
func (c *Collector) Collect(ctx context.Context, exp *v2alpha1.Experiment) map[string]map[string]Result {
	now := c.now()
	versions := exp.Spec.Versions()
	js := jobs(exp)
	out := make(map[string]map[string]Result, len(js))
	for _, j := range js {
		out[j.key] = make(map[string]Result, len(versions))
	}
	var hists map[string]*builtin.Histogram
	var histErr error
	if a := exp.Status.Analysis; a != nil && a.AggregatedBuiltinHists != nil {
		hists, histErr = builtin.DecodeHists(a.AggregatedBuiltinHists)
	}

	parallel := c.Parallelism
	if parallel <= 0 {
		parallel = DefaultParallelism
	}
	run := &collection{
		c:   c,
		ctx: ctx,
		// Every Prometheus query of one Collect is evaluated at the same instant, the one
		// the elapsed time is measured to, so that every version is judged on the same
		// data. Prometheus keeps milliseconds.
		at:       now.Truncate(time.Millisecond),
		parallel: parallel,
		out:      out,
		sems:     map[string]chan struct{}{},
		secrets:  newSecretMemo(c.secret),
	}
	var proms []versionQuery
	for _, j := range js {
		for _, v := range versions {
			switch {
			case j.err != "":
				run.set(j.key, v.Name, Result{State: v2alpha1.MetricStateError, Reason: j.err})
				continue
			case len(j.metric.Spec.Mock) > 0:
				run.set(j.key, v.Name, mockResult(j.metric, v.Name, Args(exp, v, now)))
				continue
			case j.metric.Spec.IsBuiltin():
				run.set(j.key, v.Name, builtinResult(j.name, v.Name, hists, histErr))
				continue
			}
			call := versionQuery{job: j, version: v.Name, args: Args(exp, v, now)}
			if c.batchSize() > 1 && batchable(j.metric) {
				call.query = c.describeQuery(&j.metric.Spec, call.args, true)
				proms = append(proms, call)
				continue
			}
			run.single(call)
		}
	}
	run.batched(proms)
	run.wg.Wait()
	return out
}

// collection is the queries of one Collect under way: where their results go, and the
// bound of each backend.
type collection struct {
	c        *Collector
	ctx      context.Context
	at       time.Time // when Prometheus evaluates the queries
	parallel int       // the bound of each backend
	out      map[string]map[string]Result

	mu sync.Mutex
	wg sync.WaitGroup
	// sems bounds each backend on its own, so that the queries of a slow or hanging
	// backend wait only for each other and never hold back those of another backend.
	sems map[string]chan struct{}
	// secrets reads each secret once for all the queries.
	secrets *secretMemo
}

func (r *collection) set(key, version string, res Result) {
	r.mu.Lock()
	r.out[key][version] = res
	r.mu.Unlock()
}

// setAll gives res to every call, each with its own query.
func (r *collection) setAll(calls []versionQuery, res Result) {
	for _, call := range calls {
		res.Query = call.query
		r.set(call.job.key, call.version, res)
	}
}

// spawn runs work under the bound of backend; when the context ends first, the results of
// calls are "not queried".
func (r *collection) spawn(backend string, calls []versionQuery, work func()) {
	r.mu.Lock()
	sem, ok := r.sems[backend]
	if !ok {
		sem = make(chan struct{}, r.parallel)
		r.sems[backend] = sem
	}
	r.mu.Unlock()
	notQueried := func() {
		for _, call := range calls {
			r.set(call.job.key, call.version, Result{State: v2alpha1.MetricStateError, Reason: "not queried: " + r.ctx.Err().Error()})
		}
	}
	r.wg.Go(func() {
		// Checked first, since select picks at random between a free slot and the end.
		if r.ctx.Err() != nil {
			notQueried()
			return
		}
		select {
		case sem <- struct{}{}:
		case <-r.ctx.Done():
			notQueried()
			return
		}
		defer func() { <-sem }()
		work()
	})
}

// single sends one call's query alone.
func (r *collection) single(call versionQuery) {
	r.spawn(r.c.backendKey(call.job.metric), []versionQuery{call}, func() {
		r.set(call.job.key, call.version, r.c.queryWith(r.ctx, call.job.metric, call.args, r.at, r.secrets.secret))
	})
}

// batched sends the Prometheus queries that share a target in as few requests as the
// batch size allows, each metric's queries for several versions merged into one where
// mergeVersions can; a group of one query, and the queries of a metric whose target cannot
// be resolved, go alone.
func (r *collection) batched(calls []versionQuery) {
	if len(calls) == 0 {
		return
	}
	groups, alone := groupCalls(calls, r.c.promTargets(r.ctx, calls, r.secrets.secret))
	for _, call := range alone {
		r.single(call)
	}
	for _, g := range groups {
		if len(g.calls) == 1 {
			r.single(g.calls[0])
			continue
		}
		backend := r.c.backendKey(g.calls[0].job.metric)
		for _, b := range split(g.members(!r.c.NoMerge), r.c.batchSize()) {
			var calls []versionQuery
			for _, m := range b.members {
				calls = append(calls, m.allCalls()...)
			}
			if len(b.members) == 1 && b.members[0].merged == nil {
				// One distinct query needs no label to tell its answers apart.
				m := b.members[0]
				r.spawn(backend, calls, func() {
					r.setAll(m.calls, r.c.queryWith(r.ctx, m.calls[0].job.metric, m.calls[0].args, r.at, r.secrets.secret))
				})
				continue
			}
			r.spawn(backend, calls, func() { r.sendBatch(g.target, backend, b) })
		}
	}
}

// sendBatch sends a batch and gives each of its calls its result.
func (r *collection) sendBatch(t promTarget, backend string, b *promBatch) {
	ans, outcome := r.c.batch(r.ctx, t, b.queries, r.at)
	switch outcome {
	case batchFallback:
		// The members queue for the slot this work frees when it returns: a merged one
		// goes alone, unless it was alone already; the others' calls one by one.
		for _, m := range b.members {
			if m.merged != nil && len(b.members) > 1 {
				r.spawn(backend, m.allCalls(), func() {
					r.sendBatch(t, backend, &promBatch{members: []*promMember{m}, queries: m.queries()})
				})
				continue
			}
			for _, call := range m.allCalls() {
				r.single(call)
			}
		}
		return
	case batchFailed:
		for _, m := range b.members {
			r.setAll(m.allCalls(), ans.failed)
		}
		return
	}
	for _, m := range b.members {
		answers := make([]model.Vector, 0, 2)
		for _, q := range m.queries() {
			answers = append(answers, ans.parts[slices.Index(b.queries, q)])
		}
		if m.merged == nil {
			r.setAll(m.calls, ans.result(t.red, answers[0]))
			continue
		}
		versions, err := m.merged.answer(answers)
		if err != nil {
			// Not Prometheus' evaluation of the merged query: each version alone.
			for _, call := range m.allCalls() {
				r.single(call)
			}
			continue
		}
		for i, calls := range m.byKey {
			r.setAll(calls, ans.result(t.red, versions[i]))
		}
	}
}

func (c *Collector) batchSize() int {
	if c.BatchSize == 0 {
		return DefaultBatchSize
	}
	return c.BatchSize
}

// backendKey names the backend a metric queries, as written (before any secret is
// substituted): its urlTemplate, else the configured Prometheus URL.
func (c *Collector) backendKey(m *v2alpha1.Metric) string {
	if m.Spec.URLTemplate != nil && *m.Spec.URLTemplate != "" {
		u := *m.Spec.URLTemplate
		if parsed, err := url.Parse(u); err == nil && parsed.Host != "" {
			return parsed.Scheme + "://" + parsed.Host
		}
		return u
	}
	return c.PrometheusURL
}

func (c *Collector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// defaultClient keeps as many idle connections per backend as queries run at once;
// http.DefaultTransport keeps two, so most concurrent queries to one Prometheus would
// open a new connection every iteration.
var defaultClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 4 * DefaultParallelism
	return &http.Client{Transport: limitedTransport{t}, CheckRedirect: credential.RedirectPolicy}
}()

// httpClient returns the client requests are sent with. Whichever it is, a redirect to
// another host carries none of the request's headers, and so none of its credentials, and
// no more than maxResponseBytes of an answer are read.
func (c *Collector) httpClient() *http.Client {
	if c.HTTPClient == nil {
		return defaultClient
	}
	hc := credential.Client(c.HTTPClient)
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc.Transport = limitedTransport{rt}
	return hc
}

func (c *Collector) backoff() Backoff {
	b := c.Retry
	if b == (Backoff{}) {
		return DefaultBackoff
	}
	if b.Attempts <= 0 {
		b.Attempts = 1
	}
	return b
}

// attempt is one try of a query. A transient error is retried.
type attempt func(ctx context.Context) (r Result, transient bool)

// retry runs try with backoff until it gives a value, no data, a permanent error, the
// attempts are used up, or the metric's timeout ends. It records the attempts.
func (c *Collector) retry(parent context.Context, timeout time.Duration, try attempt) Result {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	b := c.backoff()
	delay := b.Initial
	// earlier is the previous attempt's error: when the timeout cuts the last attempt
	// short, it is what the backend said (an HTTP 500, a refused connection), which the
	// bare deadline would hide.
	earlier := ""
	for n := 1; ; n++ {
		r, transient := try(ctx)
		r.Attempts = n
		if r.State != v2alpha1.MetricStateError {
			return r
		}
		attempts := "1 attempt"
		if n > 1 {
			attempts = fmt.Sprintf("%d attempts", n)
		}
		switch {
		case parent.Err() != nil:
			r.Reason = fmt.Sprintf("%s (%s; %v)", r.Reason, attempts, parent.Err())
			return r
		case ctx.Err() != nil:
			if earlier != "" && earlier != r.Reason {
				attempts += "; the attempt before: " + earlier
			}
			r.Reason = fmt.Sprintf("%s (timeout of %s reached after %s)", r.Reason, timeout, attempts)
			return r
		case !transient:
			if n > 1 {
				r.Reason = fmt.Sprintf("%s (after %s)", r.Reason, attempts)
			}
			return r
		case n >= b.Attempts:
			r.Reason = fmt.Sprintf("%s (after %s)", r.Reason, attempts)
			return r
		}
		if deadline, _ := ctx.Deadline(); time.Until(deadline) < delay {
			r.Reason = fmt.Sprintf("%s (after %s; no time for another within the timeout of %s)", r.Reason, attempts, timeout)
			return r
		}
		earlier = r.Reason
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if delay *= 2; b.Max > 0 && delay > b.Max {
			delay = b.Max
		}
	}
}

// isTimeout reports whether err is a deadline or a network timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// transientStatus reports whether an HTTP status is worth retrying.
func transientStatus(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

func errorResult(query, format string, a ...any) Result {
	return Result{State: v2alpha1.MetricStateError, Reason: fmt.Sprintf(format, a...), Query: query}
}

func noData(query, reason string) Result {
	return Result{State: v2alpha1.MetricStateNoData, Reason: reason, Query: query}
}
