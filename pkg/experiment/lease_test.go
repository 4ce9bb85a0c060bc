package experiment

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func leaseExp(ns, name, uid, target string) *v2alpha1.Experiment {
	return &v2alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)},
		Spec:       v2alpha1.ExperimentSpec{Target: target},
	}
}

func TestTargetLeaseName(t *testing.T) {
	for _, tc := range []struct {
		ns, target string
		wantNS     string
		wantPrefix string
	}{
		{"team", "default/sample-app", "default", "iter8-target-sample-app-"},
		{"team", "sample-app", "team", "iter8-target-sample-app-"},
		{"team", "istio-system/Reviews_V2/extra", "istio-system", "iter8-target-reviews-v2-extra-"},
		{"team", strings.Repeat("a", 300), "team", "iter8-target-" + strings.Repeat("a", 40) + "-"},
	} {
		ns, name := TargetLeaseName(leaseExp(tc.ns, "e", "u", tc.target))
		if ns != tc.wantNS || !strings.HasPrefix(name, tc.wantPrefix) || len(name) > 63 {
			t.Errorf("target %q: lease %s/%s, want %s/%s<hash> of at most 63 bytes", tc.target, ns, name, tc.wantNS, tc.wantPrefix)
		}
	}
	_, a := TargetLeaseName(leaseExp("team", "e", "u", "default/app.x"))
	_, b := TargetLeaseName(leaseExp("team", "e", "u", "default/app-x"))
	if a == b {
		t.Errorf("targets app.x and app-x share lease %s", a)
	}
}

// TestLocalLease: one holder at a time; the holder renews and releases; an expired lease
// is taken, and its former holder's renewal fails with ErrLeaseLost.
func TestLocalLease(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	l := &LocalLease{Now: func() time.Time { return now }}
	ctx := context.Background()
	a := leaseExp("ns-a", "a", "uid-a", "default/app")
	b := leaseExp("ns-b", "b", "uid-b", "default/app")
	other := leaseExp("ns-b", "c", "uid-c", "default/other")

	var got []string
	acquire := func(e *v2alpha1.Experiment) {
		h, err := l.Acquire(ctx, e, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Name+":"+h)
	}
	acquire(a)     // free
	acquire(b)     // held by a
	acquire(a)     // a again: still a's
	acquire(other) // another target
	if err := l.Renew(ctx, a, time.Minute); err != nil {
		t.Errorf("a renews: %v", err)
	}
	if err := l.Release(ctx, b); err != nil {
		t.Fatal(err)
	}
	acquire(b) // b's release did not free a's lease
	now = now.Add(2 * time.Minute)
	acquire(b) // a's lease expired
	if err := l.Renew(ctx, a, time.Minute); !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "ns-b/b") {
		t.Errorf("a renews after b took the expired lease: %v, want ErrLeaseLost naming ns-b/b", err)
	}
	if err := l.Release(ctx, b); err != nil {
		t.Fatal(err)
	}
	acquire(a) // b released it
	want := []string{"a:", "b:ns-a/a", "a:", "c:", "b:ns-a/a", "b:", "a:"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("acquisitions (-want +got):\n%s", diff)
	}
}
