package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

// The hostile secret values: each looks like PromQL, JSON, a URL, a shell command and a
// template, and starts with a marker that no other text of a run contains.
const (
	hostileToken    = `Zq9TOKENCORE7 "}]) or vector(1) $(id) {{.secret}} %s&x=/../?#`
	hostileUser     = `adminUSERCORE'"`
	hostilePassword = `PaSSCORE9 ';--"} $(reboot) @<.secret>@`
)

// secretForms are the forms in which a leaked secret would show: the values, enough of
// their start to catch a truncated echo, their base64 (a Basic credential, a dumped
// Secret) and their JSON and URL escapes.
func secretForms() []string {
	forms := []string{"TOKENCORE", "USERCORE", "PaSSCORE", "Zq9TOK", "PaSSCO"}
	for _, v := range []string{hostileToken, hostilePassword, hostileUser + ":" + hostilePassword} {
		b64 := base64.StdEncoding.EncodeToString([]byte(v))
		forms = append(forms, v, b64, b64[:12])
	}
	return forms
}

// echoServer answers every request with HTTP 500 and a body that repeats the request's
// credentials, URL and body after pad dashes, like a verbose proxy's error page. It
// records the Authorization headers it got.
type echoServer struct {
	pad   int
	mu    sync.Mutex
	auths []string
}

func (s *echoServer) serve(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "%s upstream refused Authorization: %s X-Api-Key: %s %s %s",
			strings.Repeat("-", s.pad), r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"), r.URL.RequestURI(), body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (s *echoServer) authorizations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

// TestSecuritySecretsNeverLeak runs an experiment whose metrics and finish notification
// use a Secret of hostile values against backends that echo the credentials in their
// errors, and scans the stage logs, the Events, the Experiment and the Tekton results
// for any form of them.
func TestSecuritySecretsNeverLeak(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	// The stages may send it to the loopback servers of the test, and nowhere else.
	if _, err := e.kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Annotations: map[string]string{credential.AllowedHostsAnnotation: "127.0.0.1"}},
		Data: map[string][]byte{
			"token": []byte(hostileToken), "username": []byte(hostileUser), "password": []byte(hostilePassword),
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A Secret of another namespace, which the stages could read, and which may be sent to
	// the test's servers: a Metric of this namespace must not use it.
	other := namespace(t, e)
	if _, err := e.kube.CoreV1().Secrets(other).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "admin-creds", Annotations: map[string]string{credential.AllowedHostsAnnotation: "127.0.0.1"}},
		Data:       map[string][]byte{"token": []byte(hostileToken)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A Prometheus that answers only the right bearer token, so a value proves the secret
	// was used.
	var okMu sync.Mutex
	var okAuths []string
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		okMu.Lock()
		okAuths = append(okAuths, r.Header.Get("Authorization"))
		okMu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+hostileToken {
			http.Error(w, "bad credentials: "+r.Header.Get("Authorization"), http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"7"]}]}}`)
	}))
	t.Cleanup(prom.Close)
	echo, notify := &echoServer{pad: 205}, &echoServer{}
	echoURL, notifyURL := echo.serve(t), notify.serve(t)

	// Three seconds: the echo metrics retry their HTTP 500s until the timeout, and on a
	// loaded machine a 1-second timeout could end before the echo's first answer.
	metric := func(name, spec string) string {
		return "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata:\n  name: " + name + "\nspec:\n  type: Gauge\n  timeoutSeconds: 3\n  secret: creds\n" + spec
	}
	for _, m := range []string{
		metric("bearer-ok", `  provider: prometheus
  authType: Bearer
  urlTemplate: `+prom.URL+`/api/v1/query
  params: [{name: query, value: 'latency{v="$name"}'}]
`),
		metric("bearer-echo", `  provider: prometheus
  authType: Bearer
  urlTemplate: `+echoURL+`/api/v1/query
  params: [{name: query, value: 'latency{v="$name"}'}]
`),
		metric("basic-echo", `  authType: Basic
  urlTemplate: `+echoURL+`/query
  jqExpression: .value
  params: [{name: v, value: $name}]
`),
		// The secret in a header template, as iter8 allows for APIKey.
		metric("apikey-echo", `  authType: APIKey
  urlTemplate: `+echoURL+`/query
  headerTemplates: [{name: X-Api-Key, value: '${token}'}]
  jqExpression: .value
`),
		// A Secret of another namespace: refused, not read.
		strings.Replace(metric("other-ns", `  authType: Bearer
  urlTemplate: `+echoURL+`/query
  jqExpression: .value
`), "secret: creds", "secret: "+other+"/admin-creds", 1),
		// The secret in the URL, as iter8 allowed: refused, nothing sent.
		metric("url-secret", `  authType: APIKey
  urlTemplate: `+echoURL+`/query/${password}
  jqExpression: .value
