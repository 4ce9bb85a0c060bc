package v2alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Metric says how to get one number for one version from a metrics backend.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=iter8
// +kubebuilder:printcolumn:name="type",type="string",JSONPath=".spec.type"
// +kubebuilder:printcolumn:name="description",type="string",JSONPath=".spec.description"
// +kubebuilder:storageversion
type Metric struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec MetricSpec `json:"spec"`
}

// MetricList is a list of Metrics.
//
// +kubebuilder:object:root=true
type MetricList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Metric `json:"items"`
}

// MetricType is Counter or Gauge.
// +kubebuilder:validation:Enum=Counter;Gauge;counter;gauge
type MetricType string

// The metric types.
const (
	CounterMetricType MetricType = "Counter"
	GaugeMetricType   MetricType = "Gauge"
)

// AuthType is how requests to the backend authenticate.
// +kubebuilder:validation:Enum=Basic;Bearer;APIKey
type AuthType string

// The auth types.
const (
	AuthTypeBasic  AuthType = "Basic"
	AuthTypeBearer AuthType = "Bearer"
	AuthTypeAPIKey AuthType = "APIKey"
)

// MethodType is the HTTP method of the query.
// +kubebuilder:validation:Enum=GET;POST
type MethodType string

// The methods.
const (
	GETMethodType  MethodType = "GET"
	POSTMethodType MethodType = "POST"
)

// MissingValuePolicy says what an iteration without a usable value means.
// +kubebuilder:validation:Enum=Fail;ReusePrevious;Ignore
type MissingValuePolicy string

// The policies. Fail is the default: a version without a value does not satisfy the
// objective. ReusePrevious keeps the last good value for up to maxConsecutiveMissing
// iterations. Ignore counts a missing value as satisfying the objective for up to
// maxConsecutiveMissing iterations (the verdict's reason says it was ignored). In every policy a metric that has had no value for
// maxConsecutiveMissing iterations in a row fails its objectives: never a silent pass.
const (
	MissingValueFail          MissingValuePolicy = "Fail"
	MissingValueReusePrevious MissingValuePolicy = "ReusePrevious"
	MissingValueIgnore        MissingValuePolicy = "Ignore"
)

// MetricSpec is the query and how to read its answer.
type MetricSpec struct {
	// Params are the HTTP query parameters; values are templated with version variables.
	// +optional
	Params []NamedValue `json:"params,omitempty"`
	// +optional
	Description *string `json:"description,omitempty"`
	// +optional
	Units *string `json:"units,omitempty"`
	// Type defaults to Gauge.
	// +optional
	Type *MetricType `json:"type,omitempty"`
	// SampleSize references the Metric that counts the samples behind this one.
	// +optional
	SampleSize *string `json:"sampleSize,omitempty"`
	// +optional
	AuthType *AuthType `json:"authType,omitempty"`
	// Method defaults to GET.
	// +optional
	Method *MethodType `json:"method,omitempty"`
	// Body is a JSON body template for POST.
	// +optional
	Body *string `json:"body,omitempty"`
	// Provider names the backend; iter8 is reserved for builtin metrics.
	// +optional
	Provider *string `json:"provider,omitempty"`
	// JQExpression extracts the number from the JSON response.
	// +optional
	JQExpression *string `json:"jqExpression,omitempty"`
	// Secret holds credentials (name or namespace/name).
	// +optional
	Secret *string `json:"secret,omitempty"`
	// +optional
	HeaderTemplates []NamedValue `json:"headerTemplates,omitempty"`
	// URLTemplate is the backend's URL.
	// +optional
	URLTemplate *string `json:"urlTemplate,omitempty"`
	// Mock gives each version a mocked level instead of querying.
	// +optional
	Mock []NamedLevel `json:"mock,omitempty"`

	// OnMissingValue is the policy for an iteration without a value. Defaults to Fail.
	// +optional
	OnMissingValue *MissingValuePolicy `json:"onMissingValue,omitempty"`
	// MaxConsecutiveMissing is how many iterations in a row may lack a value before the
	// objectives on this metric fail whatever the policy. Defaults to 3.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxConsecutiveMissing *int32 `json:"maxConsecutiveMissing,omitempty"`
	// TimeoutSeconds bounds one query, retries included. Defaults to 5, at most 240.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=240
	// +optional
	TimeoutSeconds *int32 `json:"timeoutSeconds,omitempty"`
	// Samples makes the metric yield a sample series per version for comparisons.
	// +optional
	Samples *MetricSamples `json:"samples,omitempty"`
}

// NamedLevel is a mocked level for one version.
type NamedLevel struct {
	Name  string `json:"name"`
	Level Number `json:"level"`
}
