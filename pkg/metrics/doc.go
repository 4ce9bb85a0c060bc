// Package metrics turns the Metric objects embedded in an Experiment's status into one
// number per metric and version: it substitutes version variables into the query
// templates, asks the backend (Prometheus through its HTTP API client, any REST backend
// with a jq expression, the builtin load generator's histograms, or mock levels), and
// records for every query whether it produced a value, no data, or an error, and why.
//
// Errors are not failures: Collect never returns an error. A query that fails or finds
// nothing becomes a Result in state Error or NoData with a short reason, and Aggregate
// applies the metric's missing-value policy across iterations. Whether a missing value
// fails an objective is for pkg/analytics to decide.
//
// Secrets (credentials for urlTemplate, headerTemplates and Basic or Bearer auth) never
// appear in a Result: Query is built from the templates before the secret is
// substituted, every reason is redacted of the secret's values, and text a backend sent
// (an error page) is withheld when the metric uses a secret.
//
// Every Prometheus query of one Collect is evaluated at the same instant, so all versions
// are judged on the same data. Queries to the same Prometheus with the same secret,
// authentication and timeout go in few requests: each query is wrapped as
// label_replace((q), "__iter8_q", "<i>", "", "") and the answer is split by that label,
// so each query still gets the result, reason and attempts it would get alone. A request
// that fails for good (a query that does not parse, a scalar) is retried query by query; a
// transient failure is the failure of every query in it.
//
// Before that, a metric's queries for several versions, which differ only in the values
// of label matchers, are merged into one query whose series carry those labels (merge.go:
// the rewrite is made on the parsed PromQL, only for expressions whose per-series
// meaning it keeps, and falls back to the queries as written for anything else), so that
// Prometheus evaluates each metric once per iteration rather than once per version. Each
// version still gets the result its own query would get, and Query is that query.
//
// Version variables are escaped for where they go: PromQL string escapes in a Prometheus
// query (so '$revision' stays one string whatever the value), JSON string escapes in a
// body (so a placeholder belongs inside a JSON string), URL encoding in params.
package metrics
