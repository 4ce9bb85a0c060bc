package harness

// LatencySamplesQuery is the mean request latency of a sample-app revision over each 2 s
// step: with Prometheus scraping every second, consecutive points cover disjoint requests.
const LatencySamplesQuery = `sum(rate(revision_app_request_latencies_sum{revision_name='$revision'}[2s])) / sum(rate(revision_app_request_latencies_count{revision_name='$revision'}[2s]))`

// LatencySamplesMetric is a Metric, latency-samples in namespace (none when empty), whose
// samples are LatencySamplesQuery's points at a 2 s step from the Prometheus at promURL:
// what the comparison tests compare.
func LatencySamplesMetric(promURL, namespace string) string {
	ns := ""
	if namespace != "" {
		ns = "\n  namespace: " + namespace
	}
	return `apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata:
  name: latency-samples` + ns + `
spec:
  description: Mean request latency of each 2 s step
  units: milliseconds
  type: Gauge
  provider: prometheus
  urlTemplate: ` + promURL + `/api/v1/query
  params:
  - name: query
    value: "` + LatencySamplesQuery + `"
  jqExpression: .data.result[0].value[1] | tonumber
  samples:
    stepSeconds: 2
`
}
