// Package experiment holds the four stages of an experiment (init, iterate, assess,
// finalize) and the stores they read and write. The stage binaries and the local runner
// (iter8ctl run) call the same functions; only the Store and the clients differ.
package experiment

import (
	"context"
	"errors"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// ErrNoChange, returned by a mutate function, skips the write.
var ErrNoChange = errors.New("no change")

// ErrGone means the experiment was deleted; stages stop cleanly and patch nothing more.
var ErrGone = errors.New("experiment no longer exists")

// Store loads one experiment and writes it back.
type Store interface {
	// Get returns the latest experiment, or ErrGone.
	Get(ctx context.Context) (*v2alpha1.Experiment, error)
	// UpdateStatus applies mutate to the latest experiment and writes its status. On a
	// conflict it reads the experiment again and re-applies mutate, so a concurrent
	// writer's change is kept and never overwritten with older data.
	UpdateStatus(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error)
	// UpdateSpec does the same for the spec (start actions fill versionInfo in).
	UpdateSpec(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error)
	// Event records a Kubernetes event on the experiment (eventType Normal or Warning).
	Event(ctx context.Context, exp *v2alpha1.Experiment, eventType, reason, message string)
}

// CachedReader is a Store that can also read the experiment from a cache, the API server's
// watch cache: cheaper than Get, and possibly older than the latest experiment, never
// newer. A write made on what it returns is conditional on that copy's resourceVersion,
// so a stale copy ends in a conflict and the change is decided again on the latest. A
// decision that writes nothing has no such check: make it on Get's experiment.
type CachedReader interface {
	GetCached(ctx context.Context) (*v2alpha1.Experiment, error)
}

// MetricGetter reads a Metric object; it returns an error wrapping ErrMetricNotFound when
// there is none.
type MetricGetter interface {
	GetMetric(ctx context.Context, namespace, name string) (*v2alpha1.Metric, error)
}

// ErrMetricNotFound says a referenced metric does not exist.
var ErrMetricNotFound = errors.New("metric not found")
