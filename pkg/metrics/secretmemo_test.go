package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

// countingSecrets serves secrets by name and counts the reads; the first read of each
// name in failFirst fails.
type countingSecrets struct {
	failFirst map[string]bool
	mu        sync.Mutex
	reads     map[string]int
}

func (s *countingSecrets) get(_ context.Context, ns, name string) (*credential.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[name]++
	if s.failFirst[name] && s.reads[name] == 1 {
		return nil, errors.New("the API server is overloaded")
	}
	return loopbackSecret(ns, name, map[string][]byte{"token": []byte("t-" + name)}), nil
}

// TestCollectReadsEachSecretOnce: one Collect reads each secret once for every version of
// every metric that names it, and a failed read is not kept.
func TestCollectReadsEachSecretOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"value": 1}`)
	}))
	t.Cleanup(srv.Close)
	withSecret := func(secret string) func(*v2alpha1.MetricSpec) {
		return func(s *v2alpha1.MetricSpec) {
			s.Secret = ptr(secret)
			s.AuthType = ptr(v2alpha1.AuthTypeBearer)
		}
	}
	exp := &v2alpha1.Experiment{
		Spec: v2alpha1.ExperimentSpec{
			VersionInfo: &v2alpha1.VersionInfo{
				Baseline:   v2alpha1.VersionDetail{Name: "v1"},
				Candidates: []v2alpha1.VersionDetail{{Name: "v2"}, {Name: "v3"}},
			},
			Criteria: &v2alpha1.Criteria{Indicators: []string{"ns/a", "ns/b", "ns/c"}},
		},
		Status: v2alpha1.ExperimentStatus{Metrics: []v2alpha1.MetricInfo{
			{Name: "ns/a", MetricObj: *restMetric(srv.URL, withSecret("creds"))},
			{Name: "ns/b", MetricObj: *restMetric(srv.URL, withSecret("creds"))},
			{Name: "ns/c", MetricObj: *restMetric(srv.URL, withSecret("other"))},
		}},
	}
	for _, tc := range []struct {
		name      string
		failFirst map[string]bool
		// wantReads counts the reads of each secret, wantErrors the results in state
		// Error.
		wantReads  map[string]int
		wantErrors int
	}{
		{"every read succeeds", nil, map[string]int{"creds": 1, "other": 1}, 0},
		{"the first read of a secret fails", map[string]bool{"creds": true}, map[string]int{"creds": 2, "other": 1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &countingSecrets{failFirst: tc.failFirst, reads: map[string]int{}}
			c := testCollector(nil)
			c.Secrets = s.get
			got := c.Collect(t.Context(), exp)
			if diff := cmp.Diff(tc.wantReads, s.reads); diff != "" {
				t.Errorf("secret reads (-want +got):\n%s", diff)
			}
			errs, values := 0, 0
			for _, byVersion := range got {
				for _, r := range byVersion {
					switch r.State {
					case v2alpha1.MetricStateError:
						errs++
					case v2alpha1.MetricStateValue:
						values++
					}
				}
			}
			if errs != tc.wantErrors || values != 9-tc.wantErrors {
				t.Errorf("%d errors and %d values, want %d and %d: %+v", errs, values, tc.wantErrors, 9-tc.wantErrors, got)
			}
		})
	}
}
