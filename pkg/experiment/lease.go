package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// TargetLease makes one experiment at a time the holder of a target: the one that may
// change its traffic. A lease expires unless its holder renews it, so a run that crashed
// frees its target after the experiment's planned duration and a grace.
type TargetLease interface {
	// Acquire makes exp the holder of its target's lease for ttl, when the lease is free,
	// expired or exp's already. Otherwise it returns the holder's namespace/name.
	Acquire(ctx context.Context, exp *v2alpha1.Experiment, ttl time.Duration) (heldBy string, err error)
	// Renew extends exp's lease to ttl from now. It fails with ErrLeaseLost when another
	// experiment holds the lease.
	Renew(ctx context.Context, exp *v2alpha1.Experiment, ttl time.Duration) error
	// Release ends exp's lease; a lease another experiment holds is left alone.
	Release(ctx context.Context, exp *v2alpha1.Experiment) error
}

// ErrLeaseLost says another experiment holds the target: this one's lease expired and was
// taken.
var ErrLeaseLost = errors.New("the target's lease is held by another experiment")

// LeaseGrace is added to an experiment's remaining planned duration to make its lease's
// term: the time the stages may take beyond the intervals (pod start-up, actions, retries).
const LeaseGrace = 10 * time.Minute

// leaseHolder identifies an experiment as a lease's holder: its UID, which a new
// experiment of the same name does not share. Objects read from files have none.
func leaseHolder(exp *v2alpha1.Experiment) string {
	if exp.UID != "" {
		return string(exp.UID)
	}
	return exp.Namespace + "/" + exp.Name
}

// TargetLeaseName returns the namespace and name of the Lease of an experiment's target:
// in the target's namespace (spec.target is namespace/name; the experiment's namespace
// when it names none), named for the target, with a hash that keeps distinct targets
// apart however they are spelled.
func TargetLeaseName(exp *v2alpha1.Experiment) (namespace, name string) {
	target := exp.Spec.Target
	namespace = exp.Namespace
	rest := target
	if ns, n, ok := strings.Cut(target, "/"); ok && ns != "" {
		namespace, rest = ns, n
	}
	sum := sha256.Sum256([]byte(target))
	var b strings.Builder
	for _, r := range strings.ToLower(rest) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return namespace, "iter8-target-" + strings.Trim(b.String(), "-") + "-" + hex.EncodeToString(sum[:4])
}

// leaseTTL is the term a lease is taken or renewed for when iterations remain: their
// intervals, and LeaseGrace.
func (d *Deps) leaseTTL(exp *v2alpha1.Experiment, remaining int32) time.Duration {
	return time.Duration(max(remaining, 0))*d.interval(exp) + LeaseGrace
}

// renewTarget extends the experiment's lease before iteration k. A lease lost to another
// experiment fails the stage: this one may not change the target's traffic any more. An
// API error is logged and the stage goes on, since the lease has the grace left.
func (d *Deps) renewTarget(ctx context.Context, exp *v2alpha1.Experiment, k int) error {
	if d.Lease == nil {
		return nil
	}
	remaining := exp.Spec.TotalIterations() - int32(k) + 1
	err := d.Lease.Renew(ctx, exp, d.leaseTTL(exp, remaining))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrLeaseLost):
		return &StageError{Reason: v2alpha1.ReasonTargetLost, Message: fmt.Sprintf("target %s: %v", exp.Spec.Target, err)}
	default:
		d.logf("warning: renewing the lease of target %s: %v", exp.Spec.Target, err)
		return nil
	}
}

// releaseTarget ends the experiment's lease, if it holds one.
func (d *Deps) releaseTarget(ctx context.Context, exp *v2alpha1.Experiment) {
	if d.Lease == nil {
		return
	}
	if err := d.Lease.Release(ctx, exp); err != nil {
		d.logf("warning: releasing the lease of target %s: %v (it expires by itself)", exp.Spec.Target, err)
	}
}

// LocalLease is a TargetLease in memory, for experiments run in one process (iter8ctl run
// and tests).
type LocalLease struct {
	// Now is time.Now when nil.
	Now    func() time.Time
	mu     sync.Mutex
	leases map[string]localLease
}

type localLease struct {
	holder, heldBy string
	expires        time.Time
}

func (l *LocalLease) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func localKey(exp *v2alpha1.Experiment) string {
	ns, name := TargetLeaseName(exp)
	return ns + "/" + name
}

// Acquire is TargetLease.Acquire.
func (l *LocalLease) Acquire(_ context.Context, exp *v2alpha1.Experiment, ttl time.Duration) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leases == nil {
		l.leases = map[string]localLease{}
	}
	key, me := localKey(exp), leaseHolder(exp)
	if cur, ok := l.leases[key]; ok && cur.holder != me && l.now().Before(cur.expires) {
		return cur.heldBy, nil
	}
	l.leases[key] = localLease{holder: me, heldBy: exp.Namespace + "/" + exp.Name, expires: l.now().Add(ttl)}
	return "", nil
}

// Renew is TargetLease.Renew.
func (l *LocalLease) Renew(_ context.Context, exp *v2alpha1.Experiment, ttl time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	key, me := localKey(exp), leaseHolder(exp)
	cur, ok := l.leases[key]
	if ok && cur.holder != me && l.now().Before(cur.expires) {
		return fmt.Errorf("%w: %s", ErrLeaseLost, cur.heldBy)
	}
	if l.leases == nil {
		l.leases = map[string]localLease{}
	}
	l.leases[key] = localLease{holder: me, heldBy: exp.Namespace + "/" + exp.Name, expires: l.now().Add(ttl)}
	return nil
}

// Release is TargetLease.Release.
func (l *LocalLease) Release(_ context.Context, exp *v2alpha1.Experiment) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := localKey(exp)
	if cur, ok := l.leases[key]; ok && cur.holder == leaseHolder(exp) {
		delete(l.leases, key)
	}
	return nil
}
