package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// ClusterStore keeps the experiment in a Kubernetes cluster and writes its status through
// the status subresource with optimistic concurrency.
type ClusterStore struct {
	// Client reads and writes experiments; see NewJSONClient.
	Client rest.Interface
	// Events records events; nil records none.
	Events    EventCreator
	Namespace string
	Name      string
	// Component is the source of the events, e.g. "iter8-iterate".
	Component string

	// last is the experiment as this store last read or wrote it. A write is first tried
	// on it, and the experiment is read again only when that write conflicts: optimistic
	// concurrency with one round trip per write instead of two.
	mu   sync.Mutex
	last *v2alpha1.Experiment
}

func (s *ClusterStore) remember(exp *v2alpha1.Experiment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = exp.DeepCopy()
}

// latest is a copy of the experiment as last read or written, or nil.
func (s *ClusterStore) latest() *v2alpha1.Experiment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.DeepCopy()
}

var (
	_ Store        = (*ClusterStore)(nil)
	_ CachedReader = (*ClusterStore)(nil)
)

// EventCreator creates Kubernetes Events.
type EventCreator interface {
	CreateEvent(ctx context.Context, ev *corev1.Event) error
}

// RESTEvents creates Events with a client from NewJSONClient. client-go's typed core/v1
// client would link the scheme of every built-in API group and their apply
// configurations into the stage binaries, and register them at every start; the dynamic
// client would convert the Event to a map by reflection and decode the answer into
// another, which no one reads.
type RESTEvents struct {
	Client rest.Interface
}

// CreateEvent creates ev in its namespace.
func (r RESTEvents) CreateEvent(ctx context.Context, ev *corev1.Event) error {
	ev = ev.DeepCopy()
	ev.APIVersion, ev.Kind = "v1", "Event"
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding event: %w", err)
	}
	if _, err := body(r.Client.Post().AbsPath("/api/v1/namespaces", ev.Namespace, "events").Body(b).Do(ctx)); err != nil {
		return fmt.Errorf("creating event %s/%s: %w", ev.Namespace, ev.GenerateName, err)
	}
	return nil
}

// writeBackoff retries transient API errors: 8 attempts over about 6 seconds. It has no
// Cap: wait.Backoff ends the retries as soon as a delay reaches its Cap.
var writeBackoff = wait.Backoff{Steps: 8, Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.1}

// conflictBackoff re-applies a change after a conflict. A conflict says another writer got
// there first, not that the server is unwell: the stage re-reads and re-applies soon, with
// jitter so as not to keep colliding with a periodic writer, and many more times than it
// retries a sick server, since a busy controller writing the same object is no reason to
// fail an experiment.
// 40 attempts over about 4 seconds, the last ones some 400 ms apart.
var conflictBackoff = wait.Backoff{Steps: 40, Duration: 10 * time.Millisecond, Factor: 1.1, Jitter: 0.5}

// transient reports errors worth retrying: conflicts, overload, timeouts, broken connections.
func transient(err error) bool {
	var netErr net.Error
	return apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsUnexpectedServerError(err) || errors.As(err, &netErr)
}

// NewJSONClient returns a client for the API server's paths (AbsPath) that speaks JSON and
// shares hc's connections, for ClusterStore and RESTEvents. The store decodes what it
// returns straight into the typed Experiment: through the dynamic client, the JSON would
// be decoded into a map that then has to be encoded and decoded again, three passes
// instead of one over an object that reaches a megabyte at 50 versions × 50 metrics, and
// the slowest part of a stage's first read after its handshake.
func NewJSONClient(cfg *rest.Config, hc *http.Client) (rest.Interface, error) {
	// The dynamic client's configuration: its serializer turns error answers into
	// StatusErrors, with the server's reason and message.
	c := dynamic.ConfigFor(cfg)
	c.ContentType, c.AcceptContentTypes = "application/json", "application/json"
	rc, err := rest.UnversionedRESTClientForConfigAndClient(c, hc)
	if err != nil {
		return nil, fmt.Errorf("creating the API client: %w", err)
	}
	return rc, nil
}

// WarmCodecs builds encoding/json's caches for the types a stage reads and writes: the
// fields of an Experiment, its status and an Event, some forty struct types in all, and
// decodes an experiment that has one of each part. A stage starts it in a goroutine, so
// that the work, and the first touch of the decoder's code, is done while the stage waits
// for its first connection to the API server instead of after the first answer: in a new
// process the first decode of an experiment took 1-1.6 ms, most of it building these
// caches.
func WarmCodecs() {
	_, _ = json.Marshal(&v2alpha1.Experiment{})
	_, _ = json.Marshal(&corev1.Event{})
	_ = json.Unmarshal([]byte(warmExperiment), &v2alpha1.Experiment{})
}

