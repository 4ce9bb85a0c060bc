package experiment

import (
	"context"
	"fmt"
	"os"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// FileStore keeps the experiment in memory for a run without a cluster, and writes it to
// Path (when set) after every change so an interrupted run leaves its last state behind.
type FileStore struct {
	Path string

	mu  sync.Mutex
	exp *v2alpha1.Experiment
	// Events are the events recorded, in order, for the runner to show.
	Events []string
}

var _ Store = (*FileStore)(nil)

// NewFileStore holds exp.
func NewFileStore(exp *v2alpha1.Experiment, path string) *FileStore {
	return &FileStore{Path: path, exp: exp.DeepCopy()}
}

// Get returns a copy of the experiment.
func (s *FileStore) Get(context.Context) (*v2alpha1.Experiment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exp.DeepCopy(), nil
}

// UpdateStatus applies mutate and keeps the result.
func (s *FileStore) UpdateStatus(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	return s.update(mutate)
}

// UpdateSpec applies mutate and keeps the result.
func (s *FileStore) UpdateSpec(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	return s.update(mutate)
}

func (s *FileStore) update(mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp := s.exp.DeepCopy()
	if err := mutate(exp); err != nil {
		if err == ErrNoChange {
			return exp, nil
		}
		return nil, err
	}
	s.exp = exp
	if s.Path != "" {
		b, err := yaml.Marshal(exp)
		if err != nil {
			return nil, fmt.Errorf("encoding experiment: %w", err)
		}
		if err := os.WriteFile(s.Path, b, 0o644); err != nil {
			return nil, fmt.Errorf("writing experiment to %s: %w", s.Path, err)
		}
	}
	return exp.DeepCopy(), nil
}

// Event keeps the event.
func (s *FileStore) Event(_ context.Context, _ *v2alpha1.Experiment, eventType, reason, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Events = append(s.Events, eventType+" "+reason+": "+message)
}

// LocalMetrics serves Metric objects given in files (and the builtin ones).
type LocalMetrics map[string]*v2alpha1.Metric

// Add keeps m under namespace/name; a Metric without namespace is kept under "default".
func (l LocalMetrics) Add(m *v2alpha1.Metric) {
	ns := m.Namespace
	if ns == "" {
		ns = "default"
	}
	l[ns+"/"+m.Name] = m
}

// GetMetric returns namespace/name.
func (l LocalMetrics) GetMetric(_ context.Context, namespace, name string) (*v2alpha1.Metric, error) {
	if m, ok := l[namespace+"/"+name]; ok {
		return m.DeepCopy(), nil
	}
	return nil, fmt.Errorf("metric %s/%s: %w", namespace, name, ErrMetricNotFound)
}
