package metrics

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

// query runs one backend query for one version, retries included. A Prometheus query is
// evaluated at at; the zero time lets Prometheus evaluate at its own now.
func (c *Collector) query(ctx context.Context, m *v2alpha1.Metric, args map[string]string, at time.Time) Result {
	return c.queryWith(ctx, m, args, at, c.secret)
}

// queryWith is query with the metric's secret read by secrets.
func (c *Collector) queryWith(ctx context.Context, m *v2alpha1.Metric, args map[string]string, at time.Time, secrets secretSource) Result {
	spec := &m.Spec
	timeout := time.Duration(spec.Timeout()) * time.Second
	prom := isPrometheus(spec)
	q := c.describeQuery(spec, args, prom)

	sec, err := c.metricSecret(ctx, m, timeout, secrets)
	if err != nil {
		return errorResult(q, "%v", err)
	}
	var secret map[string]string
	if sec != nil {
		secret = sec.Data
	}
	red := newRedactor(secret)
	auth, err := authorizer(spec, secret)
	if err != nil {
		return errorResult(q, "%s", red.redact(err.Error()))
	}
	var r Result
	if prom {
		r = c.prometheus(ctx, spec, args, auth, red, timeout, at)
	} else {
		r = c.rest(ctx, spec, args, auth, red, timeout)
	}
	r.Query = q
	r.Reason = red.redact(r.Reason)
	return r
}

// metricSecret reads the metric's secret, if it has one, and checks that it may be sent
// where the metric sends its queries. A secret named with a namespace must be in the
// experiment's namespace (SecretNamespace) or in the metric's.
func (c *Collector) metricSecret(ctx context.Context, m *v2alpha1.Metric, timeout time.Duration, secrets secretSource) (*credential.Secret, error) {
	spec := &m.Spec
	if spec.Secret == nil || *spec.Secret == "" {
		return nil, nil
	}
	ns, name, err := credential.Resolve(*spec.Secret, c.secretNamespace(), m.Namespace)
	if err != nil {
		return nil, err
	}
	sec, err := secrets(ctx, ns, name, timeout)
	if err != nil {
		return nil, err
	}
	if err := checkSecretTarget(sec, c.endpoint(spec)); err != nil {
		return nil, err
	}
	return sec, nil
}

func (c *Collector) secretNamespace() string {
	if c.SecretNamespace != "" {
		return c.SecretNamespace
	}
	return DefaultSecretNamespace
}

// endpoint is where the metric's queries go, before any parameter is added: the
// Prometheus base URL or the REST urlTemplate.
func (c *Collector) endpoint(spec *v2alpha1.MetricSpec) string {
	if isPrometheus(spec) {
		return c.prometheusBase(spec)
	}
	if spec.URLTemplate == nil {
		return ""
	}
	return strings.TrimSpace(*spec.URLTemplate)
}

// checkSecretTarget says whether the secret may be sent to endpoint. A urlTemplate that
// names a key of the secret was written for iter8, which substituted secrets into URLs;
// its error says that they are not any more, naming the key and never the value.
func checkSecretTarget(sec *credential.Secret, endpoint string) error {
	keys := make([]string, 0, len(sec.Data))
	for k := range sec.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.Contains(endpoint, "$"+k) || strings.Contains(endpoint, "${"+k+"}") {
			return fmt.Errorf("urlTemplate refers to key %q of secret %s: a secret's values are sent only in authentication (authType, headerTemplates), never in a URL", k, sec)
		}
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("secret %s: the metric's URL is not an http(s) URL", sec)
	}
	return sec.CheckURL(u)
}

// isPrometheus reports whether the metric is queried through the Prometheus HTTP API
// client rather than as a generic REST backend with a jq expression.
func isPrometheus(spec *v2alpha1.MetricSpec) bool {
	return spec.Provider != nil && strings.EqualFold(*spec.Provider, "prometheus")
}

// describeQuery returns the query as recorded in the status: the PromQL text for
// Prometheus, else the method, the URL template (never the URL with the secret
// substituted), the encoded parameters and the body.
func (c *Collector) describeQuery(spec *v2alpha1.MetricSpec, args map[string]string, prom bool) string {
	if prom {
		q, ok := param(spec, "query")
		if !ok {
			return ""
		}
		if query, err := SubstitutePromQL(q, args); err == nil {
			return query
		}
		return q
	}
	var b strings.Builder
	b.WriteString(string(method(spec)))
	b.WriteByte(' ')
	if spec.URLTemplate != nil {
		b.WriteString(*spec.URLTemplate)
	}
	if p := params(spec, args); len(p) > 0 {
		b.WriteByte('?')
		b.WriteString(p.Encode())
	}
	if spec.Body != nil && *spec.Body != "" {
		b.WriteByte(' ')
		b.WriteString(Substitute(*spec.Body, args, EscapeJSON))
	}
	return b.String()
}

func method(spec *v2alpha1.MetricSpec) v2alpha1.MethodType {
	if spec.Method != nil && *spec.Method != "" {
		return *spec.Method
	}
	return v2alpha1.GETMethodType
}

