package actions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

// notificationTimeout bounds one notification request, as in iter8.
const notificationTimeout = 5 * time.Second

// The delimiters of notification/http's body and header templates (iter8's taskrunner
// uses them so that {{ }} can appear in a body literally).
const (
	leftDelim  = "@<"
	rightDelim = ">@"
)

// The authTypes of notification/http, and the Secret keys they read.
const (
	authBasic  = "Basic"
	authBearer = "Bearer"
	authAPIKey = "APIKey"
)

type httpTask struct {
	url           string
	method        string
	authType      string
	secretRef     string
	headers       []httpHeader
	body          *template.Template // nil: the default summary body
	ignoreFailure bool
}

type httpHeader struct {
	name  string
	value *template.Template
}

func parseHTTP(with map[string]apiextensionsv1.JSON) (task, *apis.FieldError) {
	d := newWithDecoder(with)
	t := httpTask{method: http.MethodPost, ignoreFailure: true}
	t.url = d.requiredString("url")
	if t.url != "" {
		if err := checkHTTPURL(t.url); err != nil {
			d.fail(apis.ErrInvalidValue(t.url, "url", err.Error()))
		}
	}
	if d.decode("method", &t.method) {
		t.method = strings.ToUpper(t.method)
		switch t.method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch:
		default:
			d.fail(apis.ErrInvalidValue(t.method, "method", "must be GET, POST, PUT or PATCH"))
		}
	}
	var secret string
	if d.decode("secret", &secret) {
		// The namespace is checked against the experiment's when the task runs.
		if _, _, err := credential.ParseRef(secret); err != nil {
			d.fail(apis.ErrInvalidValue(v2alpha1.BoundedValue(secret), "secret", "a secret is name or namespace/name, Kubernetes names"))
		}
		t.secretRef = secret
	}
	if d.decode("authType", &t.authType) {
		switch t.authType {
		case authBasic, authBearer, authAPIKey:
			if secret == "" {
				d.fail(apis.ErrGeneric(fmt.Sprintf("authType %s needs a secret", t.authType), "secret"))
			}
		default:
			d.fail(apis.ErrInvalidValue(t.authType, "authType", "must be Basic, Bearer or APIKey"))
		}
	}
	var headers []v2alpha1.NamedValue
	if d.decode("headers", &headers) {
		for i, h := range headers {
			if h.Name == "" {
				d.fail(apis.ErrMissingField("name").ViaFieldIndex("headers", i))
				continue
			}
			tmpl, err := newHTTPTemplate(h.Name, h.Value)
			if err != nil {
				d.fail(apis.ErrInvalidValue(h.Value, "value", err.Error()).ViaFieldIndex("headers", i))
				continue
			}
			if t.authType != authAPIKey && refersTo(tmpl, "secret") {
				d.fail(apis.ErrInvalidValue(v2alpha1.BoundedValue(h.Value), "value",
					"only the headers of authType APIKey may use .secret").ViaFieldIndex("headers", i))
				continue
			}
			t.headers = append(t.headers, httpHeader{name: h.Name, value: tmpl})
		}
	}
	var body string
	if d.decode("body", &body) {
		tmpl, err := newHTTPTemplate("body", body)
		switch {
		case err != nil:
			d.fail(apis.ErrInvalidValue(body, "body", err.Error()))
		case refersTo(tmpl, "secret"):
			d.fail(apis.ErrInvalidValue(v2alpha1.BoundedValue(body), "body",
				"a secret's values are sent only in authentication (authType, and the headers of authType APIKey), never in a body"))
		}
		t.body = tmpl
	}
	d.decode("ignoreFailure", &t.ignoreFailure)
	if ferr := d.finish(); ferr != nil {
		return nil, ferr
	}
	return t, nil
}

func newHTTPTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Delims(leftDelim, rightDelim).Option("missingkey=error").Parse(text)
}

// checkNamespace checks that the secret is in the experiment's namespace.
func (t httpTask) checkNamespace(namespace string) *apis.FieldError {
	if t.secretRef == "" {
		return nil
	}
	if _, _, err := credential.Resolve(t.secretRef, namespace); err != nil {
		return apis.ErrInvalidValue(t.secretRef, "secret", fmt.Sprintf("secrets are read only from the experiment's namespace (%s)", namespace))
	}
	return nil
}