`),
	} {
		e.apply(t, ns, yamlObject(t, m))
	}
	e.apply(t, ns, yamlObject(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: secret
spec:
  target: `+ns+`/app
  strategy:
    testingPattern: Conformance
    actions:
      finish:
      - task: notification/http
        with:
          url: `+notifyURL+`/hook
          authType: Basic
          secret: creds
          ignoreFailure: false
  criteria:
    # The echo metrics are measured, not judged: an objective whose metric cannot be read
    # fails the experiment (MetricsUnreadable), and a failed experiment runs no finish
    # action, so the notification would never be sent.
    objectives:
    - {metric: bearer-ok, upperLimit: 50}
    indicators: [bearer-echo, basic-echo, apikey-echo, url-secret, other-ns]
  duration:
    intervalSeconds: 1
    iterationsPerLoop: 2
  versionInfo:
    baseline:
      name: v1
`))

	r := e.runStages(t, ns, "secret", nil)
	if r.iterations != 2 {
		t.Errorf("ran %d iterations, want 2", r.iterations)
	}
	exp := e.get(t, ns, "secret")

	// The secret was used: the right credentials reached every backend.
	if d := metricData(exp, "bearer-ok")["v1"]; d.State != v2alpha1.MetricStateValue || d.Value == nil || d.Value.String() != "7" {
		t.Errorf("bearer-ok: %s %v (%s), want the value 7: the token reached Prometheus", d.State, d.Value, d.Reason)
	}
	wantBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte(hostileUser+":"+hostilePassword))
	if got := notify.authorizations(); len(got) != 1 || got[0] != wantBasic {
		t.Errorf("the notification arrived %d times, want once with the Basic credential", len(got))
	}
	for _, name := range []string{"bearer-echo", "basic-echo", "apikey-echo"} {
		d := metricData(exp, name)["v1"]
		if d.State != v2alpha1.MetricStateError || !strings.Contains(d.Reason, "HTTP 500") {
			t.Errorf("%s: %s %q, want an HTTP 500 error", name, d.State, d.Reason)
		}
	}
	// The finish action failed, and says so, without the echo's credentials.
	if c := exp.Status.Condition(v2alpha1.ConditionFailed); c == nil || c.Status != corev1.ConditionTrue || c.Message == nil || !strings.Contains(*c.Message, "finish actions failed") {
		t.Errorf("Failed condition %s, want the finish action's failure", mustJSON(c))
	}

	if d := metricData(exp, "url-secret")["v1"]; d.State != v2alpha1.MetricStateError || !strings.Contains(d.Reason, `urlTemplate refers to key "password" of secret `+ns+`/creds`) {
		t.Errorf("url-secret: %s %q, want the error that secrets never go into URLs", d.State, d.Reason)
	}
	if d := metricData(exp, "other-ns")["v1"]; d.State != v2alpha1.MetricStateError || !strings.Contains(d.Reason, "secrets are read only from namespace "+ns+", not "+other) {
		t.Errorf("other-ns: %s %q, want the error that secrets of other namespaces are not read", d.State, d.Reason)
	}
	for _, name := range []string{"url-secret", "other-ns"} {
		if d := metricData(exp, name)["v1"]; d.Attempts != 0 {
			t.Errorf("%s made %d requests, want none", name, d.Attempts)
		}
	}

	scanForSecrets(t, e, ns, "secret", r)
}

// scanForSecrets looks for every form of the hostile secret in everything a run leaves
// behind: the stage logs, the Events of the namespace, the Experiment and the results.
func scanForSecrets(t *testing.T, e *env, ns, name string, r *run) {
	t.Helper()
	u, err := e.dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	object, _ := u.MarshalJSON()
	events, err := e.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evJSON, _ := json.Marshal(events.Items)
	results, _ := json.Marshal(r.results)
	if len(events.Items) == 0 || len(r.logs.String()) == 0 {
		t.Fatalf("%d events and %d bytes of logs: nothing to scan", len(events.Items), r.logs.Len())
	}
	for where, text := range map[string]string{
		"the stage logs": r.logs.String(), "the Events": string(evJSON),
		"the Experiment": string(object), "the Tekton results": string(results),
	} {
		for _, f := range secretForms() {
			if i := strings.Index(text, f); i >= 0 {
				t.Errorf("%s hold the secret form %q: ...%s...", where, f, text[max(0, i-80):min(len(text), i+len(f)+40)])
			}
		}
	}
}

