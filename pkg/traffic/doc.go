// Package traffic reads and writes the traffic weights of an experiment's versions through
// their weightObjRefs (a Knative Service's spec.traffic, an Istio VirtualService's route
// weights, or any integer field of any object), and checks the preconditions of a dark
// launch: that mirrored traffic reaches a revision, and that the revision is ready.
//
// Only the dynamic client is used, with resources resolved from apiVersion and kind through
// discovery (pkg/kindmap), so every CRD works the same way.
//
// Writes never overwrite a human: each JSON patch tests the values last observed before it
// replaces them, and a failed test is reported as ErrExternalChange.
package traffic
