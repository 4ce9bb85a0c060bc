package builtin

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Namespace is where the builtin metrics live; references to them are
// iter8-system/<name>.
const Namespace = "iter8-system"

// Metrics returns the builtin Metric objects, as iter8 installed them
// (install/builtin-metrics/metrics.yaml): provider iter8, and every gauge sampled by
// iter8-system/request-count.
func Metrics() []v2alpha1.Metric {
	sample := Namespace + "/request-count"
	ms := "milliseconds"
	mk := func(name, desc string, t v2alpha1.MetricType, units *string, sampled bool) v2alpha1.Metric {
		provider := "iter8"
		m := v2alpha1.Metric{
			TypeMeta:   metav1.TypeMeta{APIVersion: v2alpha1.V2alpha2.String(), Kind: "Metric"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
			Spec: v2alpha1.MetricSpec{
				Description: &desc,
				Type:        &t,
				Units:       units,
				Provider:    &provider,
			},
		}
		if sampled {
			m.Spec.SampleSize = &sample
		}
		return m
	}
	return []v2alpha1.Metric{
		mk("request-count", "Number of requests sent", v2alpha1.CounterMetricType, nil, false),
		mk("error-count", "Number of responses with HTTP status code 4xx or 5xx, and of requests without a response", v2alpha1.CounterMetricType, nil, false),
		mk("error-rate", "Fraction of requests with error responses", v2alpha1.GaugeMetricType, nil, true),
		mk("mean-latency", "Mean latency", v2alpha1.GaugeMetricType, &ms, true),
		mk("latency-50th-percentile", "50th percentile (median) latency", v2alpha1.GaugeMetricType, &ms, true),
		mk("latency-75th-percentile", "75th percentile latency", v2alpha1.GaugeMetricType, &ms, true),
		mk("latency-90th-percentile", "90th percentile latency", v2alpha1.GaugeMetricType, &ms, true),
		mk("latency-95th-percentile", "95th percentile latency", v2alpha1.GaugeMetricType, &ms, true),
		mk("latency-99th-percentile", "99th percentile latency", v2alpha1.GaugeMetricType, &ms, true),
	}
}

// Has reports whether name is one of the builtin metrics (in Namespace).
func Has(name string) bool {
	for _, m := range Metrics() {
		if m.Name == name {
			return true
		}
	}
	return false
}
