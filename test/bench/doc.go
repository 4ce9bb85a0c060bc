// Package bench holds the performance benchmarks of the stage binaries (issue 6): iterate
// and assess run as processes against a real kube-apiserver and a real Prometheus scraping
// sample apps, next to the bare minimum the same work needs (one PromQL round trip per
// query and one status write), measured in the same run so that the ratios survive a
// loaded machine. `make bench` runs them; docs/benchmarks.md records the figures.
//
// The package has no code of its own: everything is in its _test.go files.
package bench
