package metrics

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

// batchLabel tells which member of a batched query a series answers. Prometheus reserves
// label names that start with __ for its own use and drops them from scraped series, so
// no stored series carries it; a member whose query names it is never batched.
const batchLabel = "__iter8_q"

// DefaultBatchSize bounds the distinct queries sent in one request to a Prometheus.
//
// Prometheus evaluates the queries of one request one after another, on one core, and
// that evaluation, not the round trip, is what a batch of the Knative metrics costs: with
// Prometheus 2.42 on 2 shared cores, stats=all gives 50-250 µs per query, 17-20 ms for
// 100 in one request, against about 1 ms of round trip and parsing per request. In
// BenchmarkIterationQueries (100 queries; medians of 3, load average 2.6-3.9) one request
// of 100 took 29 ms, two of 50 25 and 22 ms, three of 34 29 and 27 ms, four of 25 24 and
// 29 ms, the single queries about 100 ms. 25 is as fast as 50 here, keeps the cores of a
// larger Prometheus busy, and halves what a query that fails the batch costs: its 24
// companions are sent again one by one.
const DefaultBatchSize = 25

// versionQuery is the query of one metric for one version.
type versionQuery struct {
	job     job
	version string
	args    map[string]string
	query   string // the PromQL as sent, after substitution, when batchable
}

// promTarget is where and how a Prometheus metric's queries go, resolved once per Collect.
type promTarget struct {
	base    string
	auth    func(*http.Request) error
	red     redactor
	timeout time.Duration
	// key is equal for metrics whose queries may share a request: same base URL, same
	// secret, same authentication, same timeout.
	key string
}

// batchable reports whether a Prometheus metric's query may go in a batch: it has a query
// whose text stays inside the parentheses it is put in, and does not name the batch label.
func batchable(m *v2alpha1.Metric) bool {
	if !isPrometheus(&m.Spec) || len(m.Spec.Mock) > 0 || m.Spec.IsBuiltin() {
		return false
	}
	q, ok := param(&m.Spec, "query")
	return ok && !strings.Contains(q, batchLabel) && balanced(q)
}

