package actions_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func collectExperiment(t *testing.T, with string) *v2alpha1.Experiment {
	t.Helper()
	return experiment(t, `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: load, namespace: default}
spec:
  target: default/app
  strategy:
    testingPattern: Conformance
    actions:
      loop: [{task: metrics/collect, with: `+with+`}]
  versionInfo:
    baseline: {name: v1}
`)
}

func TestCollect(t *testing.T) {
	payload := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"downloaded": true}`))
	}))
	defer payload.Close()
	v1 := []actions.CollectVersion{{Name: "v1", URL: "http://v1.default/"}}
	tests := []struct {
		name string
		with string
		want actions.CollectSpec
	}{{
		name: "defaults",
		with: `{versions: [{name: v1, url: "http://v1.default/"}]}`,
		want: actions.CollectSpec{Versions: v1, NumQueries: 100, QPS: 8, Connections: 4},
	}, {
		name: "time instead of numQueries",
		with: `{time: 30s, versions: [{name: v1, url: "http://v1.default/"}]}`,
		want: actions.CollectSpec{Versions: v1, Time: 30 * time.Second, QPS: 8, Connections: 4},
	}, {
		name: "numQueries takes precedence over time",
		with: `{time: 30s, numQueries: 7, versions: [{name: v1, url: "http://v1.default/"}]}`,
		want: actions.CollectSpec{Versions: v1, NumQueries: 7, QPS: 8, Connections: 4},
	}, {
		name: "everything",
		with: `{numQueries: 40, qps: 2.5, connections: 2, loadOnly: true, payloadStr: "{}", contentType: application/json, versions: [{name: v1, url: "http://v1.default/", headers: {Host: a.example.com}}, {name: pseudo, url: "https://p.default/x"}]}`,
		want: actions.CollectSpec{
			Versions: []actions.CollectVersion{
				{Name: "v1", URL: "http://v1.default/", Headers: map[string]string{"Host": "a.example.com"}},
				{Name: "pseudo", URL: "https://p.default/x"},
			},
			NumQueries: 40, QPS: 2.5, Connections: 2, LoadOnly: true, PayloadStr: "{}", ContentType: "application/json",
		},
	}, {
		name: "payloadURL is downloaded and wins over payloadStr",
		with: `{payloadStr: ignored, payloadURL: "` + payload.URL + `/p.json", versions: [{name: v1, url: "http://v1.default/"}]}`,
		want: actions.CollectSpec{Versions: v1, NumQueries: 100, QPS: 8, Connections: 4, PayloadStr: `{"downloaded": true}`},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := collectExperiment(t, tc.with)
			var got []actions.CollectSpec
			env := actions.Env{Collect: func(_ context.Context, e *v2alpha1.Experiment, spec actions.CollectSpec) error {
				if e != exp {
					t.Error("Collect got another experiment than Run's")
				}
				got = append(got, spec)
				e.Status.Analysis = &v2alpha1.Analysis{AggregatedBuiltinHists: &v2alpha1.AggregatedBuiltinHists{}}
				return nil
			}}
			if err := actions.Run(context.Background(), env, exp, "loop"); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff([]actions.CollectSpec{tc.want}, got); diff != "" {
				t.Errorf("CollectSpec (-want +got):\n%s", diff)
			}
			if exp.Status.Analysis == nil || exp.Status.Analysis.AggregatedBuiltinHists == nil {
				t.Error("what Collect wrote into the experiment is lost")
			}
		})
	}
}

func TestCollectErrors(t *testing.T) {
	payload := httptest.NewServer(http.NotFoundHandler())
	defer payload.Close()
	failing := func(context.Context, *v2alpha1.Experiment, actions.CollectSpec) error {
		return errors.New("fortio: connection refused")
	}
	ok := func(context.Context, *v2alpha1.Experiment, actions.CollectSpec) error { return nil }
	tests := []struct {
		name    string
		with    string
		collect func(context.Context, *v2alpha1.Experiment, actions.CollectSpec) error
		want    string
	}{{
		name: "no load generator",
		with: `{versions: [{name: v1, url: "http://v1/"}]}`,
		want: "loop action, task 0 (metrics/collect): metrics/collect needs the builtin load generator, and none was configured",
	}, {
		name:    "the load generator fails",
		with:    `{versions: [{name: v1, url: "http://v1/"}]}`,
		collect: failing,
		want:    "loop action, task 0 (metrics/collect): collecting builtin metrics: fortio: connection refused",
	}, {
		name:    "the payload cannot be downloaded",
		with:    `{payloadURL: "` + payload.URL + `/p", versions: [{name: v1, url: "http://v1/"}]}`,
		collect: ok,
		want:    "loop action, task 0 (metrics/collect): downloading payload from " + payload.URL + "/p: HTTP 404 Not Found",
	}, {
		name:    "invalid with",
		with:    `{versions: [{name: v1}]}`,
		collect: ok,
		want:    "loop action, task 0 (metrics/collect): invalid: invalid value: : with.versions[0].url",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := actions.Run(context.Background(), actions.Env{Collect: tc.collect}, collectExperiment(t, tc.with), "loop")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Run error:\n%v\nwant it to start with:\n%s", err, tc.want)
			}
		})
	}
}

// TestCollectBounds: every quantity of metrics/collect's load is bounded, so that an
// experiment cannot make the stage (or iter8ctl run's machine) exhaust its memory or
// flood a target; validation names the field, and the load generator is never called.
func TestCollectBounds(t *testing.T) {
	const v1 = `versions: [{name: v1, url: "http://v1/"}]`
	var manyVersions []string
	for i := 0; i <= actions.MaxCollectVersions; i++ {
		manyVersions = append(manyVersions, fmt.Sprintf(`{name: v%d, url: "http://v/"}`, i))
	}
	for _, tc := range []struct {
		name, with, field string
	}{
		{"a million connections", `{connections: 1000000, ` + v1 + `}`, "with.connections"},
		{"no connection", `{connections: 0, ` + v1 + `}`, "with.connections"},
		{"a million queries per second", `{qps: 1000000, ` + v1 + `}`, "with.qps"},
		{"a billion queries", `{numQueries: 1000000000, ` + v1 + `}`, "with.numQueries"},
		{"a day of load", `{time: 24h, ` + v1 + `}`, "with.time"},
		{"a 2 MiB payload", `{payloadStr: "` + strings.Repeat("x", 2<<20) + `", ` + v1 + `}`, "with.payloadStr"},
		{"too many versions", `{versions: [` + strings.Join(manyVersions, ", ") + `]}`, "with.versions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := collectExperiment(t, tc.with)
			fe := actions.Validate(exp)
			if fe == nil || !strings.Contains(fe.Error(), "spec.strategy.actions.loop[0]."+tc.field) {
				t.Errorf("Validate() = %v, want an error at spec.strategy.actions.loop[0].%s", fe, tc.field)
			}
			called := false
			err := actions.Run(context.Background(), actions.Env{Collect: func(context.Context, *v2alpha1.Experiment, actions.CollectSpec) error {
				called = true
				return nil
			}}, exp, "loop")
			if err == nil || called {
				t.Errorf("Run error = %v, load generator called: %t; want it refused before any load", err, called)
			}
		})
	}
}
