package traffic

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// The Knative Serving resources RevisionReady reads.
var (
	RevisionsGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "revisions"}
	ServicesGVR  = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
)

// RevisionReady tells whether the Knative Revision named revision is ready to serve, with
// a message that says why or why not. It reads the Revision's Ready condition; when there
// is no such Revision object (for example where only Services are synced), it falls back
// to the status of the namespace's Knative Services (RevisionReadyFromServices). A missing
// revision is not ready, not an error.
func RevisionReady(ctx context.Context, dyn dynamic.Interface, namespace, revision string) (bool, string, error) {
	rev, err := dyn.Resource(RevisionsGVR).Namespace(namespace).Get(ctx, revision, metav1.GetOptions{})
	if err == nil {
		ready, msg := RevisionReadyFromRevision(rev)
		return ready, msg, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, "", fmt.Errorf("reading revision %s/%s: %w", namespace, revision, err)
	}
	svcs, err := dyn.Resource(ServicesGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return false, fmt.Sprintf("revision %s/%s not found, and the cluster serves no Knative Services", namespace, revision), nil
	}
	if err != nil {
		return false, "", fmt.Errorf("listing Knative services in namespace %s: %w", namespace, err)
	}
	ready, msg, found := RevisionReadyFromServices(svcs.Items, revision)
	if !found {
		return false, fmt.Sprintf("revision %s/%s not found: no Revision object, and no Knative Service in the namespace names it", namespace, revision), nil
	}
	return ready, msg, nil
}

// condition returns the condition of type t in obj's status.conditions.
func condition(obj *unstructured.Unstructured, t string) (map[string]interface{}, bool) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]interface{})
		if ok && m["type"] == t {
			return m, true
		}
	}
	return nil, false
}

// RevisionReadyFromRevision reads a Knative Revision's Ready condition. A condition from an
// older generation than the object's does not count: the revision is being reconciled.
func RevisionReadyFromRevision(rev *unstructured.Unstructured) (bool, string) {
	name := rev.GetNamespace() + "/" + rev.GetName()
	if og, ok, _ := unstructured.NestedInt64(rev.Object, "status", "observedGeneration"); ok && og < rev.GetGeneration() {
		return false, fmt.Sprintf("revision %s: status is of generation %d, the revision is at %d", name, og, rev.GetGeneration())
	}
	c, ok := condition(rev, "Ready")
	if !ok {
		return false, fmt.Sprintf("revision %s has no Ready condition yet", name)
	}
	status, _ := c["status"].(string)
	reason, _ := c["reason"].(string)
	message, _ := c["message"].(string)
	if status == "True" {
		return true, fmt.Sprintf("revision %s is ready", name)
	}
	msg := fmt.Sprintf("revision %s is not ready: Ready=%s", name, status)
	if reason != "" {
		msg += " " + reason
	}
	if message != "" {
		msg += ": " + message
	}
	return false, msg
}

// RevisionReadyFromServices finds revision in the status of Knative Services: it is ready
// when it is a Service's latestReadyRevisionName or a target of its status.traffic (Knative
// routes only to ready revisions), and not ready when it is only the latest created one.
// found is false when no Service names it.
func RevisionReadyFromServices(svcs []unstructured.Unstructured, revision string) (ready bool, msg string, found bool) {
	var pending string
	for i := range svcs {
		svc := &svcs[i]
		name := svc.GetNamespace() + "/" + svc.GetName()
		if r, _, _ := unstructured.NestedString(svc.Object, "status", "latestReadyRevisionName"); r == revision {
			return true, fmt.Sprintf("revision %s is the latest ready revision of Knative Service %s", revision, name), true
		}
		traffic, _, _ := unstructured.NestedSlice(svc.Object, "status", "traffic")
		for _, t := range traffic {
			m, _ := t.(map[string]interface{})
			if r, _ := m["revisionName"].(string); r == revision {
				return true, fmt.Sprintf("revision %s is routed by Knative Service %s", revision, name), true
			}
		}
		if r, _, _ := unstructured.NestedString(svc.Object, "status", "latestCreatedRevisionName"); r == revision && pending == "" {
			pending = fmt.Sprintf("revision %s is the latest created revision of Knative Service %s but not ready yet", revision, name)
			if c, ok := condition(svc, "Ready"); ok {
				if m, _ := c["message"].(string); m != "" {
					pending += ": " + m
				}
			}
		}
	}
	if pending != "" {
		return false, pending, true
	}
	return false, "", false
}
