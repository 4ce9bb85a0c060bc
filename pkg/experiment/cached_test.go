package experiment

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// cachedStore is a FileStore with a cache that holds a copy of the experiment taken
// earlier, as the API server's watch cache may.
type cachedStore struct {
	*FileStore
	cached           *v2alpha1.Experiment
	gets, cachedGets int
}

func (s *cachedStore) Get(ctx context.Context) (*v2alpha1.Experiment, error) {
	s.gets++
	return s.FileStore.Get(ctx)
}

func (s *cachedStore) GetCached(context.Context) (*v2alpha1.Experiment, error) {
	s.cachedGets++
	return s.cached.DeepCopy(), nil
}

// TestIterateOnACachedCopy: iterate measures on the cache's copy when that copy says the
// iteration is due, and confirms every other decision on the latest experiment; a stale
// copy never records an iteration the latest experiment would not take.
func TestIterateOnACachedCopy(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// prepare runs iterations on the store and returns the copy the cache holds;
		// iterate 2 runs next.
		prepare func(t *testing.T, d *Deps, store *FileStore) *v2alpha1.Experiment
		// wantGets is how many times iterate read the latest experiment.
		wantGets int
		// wantDone is completedIterations afterwards; wantEvents the IterationUpdate
		// events iterate 2 recorded.
		wantDone, wantEvents int32
	}{{
		name: "fresh copy: no read of the latest",
		prepare: func(t *testing.T, d *Deps, store *FileStore) *v2alpha1.Experiment {
			iterate(t, d, 1)
			return get(t, store)
		},
		wantGets: 0, wantDone: 2, wantEvents: 1,
	}, {
		name: "copy from before the experiment ran: confirmed on the latest",
		prepare: func(t *testing.T, d *Deps, store *FileStore) *v2alpha1.Experiment {
			before := get(t, store)
			waiting := v2alpha1.StageWaiting
			before.Status.Stage = &waiting
			iterate(t, d, 1)
			return before
		},
		wantGets: 1, wantDone: 2, wantEvents: 1,
	}, {
		name: "copy an iteration behind: confirmed on the latest",
		prepare: func(t *testing.T, d *Deps, store *FileStore) *v2alpha1.Experiment {
			before := get(t, store)
			iterate(t, d, 1)
			return before
		},
		wantGets: 1, wantDone: 2, wantEvents: 1,
	}, {
		name: "copy with a loop action due: confirmed on the latest",
		prepare: func(t *testing.T, d *Deps, store *FileStore) *v2alpha1.Experiment {
			iterate(t, d, 1)
			c := get(t, store)
			one, task := int32(1), "common/exec"
			c.Spec.Duration.IterationsPerLoop = &one
			c.Spec.Strategy.Actions = v2alpha1.ActionMap{v2alpha1.ActionLoop: {{Task: &task}}}
			return c
		},
		wantGets: 1, wantDone: 2, wantEvents: 1,
	}, {
		name: "copy of a running experiment that ended meanwhile: nothing recorded",
		prepare: func(t *testing.T, d *Deps, store *FileStore) *v2alpha1.Experiment {
			iterate(t, d, 1)
			running := get(t, store)
			if _, err := store.UpdateStatus(context.Background(), func(e *v2alpha1.Experiment) error {
				completed := v2alpha1.StageCompleted
				e.Status.Stage = &completed
				e.Status.MarkCondition(v2alpha1.ConditionCompleted, corev1.ConditionTrue, v2alpha1.ReasonExperimentCompleted, "terminated", metav1.Now())
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return running
		},
		wantGets: 0, wantDone: 1, wantEvents: 0,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			d, store, _ := testDeps(t, canaryYAML, func(int32, string) float64 { return 10 })
			if _, err := Init(ctx, d); err != nil {
				t.Fatal(err)
			}
			cs := &cachedStore{FileStore: store, cached: tc.prepare(t, d, store)}
			d.Store = cs
			before := countEvents(store, v2alpha1.ReasonIterationUpdate)
			r, err := Iterate(ctx, d, 2)
			if err != nil {
				t.Fatal(err)
			}
			if cs.cachedGets != 1 {
				t.Errorf("%d cached reads, want 1", cs.cachedGets)
			}
			if cs.gets != tc.wantGets {
				t.Errorf("%d reads of the latest experiment, want %d", cs.gets, tc.wantGets)
			}
			if r.Iteration != tc.wantDone {
				t.Errorf("result iteration %d, want %d", r.Iteration, tc.wantDone)
			}
			if got := get(t, store).Status.GetCompletedIterations(); got != tc.wantDone {
				t.Errorf("completedIterations %d, want %d", got, tc.wantDone)
			}
			if n := countEvents(store, v2alpha1.ReasonIterationUpdate) - before; n != int(tc.wantEvents) {
				t.Errorf("%d IterationUpdate events, want %d; events: %q", n, tc.wantEvents, store.Events)
			}
		})
	}
}

func iterate(t *testing.T, d *Deps, k int32) {
	t.Helper()
	if _, err := Iterate(context.Background(), d, k); err != nil {
		t.Fatalf("iterate %d: %v", k, err)
	}
}

func get(t *testing.T, s Store) *v2alpha1.Experiment {
	t.Helper()
	exp, err := s.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func countEvents(store *FileStore, reason string) int {
	n := 0
	for _, e := range store.Events {
		if strings.Contains(e, " "+reason+": ") {
			n++
		}
	}
	return n
}

// TestWarmExperimentDecodes: the experiment WarmCodecs decodes is one the stages could
// read, every field known, so that the decode it warms is the real one.
func TestWarmExperimentDecodes(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(warmExperiment))
	dec.DisallowUnknownFields()
	var exp v2alpha1.Experiment
	if err := dec.Decode(&exp); err != nil {
		t.Fatalf("decoding warmExperiment: %v", err)
	}
	if err := exp.Validate(); err != nil {
		t.Errorf("warmExperiment is not valid: %v", err)
	}
}
