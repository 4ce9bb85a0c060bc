// Package v2alpha1 holds the iter8.tools Experiment and Metric types.
//
// One set of Go types serves both iter8 API versions: v2alpha1 (the storage version, and
// the spelling of the seed tutorial) and v2alpha2. Every field either version used is
// accepted, so no conversion webhook is needed; the getters in accessors.go hide which
// spelling an object used.
//
// +kubebuilder:object:generate=true
// +groupName=iter8.tools
package v2alpha1
