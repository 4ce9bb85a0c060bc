// Package sampleapp is the sample application of the iter8-tekton tutorials, in the role of
// Knative's knative-route-demo: one process is one revision of a Knative Service. It answers
// GET / with its version and exposes, on /metrics, the request metrics that Knative's
// queue-proxy exports for a revision (revision_app_request_count and the
// revision_app_request_latencies histogram, in milliseconds, with the queue-proxy's labels),
// so the tutorials' Prometheus queries work against it unchanged.
//
// Latency and errors are injectable. Errors follow a deterministic pattern (with error rate r,
// request n fails when floor(n·r) > floor((n−1)·r)), so the first N requests contain exactly
// floor(N·r) errors, spread evenly, and tests are reproducible.
package sampleapp
