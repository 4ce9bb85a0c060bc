package v2alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of Experiments and Metrics.
const GroupName = "iter8.tools"

var (
	// SchemeGroupVersion is the storage version.
	SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v2alpha1"}
	// V2alpha2 is the later iter8 spelling, served with the same schema.
	V2alpha2 = schema.GroupVersion{Group: GroupName, Version: "v2alpha2"}

	// SchemeBuilder registers the types under both versions.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Resource qualifies a resource name with the group.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

// ExperimentResource and MetricResource are the resources of the storage version.
var (
	ExperimentResource = SchemeGroupVersion.WithResource("experiments")
	MetricResource     = SchemeGroupVersion.WithResource("metrics")
)

func addKnownTypes(scheme *runtime.Scheme) error {
	for _, gv := range []schema.GroupVersion{SchemeGroupVersion, V2alpha2} {
		scheme.AddKnownTypes(gv, &Experiment{}, &ExperimentList{}, &Metric{}, &MetricList{})
		metav1.AddToGroupVersion(scheme, gv)
	}
	return nil
}