// refersTo reports whether the template reads the field name of its data (.name, $.name),
// anywhere, which is how a template would reach the Secret.
func refersTo(t *template.Template, name string) bool {
	var walk func(n parse.Node) bool
	walk = func(n parse.Node) bool {
		switch n := n.(type) {
		case nil:
			return false
		case *parse.ListNode:
			if n == nil {
				return false
			}
			for _, c := range n.Nodes {
				if walk(c) {
					return true
				}
			}
		case *parse.ActionNode:
			return walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return false
			}
			for _, c := range n.Cmds {
				if walk(c) {
					return true
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				if walk(a) {
					return true
				}
			}
		case *parse.FieldNode:
			return len(n.Ident) > 0 && n.Ident[0] == name
		case *parse.VariableNode:
			return len(n.Ident) > 1 && n.Ident[0] == "$" && n.Ident[1] == name
		case *parse.ChainNode:
			return walk(n.Node)
		case *parse.StringNode:
			// index . "secret"
			return n.Text == name
		case *parse.IfNode:
			return walk(n.Pipe) || walk(n.List) || walk(n.ElseList)
		case *parse.RangeNode:
			return walk(n.Pipe) || walk(n.List) || walk(n.ElseList)
		case *parse.WithNode:
			return walk(n.Pipe) || walk(n.List) || walk(n.ElseList)
		case *parse.TemplateNode:
			return walk(n.Pipe)
		}
		return false
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && walk(tt.Tree.Root) {
			return true
		}
	}
	return false
}

// notificationSummary is the summary part of notification/http's default body.
type notificationSummary struct {
	WinnerFound                    bool                  `json:"winnerFound"`
	Winner                         *string               `json:"winner,omitempty"`
	VersionRecommendedForPromotion *string               `json:"versionRecommendedForPromotion,omitempty"`
	LastRecommendedWeights         []v2alpha1.WeightData `json:"lastRecommendedWeights,omitempty"`
}

func summarize(exp *v2alpha1.Experiment) notificationSummary {
	var s notificationSummary
	if a := exp.Status.Analysis; a != nil {
		if w := a.WinnerAssessment; w != nil {
			s.WinnerFound = w.Data.WinnerFound
			s.Winner = w.Data.Winner
		}
		if w := a.Weights; w != nil {
			s.LastRecommendedWeights = w.Data
		}
	}
	if r := exp.Status.RecommendedVersion(); r != "" {
		s.VersionRecommendedForPromotion = &r
	}
	return s
}

func (t httpTask) run(ctx context.Context, tc *taskContext) error {
	if t.secretRef != "" && tc.Secrets == nil {
		// Not a failure to notify that ignoreFailure could excuse: the task cannot work
		// at all without a cluster.
		return fmt.Errorf("reading secret %s: notification/http with a secret %w; it cannot run with iter8ctl run", t.secretRef, ErrNeedsCluster)
	}
	if t.secretRef != "" {
		// Where the secret may come from and go to is not a failure to notify either:
		// ignoreFailure does not excuse it.
		if _, _, err := credential.Resolve(t.secretRef, tc.exp.Namespace); err != nil {
			return fmt.Errorf("with.secret: %w", err)
		}
	}
	var red redactor
	err := t.send(ctx, tc, &red)
	if err == nil {
		return nil
	}
	err = errors.New(red.redact(err.Error()))
	if t.ignoreFailure {
		tc.logf("failed, ignored because ignoreFailure is true: %v", err)
		return nil
	}
	return err
}