// warmExperiment has one of each part of an experiment the stages read: WarmCodecs
// decodes it.
const warmExperiment = `{"apiVersion":"iter8.tools/v2alpha2","kind":"Experiment",
"metadata":{"name":"w","namespace":"w","uid":"u","resourceVersion":"1","generation":1,
 "creationTimestamp":"2026-01-01T00:00:00Z","labels":{"a":"b"},"annotations":{"a":"b"},
 "managedFields":[{"manager":"m","operation":"Update","apiVersion":"v1","time":"2026-01-01T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{}}}]},
"spec":{"target":"w/w",
 "versionInfo":{"baseline":{"name":"v1","variables":[{"name":"revision","value":"v1"}],
  "weightObjRef":{"kind":"Service","apiVersion":"serving.knative.dev/v1","name":"w","namespace":"w","fieldPath":".spec.traffic[0].percent"}},
  "candidates":[{"name":"v2","variables":[{"name":"revision","value":"v2"}]}]},
 "strategy":{"testingPattern":"A/B","deploymentPattern":"Progressive",
  "actions":{"loop":[{"task":"metrics/collect","if":"WinnerFound()","with":{"time":"1s","versions":[{"url":"http://w"}]}}]},
  "weights":{"maxCandidateWeight":100,"maxCandidateWeightIncrement":10}},
 "criteria":{"requestCount":"request-count","rewards":[{"metric":"m","preferredDirection":"High"}],"indicators":["m"],
  "objectives":[{"metric":"m","upperLimit":1.5,"lowerLimit":"0","rollback_on_failure":true}]},
 "duration":{"intervalSeconds":10,"iterationsPerLoop":10,"maxLoops":1}},
"status":{"conditions":[{"type":"Completed","status":"False","lastTransitionTime":"2026-01-01T00:00:00Z","reason":"r","message":"m"}],
 "initTime":"2026-01-01T00:00:00Z","startTime":"2026-01-01T00:00:00Z","lastUpdateTime":"2026-01-01T00:00:00Z",
 "stage":"Running","completedIterations":1,"assessedIterations":1,
 "currentWeightDistribution":[{"name":"v1","value":90}],
 "analysis":{
  "aggregatedMetrics":{"provenance":"p","timestamp":"2026-01-01T00:00:00Z","message":"m",
   "data":{"m":{"max":1,"min":0,"data":{"v1":{"max":1,"min":0,"value":0.5,"sampleSize":1,"state":"value","reason":"r","query":"q","attempts":1,"consecutiveMisses":0,"stale":false}}}}},
  "winnerAssessment":{"provenance":"p","timestamp":"2026-01-01T00:00:00Z","data":{"winnerFound":true,"winner":"v2","bestVersions":["v2"]}},
  "versionAssessments":{"provenance":"p","timestamp":"2026-01-01T00:00:00Z","data":{"v1":[true]},"reasons":{"v1":["r"]}},
  "weights":{"provenance":"p","timestamp":"2026-01-01T00:00:00Z","data":[{"name":"v1","value":90}]}},
 "recommendedBaseline":"v1","versionRecommendedForPromotion":"v1","message":"m",
 "metrics":[{"name":"m","metricObj":{"metadata":{"name":"m"},"spec":{"params":[{"name":"query","value":"q"}],
  "description":"d","units":"u","type":"Gauge","sampleSize":"s","provider":"prometheus","jqExpression":".","urlTemplate":"http://p",
  "headerTemplates":[{"name":"h","value":"v"}],"mock":[{"name":"v1","level":1}]}}}]}}`

// experimentsPath is the path of the experiments of namespace ns, or of every namespace
// when ns is "", followed by the segments.
func experimentsPath(ns string, segments ...string) []string {
	gv := v2alpha1.SchemeGroupVersion
	p := []string{"/apis", gv.Group, gv.Version}
	if ns != "" {
		p = append(p, "namespaces", ns)
	}
	return append(append(p, v2alpha1.ExperimentResource.Resource), segments...)
}

// body returns the body of a successful answer, or the answer's error.
func body(res rest.Result) ([]byte, error) {
	if err := res.Error(); err != nil {
		return nil, err
	}
	return res.Raw()
}

// Get reads the experiment, retrying transient errors.
func (s *ClusterStore) Get(ctx context.Context) (*v2alpha1.Experiment, error) {
	return s.get(ctx, false)
}

// GetCached reads the experiment from the API server's watch cache (resourceVersion 0):
// about half the server time of Get's read from etcd, and no load on etcd. The next write
// goes on this copy, so it conflicts if the copy was stale (see CachedReader).
func (s *ClusterStore) GetCached(ctx context.Context) (*v2alpha1.Experiment, error) {
	return s.get(ctx, true)
}

