package localrun

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/experiment"
)

func TestElapsedWriter(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	var out bytes.Buffer
	w := &ElapsedWriter{W: &out, Start: start, Now: func() time.Time { return now }}
	writes := []struct {
		at time.Duration
		s  string
	}{
		{0, "init: started\n"},
		{1500 * time.Millisecond, "iterate 1: "},
		// A line is stamped when it ends.
		{2 * time.Second, "a=1\nassess 1: ok\npartial"},
		{12345 * time.Millisecond, " end\n"},
	}
	for _, wr := range writes {
		now = start.Add(wr.at)
		if n, err := w.Write([]byte(wr.s)); n != len(wr.s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", wr.s, n, err)
		}
	}
	want := "[   0.0s] init: started\n" +
		"[   2.0s] iterate 1: a=1\n" +
		"[   2.0s] assess 1: ok\n" +
		"[  12.3s] partial end\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestLocalMetrics(t *testing.T) {
	metric := func(ns, name, desc string) *v2alpha1.Metric {
		return &v2alpha1.Metric{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v2alpha1.MetricSpec{Description: &desc}}
	}
	l := LocalMetrics("shop", []*v2alpha1.Metric{
		metric("", "user-engagement", "from a file, without namespace"),
		metric("iter8-system", "error-rate", "overrides the builtin"),
		metric("other", "latency", "in its own namespace"),
	})
	var keys []string
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{
		"iter8-system/error-count", "iter8-system/error-rate",
		"iter8-system/latency-50th-percentile", "iter8-system/latency-75th-percentile",
		"iter8-system/latency-90th-percentile", "iter8-system/latency-95th-percentile",
		"iter8-system/latency-99th-percentile", "iter8-system/mean-latency",
		"iter8-system/request-count", "other/latency", "shop/user-engagement",
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	m, err := l.GetMetric(context.Background(), "iter8-system", "error-rate")
	if err != nil || *m.Spec.Description != "overrides the builtin" {
		t.Errorf("iter8-system/error-rate = %v, %v; want the file's", m, err)
	}
	if _, err := l.GetMetric(context.Background(), "default", "user-engagement"); !errors.Is(err, experiment.ErrMetricNotFound) {
		t.Errorf("default/user-engagement: err = %v, want ErrMetricNotFound", err)
	}
}

func TestRunWithoutExperiment(t *testing.T) {
	if _, err := Run(context.Background(), Options{}); err == nil || err.Error() != "no experiment to run" {
		t.Errorf("Run without experiment: err = %v", err)
	}
}