// send sends the notification. Every secret value it reads is added to red before it is
// used, so the caller can scrub them from the error.
func (t httpTask) send(ctx context.Context, tc *taskContext, red *redactor) error {
	var secret map[string]string
	if t.secretRef != "" {
		ns, name, err := credential.Resolve(t.secretRef, tc.exp.Namespace)
		if err != nil {
			return err
		}
		sec, err := tc.Secrets(ctx, ns, name)
		if err != nil {
			return fmt.Errorf("reading secret %s/%s: %w", ns, name, err)
		}
		for _, v := range sec.Data {
			red.add(v)
		}
		u, err := url.Parse(t.url)
		if err != nil {
			return fmt.Errorf("url: %w", err)
		}
		if err := sec.CheckURL(u); err != nil {
			return err
		}
		secret = sec.Data
	}

	summary := summarize(tc.exp)
	var body []byte
	var data map[string]any
	if t.body != nil || len(t.headers) > 0 {
		var err error
		if data, err = templateData(tc.exp, summary); err != nil {
			return err
		}
	}
	if t.body == nil {
		var err error
		body, err = json.Marshal(struct {
			Summary    notificationSummary  `json:"summary"`
			Experiment *v2alpha1.Experiment `json:"experiment"`
		}{summary, tc.exp})
		if err != nil {
			return fmt.Errorf("encoding the summary: %w", err)
		}
	} else {
		var b bytes.Buffer
		if err := t.body.Execute(&b, data); err != nil {
			return fmt.Errorf("rendering the body: %w", err)
		}
		body = b.Bytes()
	}

	ctx, cancel := context.WithTimeout(ctx, notificationTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, t.method, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("creating the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	headerData := data
	if t.authType == authAPIKey && secret != nil {
		// Only the headers of an API key see the secret.
		headerData = maps.Clone(data)
		headerData["secret"] = secret
	}
	for _, h := range t.headers {
		var b strings.Builder
		if err := h.value.Execute(&b, headerData); err != nil {
			return fmt.Errorf("rendering header %s: %w", h.name, err)
		}
		req.Header.Set(h.name, b.String())
	}
	switch t.authType {
	case authBasic:
		user, err := secretValue(secret, "username")
		if err != nil {
			return err
		}
		pass, err := secretValue(secret, "password")
		if err != nil {
			return err
		}
		red.add(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)))
		req.SetBasicAuth(user, pass)
	case authBearer:
		token, err := secretValue(secret, "token")
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}

	resp, err := tc.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", t.method, t.url, err)
	}
	defer resp.Body.Close()
	// The answer is described, never quoted: the error goes into the Experiment's status,
	// where whoever reads Experiments would read what the hook's host served.
	n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 400 {
		return fmt.Errorf("%s %s: HTTP %s: %s", t.method, t.url, resp.Status, answerShape(resp.Header.Get("Content-Type"), n))
	}
	tc.logf("%s %s: HTTP %s", t.method, t.url, resp.Status)
	return nil
}

// answerShape describes an answer of n bytes by its media type and size.
func answerShape(contentType string, n int64) string {
	size := fmt.Sprintf("%d bytes", n)
	if n >= 64<<10 {
		size = "at least " + size
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt == "" || len(mt) > 100 {
		return fmt.Sprintf("an untyped response of %s (not recorded)", size)
	}
	mt = strconv.Quote(mt)[1 : len(strconv.Quote(mt))-1]
	article := "a"
	if strings.ContainsRune("aeiou", rune(mt[0])) {
		article = "an"
	}
	return fmt.Sprintf("%s %s response of %s (not recorded)", article, mt, size)
}

// templateData is what body and header templates see: .this (the experiment as JSON
// would show it) and .summary. The headers of authType APIKey see .secret too.
func templateData(exp *v2alpha1.Experiment, summary notificationSummary) (map[string]any, error) {
	var this, sum map[string]any
	for _, c := range []struct {
		from any
		to   *map[string]any
	}{{exp, &this}, {summary, &sum}} {
		b, err := json.Marshal(c.from)
		if err != nil {
			return nil, fmt.Errorf("encoding template data: %w", err)
		}
		if err := json.Unmarshal(b, c.to); err != nil {
			return nil, fmt.Errorf("encoding template data: %w", err)
		}
	}
	return map[string]any{"this": this, "summary": sum}, nil
}

// secretValue returns the value of key, naming only the key when it is missing.
func secretValue(secret map[string]string, key string) (string, error) {
	v, ok := secret[key]
	if !ok {
		return "", fmt.Errorf("the secret has no key %q", key)
	}
	return v, nil
}

// redactor scrubs secret values from text that may end up in logs or errors.
type redactor struct{ values []string }

// add adds a value, and the forms that quoting in an error message or a JSON echo gives it.
func (r *redactor) add(v string) {
	if v == "" {
		return
	}
	r.values = append(r.values, v)
	if q := strconv.Quote(v); q[1:len(q)-1] != v {
		r.values = append(r.values, q[1:len(q)-1])
	}
	if j, err := json.Marshal(v); err == nil && string(j[1:len(j)-1]) != v {
		r.values = append(r.values, string(j[1:len(j)-1]))
	}
}

func (r *redactor) redact(s string) string {
	// Longest first, so that a value containing another is scrubbed whole.
	vals := append([]string(nil), r.values...)
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}