func (s *ClusterStore) get(ctx context.Context, cached bool) (*v2alpha1.Experiment, error) {
	var raw []byte
	err := retry.OnError(writeBackoff, transient, func() error {
		req := s.Client.Get().AbsPath(experimentsPath(s.Namespace, s.Name)...)
		if cached {
			req = req.Param("resourceVersion", "0")
		}
		var err error
		raw, err = body(req.Do(ctx))
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("experiment %s/%s: %w", s.Namespace, s.Name, ErrGone)
	}
	if err != nil {
		return nil, fmt.Errorf("reading experiment %s/%s: %w", s.Namespace, s.Name, err)
	}
	exp, err := s.decode(raw)
	if err != nil {
		return nil, err
	}
	s.remember(exp)
	return exp, nil
}

// decode decodes the experiment the server sent.
func (s *ClusterStore) decode(raw []byte) (*v2alpha1.Experiment, error) {
	exp := &v2alpha1.Experiment{}
	if err := json.Unmarshal(raw, exp); err != nil {
		return nil, fmt.Errorf("decoding experiment %s/%s: %w", s.Namespace, s.Name, err)
	}
	return exp, nil
}

// UpdateStatus mutates and writes the status until the write does not conflict, re-reading
// the experiment after a conflict.
func (s *ClusterStore) UpdateStatus(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	return s.update(ctx, mutate, true)
}

// UpdateSpec does the same for the object (spec and metadata).
func (s *ClusterStore) UpdateSpec(ctx context.Context, mutate func(*v2alpha1.Experiment) error) (*v2alpha1.Experiment, error) {
	return s.update(ctx, mutate, false)
}

func (s *ClusterStore) update(ctx context.Context, mutate func(*v2alpha1.Experiment) error, status bool) (*v2alpha1.Experiment, error) {
	var out *v2alpha1.Experiment
	base := s.latest()
	err := retry.RetryOnConflict(conflictBackoff, func() error {
		b := base
		base = nil // after a conflict, the latest from the server
		return s.updateOnce(ctx, mutate, status, b, &out)
	})
	if err != nil {
		if errors.Is(err, ErrGone) {
			return nil, err
		}
		return nil, fmt.Errorf("writing experiment %s/%s: %w", s.Namespace, s.Name, err)
	}
	return out, nil
}

// updateOnce mutates base (or, when nil, the experiment it reads) and writes it, retrying
// transient errors other than a conflict, which it returns for update to re-apply.
func (s *ClusterStore) updateOnce(ctx context.Context, mutate func(*v2alpha1.Experiment) error, status bool, base *v2alpha1.Experiment, out **v2alpha1.Experiment) error {
	return retry.OnError(writeBackoff, func(err error) bool { return transient(err) && !apierrors.IsConflict(err) }, func() error {
		exp := base
		base = nil // a retry reads the experiment again
		if exp != nil && mutate(exp) != nil {
			// No change, or an error, by the remembered experiment: decide again on the
			// server's, since no write will check that decision against it.
			exp = nil
		}
		if exp == nil {
			var err error
			if exp, err = s.Get(ctx); err != nil {
				return err
			}
			if err := mutate(exp); err != nil {
				if errors.Is(err, ErrNoChange) {
					*out = exp
					return nil
				}
				return err
			}
		}
		if exp.APIVersion == "" {
			exp.APIVersion, exp.Kind = v2alpha1.SchemeGroupVersion.String(), "Experiment"
		}
		sent, err := json.Marshal(exp)
		if err != nil {
			return fmt.Errorf("encoding experiment %s/%s: %w", s.Namespace, s.Name, err)
		}
		segments := []string{s.Name}
		if status {
			segments = append(segments, "status")
		}
		raw, err := body(s.Client.Put().AbsPath(experimentsPath(s.Namespace, segments...)...).
			Param("fieldManager", s.Component).Body(sent).Do(ctx))
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("experiment %s/%s: %w", s.Namespace, s.Name, ErrGone)
		}
		if err != nil {
			return err
		}
		if *out, err = s.decode(raw); err != nil {
			return err
		}
		s.remember(*out)
		return nil
	})
}

// Event records a Kubernetes event; failures to record are not the experiment's failures.
func (s *ClusterStore) Event(ctx context.Context, exp *v2alpha1.Experiment, eventType, reason, message string) {
	if s.Events == nil || exp == nil {
		return
	}
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: exp.Name + ".", Namespace: exp.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: v2alpha1.SchemeGroupVersion.String(), Kind: "Experiment",
			Namespace: exp.Namespace, Name: exp.Name, UID: exp.UID, ResourceVersion: exp.ResourceVersion,
		},
		Reason: reason, Message: message, Type: eventType,
		Source:         corev1.EventSource{Component: s.Component},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "iter8.tools/" + s.Component, ReportingInstance: s.Component,
	}
	_ = s.Events.CreateEvent(ctx, ev)
}

// ClusterMetrics reads Metric objects from the cluster.
type ClusterMetrics struct {
	Dynamic dynamic.Interface
}

// GetMetric reads namespace/name.
func (c ClusterMetrics) GetMetric(ctx context.Context, namespace, name string) (*v2alpha1.Metric, error) {
	var u *unstructured.Unstructured
	err := retry.OnError(writeBackoff, transient, func() error {
		var err error
		u, err = c.Dynamic.Resource(v2alpha1.MetricResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("metric %s/%s: %w", namespace, name, ErrMetricNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading metric %s/%s: %w", namespace, name, err)
	}
	b, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	m := &v2alpha1.Metric{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decoding metric %s/%s: %w", namespace, name, err)
	}
	return m, nil
}
