package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// LeaseAnnotation on a target's Lease names the holding experiment, namespace/name, for
// people and for the messages of the experiments that wait.
const LeaseAnnotation = "iter8.tools/experiment"

// ClusterLease is a TargetLease as a coordination.k8s.io/v1 Lease in the target's
// namespace (TargetLeaseName), held by the experiment's UID. Every change is a create, or
// an update conditional on the Lease's resourceVersion, so of two experiments that race
// for a free or expired Lease exactly one wins: the API server is the arbiter.
type ClusterLease struct {
	// Client is a JSON client of the API server's paths (NewJSONClient).
	Client rest.Interface
	// Now is time.Now when nil.
	Now func() time.Time
}

func (c *ClusterLease) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func leasePath(ns string, name ...string) []string {
	return append([]string{"/apis", "coordination.k8s.io", "v1", "namespaces", ns, "leases"}, name...)
}

func (c *ClusterLease) get(ctx context.Context, ns, name string) (*coordinationv1.Lease, error) {
	raw, err := body(c.Client.Get().AbsPath(leasePath(ns, name)...).Do(ctx))
	if err != nil {
		return nil, err
	}
	var l coordinationv1.Lease
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("decoding lease %s/%s: %w", ns, name, err)
	}
	return &l, nil
}

func (c *ClusterLease) write(ctx context.Context, l *coordinationv1.Lease, create bool) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	var req *rest.Request
	if create {
		req = c.Client.Post().AbsPath(leasePath(l.Namespace)...)
	} else {
		req = c.Client.Put().AbsPath(leasePath(l.Namespace, l.Name)...)
	}
	_, err = body(req.SetHeader("Content-Type", "application/json").Body(b).Do(ctx))
	return err
}

// expired says whether the lease's holder let its term pass without renewing it.
func (c *ClusterLease) expired(l *coordinationv1.Lease) bool {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return true
	}
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return !c.now().Before(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

func heldBy(l *coordinationv1.Lease) string {
	if h := l.Annotations[LeaseAnnotation]; h != "" {
		return h
	}
	if l.Spec.HolderIdentity != nil {
		return *l.Spec.HolderIdentity
	}
	return "unknown"
}

// take sets exp as the holder of l for ttl from now.
func (c *ClusterLease) take(l *coordinationv1.Lease, exp *v2alpha1.Experiment, ttl time.Duration) {
	now := metav1.NewMicroTime(c.now())
	me := leaseHolder(exp)
	secs := int32(min(ttl/time.Second, 1<<30))
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != me {
		l.Spec.AcquireTime = &now
		// Transitions count the changes of holder: none for a new lease.
		transitions := int32(0)
		if l.Spec.LeaseTransitions != nil {
			transitions = *l.Spec.LeaseTransitions
		}
		if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			transitions++
		}
		l.Spec.LeaseTransitions = &transitions
	}
	l.Spec.HolderIdentity = &me
	l.Spec.RenewTime = &now
	l.Spec.LeaseDurationSeconds = &secs
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[LeaseAnnotation] = exp.Namespace + "/" + exp.Name
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels["app.kubernetes.io/managed-by"] = "iter8-tekton"
}

// Acquire is TargetLease.Acquire.
func (c *ClusterLease) Acquire(ctx context.Context, exp *v2alpha1.Experiment, ttl time.Duration) (string, error) {
	ns, name := TargetLeaseName(exp)
	var holder string
	// A conflict or an AlreadyExists says another experiment wrote the lease meanwhile:
	// read it again and decide again.
	err := retry.OnError(conflictBackoff, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || transient(err)
	}, func() error {
		holder = ""
		l, err := c.get(ctx, ns, name)
		switch {
		case apierrors.IsNotFound(err):
			l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
			c.take(l, exp, ttl)
			return c.write(ctx, l, true)
		case err != nil:
			return err
		}
		mine := l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == leaseHolder(exp)
		if !mine && !c.expired(l) {
			holder = heldBy(l)
			return nil
		}
		c.take(l, exp, ttl)
		return c.write(ctx, l, false)
	})
	if err != nil {
		return "", fmt.Errorf("acquiring lease %s/%s of target %s: %w", ns, name, exp.Spec.Target, err)
	}
	return holder, nil
}

// Renew is TargetLease.Renew. A missing lease, or an expired one nobody took, is taken
// again: the experiment still holds the target as far as anyone can tell.
func (c *ClusterLease) Renew(ctx context.Context, exp *v2alpha1.Experiment, ttl time.Duration) error {
	held, err := c.Acquire(ctx, exp, ttl)
	if err != nil {
		return err
	}
	if held != "" {
		return fmt.Errorf("%w: %s", ErrLeaseLost, held)
	}
	return nil
}

// Release is TargetLease.Release: it deletes the lease if exp holds it, on the condition
// that nobody changed it since it was read.
func (c *ClusterLease) Release(ctx context.Context, exp *v2alpha1.Experiment) error {
	ns, name := TargetLeaseName(exp)
	err := retry.OnError(conflictBackoff, func(err error) bool { return apierrors.IsConflict(err) || transient(err) }, func() error {
		l, err := c.get(ctx, ns, name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != leaseHolder(exp) {
			return nil
		}
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &l.UID, ResourceVersion: &l.ResourceVersion}}
		b, err := json.Marshal(&opts)
		if err != nil {
			return err
		}
		_, err = body(c.Client.Delete().AbsPath(leasePath(ns, name)...).SetHeader("Content-Type", "application/json").Body(b).Do(ctx))
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("releasing lease %s/%s of target %s: %w", ns, name, exp.Spec.Target, err)
	}
	return nil
}