func param(spec *v2alpha1.MetricSpec, name string) (string, bool) {
	for _, p := range spec.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// params returns the templated query parameters of a REST metric.
func params(spec *v2alpha1.MetricSpec, args map[string]string) url.Values {
	v := url.Values{}
	for _, p := range spec.Params {
		v.Add(p.Name, Substitute(p.Value, args, nil))
	}
	return v
}

// secretSource reads the secret namespace/name within timeout. The secret it returns is
// shared and never changed.
type secretSource func(ctx context.Context, namespace, name string, timeout time.Duration) (*credential.Secret, error)

// secretMemo reads each secret once for the queries of one Collect: every version of a
// metric with a secret, and every metric that names the same secret, would otherwise read
// it again, one API request per query. A failed read is not kept: the next query that
// needs the secret reads it again, as it would have alone.
type secretMemo struct {
	read secretSource
	mu   sync.Mutex
	refs map[string]*secretEntry
}

type secretEntry struct {
	// mu is held during a read, so that concurrent queries wait for it instead of reading
	// the same secret at the same time.
	mu     sync.Mutex
	secret *credential.Secret
}

func newSecretMemo(read secretSource) *secretMemo {
	return &secretMemo{read: read, refs: map[string]*secretEntry{}}
}

// secret is a secretSource.
func (m *secretMemo) secret(ctx context.Context, namespace, name string, timeout time.Duration) (*credential.Secret, error) {
	ref := namespace + "/" + name
	m.mu.Lock()
	e, ok := m.refs[ref]
	if !ok {
		e = &secretEntry{}
		m.refs[ref] = e
	}
	m.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.secret != nil {
		return e.secret, nil
	}
	s, err := m.read(ctx, namespace, name, timeout)
	if err != nil {
		return nil, err
	}
	e.secret = s
	return s, nil
}

// secret reads the secret namespace/name.
func (c *Collector) secret(ctx context.Context, namespace, name string, timeout time.Duration) (*credential.Secret, error) {
	if c.Secrets == nil {
		return nil, fmt.Errorf("secret %s/%s: no secret reader configured", namespace, name)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := c.Secrets(ctx, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	return s, nil
}

// authorizer returns what authenticates a request: Basic (username and password from the
// secret), Bearer (token from the secret), and for every metric the header templates,
// substituted from the secret when authType is set and is not Basic.
func authorizer(spec *v2alpha1.MetricSpec, secret map[string]string) (func(*http.Request) error, error) {
	headers := map[string]string{}
	subst := spec.AuthType != nil && *spec.AuthType != v2alpha1.AuthTypeBasic && secret != nil
	for _, h := range spec.HeaderTemplates {
		v := h.Value
		if subst {
			v = Substitute(v, secret, nil)
		}
		// The value is checked here so that net/http's error, which might quote it, never
		// becomes a reason.
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("header %q: the value has a line break or NUL", h.Name)
		}
		headers[h.Name] = v
	}
	var user, password, token string
	if spec.AuthType != nil {
		switch *spec.AuthType {
		case v2alpha1.AuthTypeBasic:
			var ok1, ok2 bool
			user, ok1 = secret["username"]
			password, ok2 = secret["password"]
			if !ok1 || !ok2 {
				return nil, errors.New("authType Basic needs username and password in the secret")
			}
		case v2alpha1.AuthTypeBearer:
			var ok bool
			if token, ok = secret["token"]; !ok {
				return nil, errors.New("authType Bearer needs token in the secret")
			}
			if strings.ContainsAny(token, "\r\n\x00") {
				return nil, errors.New("the secret's token has a line break or NUL")
			}
		}
	}
	return func(req *http.Request) error {
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		if spec.AuthType != nil {
			switch *spec.AuthType {
			case v2alpha1.AuthTypeBasic:
				req.SetBasicAuth(user, password)
			case v2alpha1.AuthTypeBearer:
				req.Header.Set("Authorization", "Bearer "+token)
			}
		}
		return nil
	}, nil
}

// redactor removes secret values from text, in the forms they may take in an error
// message: as they are, URL-escaped, JSON-escaped, and as a Basic credential.
//
// Text a backend sent (an error page, a string where a number was expected) is withheld
// altogether when the metric uses a secret, since a backend may echo a credential in a
// form no redaction foresees, such as part of a URL.
type redactor struct{ r *strings.Replacer }

// content returns text that a backend sent, fit for a reason.
func (r redactor) content(s string, n int) string {
	if r.r != nil {
		return "(response withheld: the metric uses a secret)"
	}
	return truncate(s, n)
}

func newRedactor(secret map[string]string) redactor {
	if len(secret) == 0 {
		return redactor{}
	}
	seen := map[string]bool{}
	var olds []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			olds = append(olds, s)
		}
	}
	for _, v := range secret {
		add(v)
		add(url.QueryEscape(v))
		add(url.PathEscape(v))
		add(EscapeJSON(v))
		add(EscapePromQL(v))
		add(strings.TrimSpace(v))
	}
	if u, p := secret["username"], secret["password"]; u != "" || p != "" {
		add(base64.StdEncoding.EncodeToString([]byte(u + ":" + p)))
	}
	// The replacer tries the old strings in argument order; longer first so that a
	// value containing another is removed whole.
	sort.Slice(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	args := make([]string, 0, 2*len(olds))
	for _, o := range olds {
		args = append(args, o, "<redacted>")
	}
	return redactor{r: strings.NewReplacer(args...)}
}

func (r redactor) redact(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// transportReason describes a request error without the URL, which may hold a secret.
func transportReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if isTimeout(err) {
		return "timeout: " + err.Error()
	}
	return err.Error()
}