// TestSecurityNotificationEchoCut fails a finish notification whose server echoes the
// Basic credential where the error's excerpt of the answer cuts it in two: the part
// before the cut is a secret too.
func TestSecurityNotificationEchoCut(t *testing.T) {
	e := cluster(t)
	ns := namespace(t, e)
	if _, err := e.kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Annotations: map[string]string{credential.AllowedHostsAnnotation: "127.0.0.1"}},
		Data:       map[string][]byte{"username": []byte(hostileUser), "password": []byte(hostilePassword)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 205 dashes and " upstream refused Authorization: Basic " end 12 bytes before the
	// 256th: a 256-byte excerpt holds the credential's first 12 characters.
	notify := &echoServer{pad: 205}
	e.apply(t, ns, mockMetric(t, "latency", map[string]string{"v1": "10"}))
	e.apply(t, ns, yamlObject(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: cut
spec:
  target: `+ns+`/app
  strategy:
    testingPattern: Conformance
    actions:
      finish:
      - task: notification/http
        with: {url: `+notify.serve(t)+`/hook, authType: Basic, secret: creds, ignoreFailure: false}
  criteria:
    objectives:
    - {metric: latency, upperLimit: 50}
  duration:
    intervalSeconds: 1
    iterationsPerLoop: 1
  versionInfo:
    baseline:
      name: v1
`))
	r := e.runStages(t, ns, "cut", nil)
	if got := notify.authorizations(); len(got) != 1 {
		t.Fatalf("the notification arrived %d times, want once", len(got))
	}
	if r.finalErr == nil || !strings.Contains(r.finalErr.Error(), "HTTP 500") {
		t.Errorf("finalize error %v, want the notification's HTTP 500", r.finalErr)
	}
	scanForSecrets(t, e, ns, "cut", r)
}

// TestSecurityHostileVariables runs an experiment whose version variables are written to
// break out of a REST query's parameters, a JSON body and a command's arguments: the
// backend and the command get them as one intact value each.
func TestSecurityHostileVariables(t *testing.T) {
	// The finish action's command is the one a cluster admin allowed.
	t.Setenv(actions.ExecAllowlistEnv, "/bin/sh")
	e := cluster(t)
	ns := namespace(t, e)
	dir := t.TempDir()
	hostile := map[string]string{
		"amp":   `a&admin=true#frag`,
		"json":  `x", "admin": true, "y": "`,
		"shell": `$(touch ` + filepath.Join(dir, "pwned") + `); rm -rf / ; ` + "`id`",
		"flag":  `--output=/etc/passwd`,
		"nl":    "line1\nline2",
	}
	names := []string{"amp", "json", "shell", "flag", "nl"}

	type request struct {
		Query url.Values
		Body  map[string]any
	}
	var mu sync.Mutex
	var got []request
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, "body is not a JSON object: "+err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, request{Query: r.URL.Query(), Body: body})
		mu.Unlock()
		fmt.Fprint(w, `{"value": 7}`)
	}))
	t.Cleanup(backend.Close)

	var vars, params, body, args []string
	for _, n := range names {
		vars = append(vars, fmt.Sprintf("      - {name: %s, value: %q}", n, hostile[n]))
		params = append(params, fmt.Sprintf("  - {name: %s, value: '$%s'}", n, n))
		body = append(body, fmt.Sprintf(`"%s": "$%s"`, n, n))
		args = append(args, fmt.Sprintf("          - '{{.%s}}'", n))
	}
	e.apply(t, ns, yamlObject(t, `
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata:
  name: echo
spec:
  type: Gauge
  urlTemplate: `+backend.URL+`/query
  method: POST
  body: '{`+strings.Join(body, ", ")+`}'
  jqExpression: .value
  params:
`+strings.Join(params, "\n")+`
`))
	out := filepath.Join(dir, "args")
	e.apply(t, ns, yamlObject(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: hostile
spec:
  target: `+ns+`/app
  strategy:
    testingPattern: Conformance
    actions:
      finish:
      - task: common/exec
        with:
          cmd: /bin/sh
          args:
          - -c
          - 'printf "%s\0" "$@" > `+out+`'
          - sh
`+strings.Join(args, "\n")+`
  criteria:
    objectives:
    - {metric: echo, upperLimit: 50}
  duration:
    intervalSeconds: 1
    iterationsPerLoop: 1
  versionInfo:
    baseline:
      name: v1
      variables:
`+strings.Join(vars, "\n")+`
`))

	r := e.runStages(t, ns, "hostile", nil)
	if r.finalErr != nil {
		t.Fatalf("finalize: %v", r.finalErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("the backend got %d requests, want 1", len(got))
	}
	wantQuery := url.Values{}
	wantBody := map[string]any{}
	for _, n := range names {
		wantQuery.Set(n, hostile[n])
		wantBody[n] = hostile[n]
	}
	if diff := cmp.Diff(request{Query: wantQuery, Body: wantBody}, got[0]); diff != "" {
		t.Errorf("the backend's request (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the finish command wrote no arguments: %v", err)
	}
	var wantArgs []string
	for _, n := range names {
		wantArgs = append(wantArgs, hostile[n])
	}
	if diff := cmp.Diff(wantArgs, strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")); diff != "" {
		t.Errorf("the command's arguments (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Errorf("a variable's $(...) ran")
	}
}