// balanced reports whether PromQL text closes every bracket it opens, outside string
// literals and comments, and ends outside a string. Only such text can be wrapped as
// `label_replace((q\n), ...)` without changing the meaning of what follows it; text that is
// not, such as `a) or (b`, is sent alone, where Prometheus judges it as written.
func balanced(q string) bool {
	var stack []byte
	for i := 0; i < len(q); i++ {
		switch ch := q[i]; ch {
		case '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case '"', '\'', '`':
			i++
			for ; i < len(q) && q[i] != ch; i++ {
				if q[i] == '\\' && ch != '`' {
					i++
				}
			}
			if i >= len(q) {
				return false
			}
		case '(', '[', '{':
			stack = append(stack, ")]}"[strings.IndexByte("([{", ch)])
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != ch {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0
}

// promTargets resolves the target of every metric of calls, reading each secret once
// with read. A metric whose target cannot be resolved (its secret cannot be read, its
// authentication or URL is wrong) is absent: its queries take the single-query path,
// which reports why.
func (c *Collector) promTargets(ctx context.Context, calls []versionQuery, read secretSource) map[*v2alpha1.Metric]promTarget {
	type secretRead struct {
		secret *credential.Secret
		err    error
	}
	// Each metric's secret is read and checked at once; read shares the reads of one
	// secret between the metrics that name it.
	secrets := map[*v2alpha1.Metric]secretRead{}
	// started is this loop's own: the reads write secrets while it goes on.
	started := map[*v2alpha1.Metric]bool{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, call := range calls {
		m := call.job.metric
		if started[m] || m.Spec.Secret == nil || *m.Spec.Secret == "" {
			continue
		}
		started[m] = true
		wg.Go(func() {
			s, err := c.metricSecret(ctx, m, time.Duration(m.Spec.Timeout())*time.Second, read)
			mu.Lock()
			secrets[m] = secretRead{secret: s, err: err}
			mu.Unlock()
		})
	}
	wg.Wait()

	out := map[*v2alpha1.Metric]promTarget{}
	for _, call := range calls {
		m := call.job.metric
		if _, ok := out[m]; ok {
			continue
		}
		spec := &m.Spec
		var secret map[string]string
		secretRef := ""
		if s, ok := secrets[m]; ok {
			if s.err != nil {
				continue
			}
			secret, secretRef = s.secret.Data, s.secret.String()
		}
		auth, err := authorizer(spec, secret)
		if err != nil {
			continue
		}
		base := c.prometheusBase(spec)
		if base == "" {
			continue
		}
		if _, err := url.Parse(base); err != nil {
			continue
		}
		timeout := time.Duration(spec.Timeout()) * time.Second
		// The authentication is fully determined by the secret and the fields that use it.
		var authType string
		if spec.AuthType != nil {
			authType = string(*spec.AuthType)
		}
		var headers []string
		for _, h := range spec.HeaderTemplates {
			headers = append(headers, strconv.Quote(h.Name)+":"+strconv.Quote(h.Value))
		}
		key := strings.Join([]string{base, secretRef, authType, strings.Join(headers, ","), timeout.String()}, "\x00")
		out[m] = promTarget{base: base, auth: auth, red: newRedactor(secret), timeout: timeout, key: key}
	}
	return out
}

// promGroup is the queries of one Collect that go to one target.
type promGroup struct {
	target promTarget
	calls  []versionQuery
}

// groupCalls groups the calls by target, in the order of their first call. Calls without
// a target are returned apart.
func groupCalls(calls []versionQuery, targets map[*v2alpha1.Metric]promTarget) (groups []*promGroup, alone []versionQuery) {
	byKey := map[string]*promGroup{}
	for _, call := range calls {
		t, ok := targets[call.job.metric]
		if !ok {
			alone = append(alone, call)
			continue
		}
		g, ok := byKey[t.key]
		if !ok {
			g = &promGroup{target: t}
			byKey[t.key] = g
			groups = append(groups, g)
		}
		g.calls = append(g.calls, call)
	}
	return groups, alone
}

// promMember is what answers some calls of a group: one query as written, or one metric's
// queries for several versions merged.
type promMember struct {
	query string         // as written: the query
	calls []versionQuery // as written: the calls it answers

	merged *mergedQuery
	byKey  [][]versionQuery // merged: byKey[i] are the calls that merged.keys[i] answers
}

// queries are the queries the member sends.
func (m *promMember) queries() []string {
	if m.merged == nil {
		return []string{m.query}
	}
	var out []string
	for _, p := range m.merged.parts {
		out = append(out, p.query)
	}
	return out
}

// allCalls are the calls the member answers.
func (m *promMember) allCalls() []versionQuery {
	if m.merged == nil {
		return m.calls
	}
	var out []versionQuery
	for _, cs := range m.byKey {
		out = append(out, cs...)
	}
	return out
}

// members makes the group's calls into members: with merge, each metric's distinct
// queries merged when mergeVersions can, and every other distinct query as written.
func (g *promGroup) members(merge bool) []*promMember {
	var metrics []*v2alpha1.Metric
	callsOf := map[*v2alpha1.Metric][]versionQuery{}
	for _, call := range g.calls {
		m := call.job.metric
		if _, ok := callsOf[m]; !ok {
			metrics = append(metrics, m)
		}
		callsOf[m] = append(callsOf[m], call)
	}
	var out []*promMember
	written := map[string]*promMember{}
	for _, m := range metrics {
		var queries []string
		byQuery := map[string][]versionQuery{}
		for _, call := range callsOf[m] {
			if _, ok := byQuery[call.query]; !ok {
				queries = append(queries, call.query)
			}
			byQuery[call.query] = append(byQuery[call.query], call)
		}
		if merge && len(queries) > 1 {
			if mq, err := mergeVersions(queries); err == nil {
				member := &promMember{merged: mq}
				for _, q := range queries {
					member.byKey = append(member.byKey, byQuery[q])
				}
				out = append(out, member)
				continue
			}
		}
		for _, q := range queries {
			member, ok := written[q]
			if !ok {
				member = &promMember{query: q}
				written[q] = member
				out = append(out, member)
			}
			member.calls = append(member.calls, byQuery[q]...)
		}
	}
	return out
}

// promBatch is members whose distinct queries, up to a batch size, go in one request.
type promBatch struct {
	members []*promMember
	queries []string       // the distinct queries of members
	index   map[string]int // a query's index in queries
}

func (b *promBatch) add(m *promMember) {
	for _, q := range m.queries() {
		if _, ok := b.index[q]; !ok {
			b.index[q] = len(b.queries)
			b.queries = append(b.queries, q)
		}
	}
	b.members = append(b.members, m)
}

// fresh counts the queries of m that b does not send yet.
func (b *promBatch) fresh(m *promMember) int {
	n := 0
	for _, q := range m.queries() {
		if _, ok := b.index[q]; !ok {
			n++
		}
	}
	return n
}

// split divides the members, in order, into batches of at most size distinct queries (a
// member's queries stay together), of about even sizes.
//
// A merged member does the work of many queries, but counts as the one or two it sends:
// spreading the merged queries over as many requests as the queries they answer would
// have filled (4 instead of 1 at 10 × 10) cost Prometheus 2-3 ms more CPU per iteration
// (BenchmarkIterationQueries), for a gain in wall time that the noise of 2 shared cores
// hid at 10 × 10.
func split(members []*promMember, size int) []*promBatch {
	distinct := map[string]bool{}
	for _, m := range members {
		for _, q := range m.queries() {
			distinct[q] = true
		}
	}
	size = max(size, 2)
	n := max((len(distinct)+size-1)/size, 1)
	target := min(size, (len(distinct)+n-1)/n)
	var out []*promBatch
	var b *promBatch
	for _, m := range members {
		if b == nil || len(b.queries)+b.fresh(m) > target && len(b.queries) > 0 {
			b = &promBatch{index: map[string]int{}}
			out = append(out, b)
		}
		b.add(m)
	}
	return out
}

// batchQuery joins the queries into one whose series carry batchLabel set to the index of
// the query they answer. The newline ends a comment a query may end with.
func batchQuery(queries []string) string {
	var b strings.Builder
	for i, q := range queries {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString("label_replace((")
		b.WriteString(q)
		b.WriteString("\n), \"" + batchLabel + "\", \"" + strconv.Itoa(i) + "\", \"\", \"\")")
	}
	return b.String()
}

// batchOutcome is what became of a batch.
type batchOutcome int

const (
	batchAnswered batchOutcome = iota // the answer holds every query's series
	batchFailed                       // the answer holds the transient error every query gets
	// batchFallback: the answer does not tell the queries' results apart, being a permanent
	// error (one query does not parse, or is a scalar, which label_replace rejects) or a
	// result of an unexpected shape; the queries must be sent one by one.
	batchFallback
)

// batchAnswer is Prometheus' answer to a batch.
type batchAnswer struct {
	parts    []model.Vector // parts[i] are the series of query i
	warnings promv1.Warnings
	attempts int
	failed   Result // batchFailed: the result every query gets
}

// result is the result of a query whose series are v, as the query sent alone would
// have had it, redacted.
func (a *batchAnswer) result(red redactor, v model.Vector) Result {
	r := withWarnings(promValue(v), a.warnings)
	r.Attempts = a.attempts
	r.Reason = red.redact(r.Reason)
	return r
}

// batch sends the queries in one request, with retries, evaluated at at. When the batch is
// answered, the answer holds each query's series; when it fails with an error that is
// transient or the time ran out, the result every query gets, without Query, redacted.
func (c *Collector) batch(ctx context.Context, t promTarget, queries []string, at time.Time) (*batchAnswer, batchOutcome) {
	client, err := promapi.NewClient(promapi.Config{Address: t.base, Client: c.httpClient()})
	if err != nil {
		return nil, batchFallback
	}
	text := batchQuery(queries)
	ans := &batchAnswer{}
	var fallback bool
	r := c.retry(ctx, t.timeout, func(ctx context.Context) (Result, bool) {
		ans.parts, ans.warnings, fallback = nil, nil, false
		sc := &statusClient{Client: client, auth: t.auth}
		v, warnings, _, err := promv1.NewAPI(sc).Query(ctx, text, at)
		if err != nil {
			reason, transient := prometheusError(ctx, err, sc, t.red)
			// A permanent answer is about one of the queries, which alone tell which.
			fallback = !transient && ctx.Err() == nil
			return errorResult("", "%s", reason), transient
		}
		vec, ok := v.(model.Vector)
		if !ok {
			fallback = true
			return errorResult("", "batch result of type %v", v), false
		}
		parts := make([]model.Vector, len(queries))
		for _, s := range vec {
			i, err := strconv.Atoi(string(s.Metric[model.LabelName(batchLabel)]))
			if err != nil || i < 0 || i >= len(queries) {
				// Not Prometheus' evaluation of the batch (a fake, a rewriting proxy).
				fallback = true
				return errorResult("", "a series without %s", batchLabel), false
			}
			parts[i] = append(parts[i], s)
		}
		ans.parts, ans.warnings = parts, warnings
		return Result{State: v2alpha1.MetricStateValue}, false
	})
	if r.State == v2alpha1.MetricStateError {
		if fallback {
			return nil, batchFallback
		}
		r.Reason = t.red.redact(r.Reason)
		ans.failed = r
		return ans, batchFailed
	}
	ans.attempts = r.Attempts
	return ans, batchAnswered
}
