// Package tekton holds what the generated Tekton objects of iter8-tekton share: catalog
// metadata, validation with Tekton's own Go validation, and YAML encoding and strict decoding.
package tekton

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tektoncd/pipeline/pkg/apis/config"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"
)

const (
	// Version is the catalog version (label app.kubernetes.io/version; git tag v<Version>).
	Version = "0.1.0"
	// DefaultImage is the stages image the Tasks use unless their image param says otherwise.
	DefaultImage = "ghcr.io/iter8-tools/iter8-tekton/stages:v" + Version
	// MinPipelinesVersion is the oldest Tekton Pipelines release the objects are meant for:
	// they use only the v1 API, when expressions on results, finally and $(tasks.status).
	// The end-to-end tests run Tekton v1.6.0.
	MinPipelinesVersion = "1.0.0"
	// ServiceAccount is the ServiceAccount of config/rbac that PipelineRuns run as.
	ServiceAccount = "iter8-tekton"
)

// CatalogLabels are the labels of every catalog resource.
func CatalogLabels(version string) map[string]string {
	return map[string]string{"app.kubernetes.io/version": version}
}

// CatalogAnnotations are the annotations the Tekton catalog, catlin and Artifact Hub read.
func CatalogAnnotations(displayName, tags string) map[string]string {
	return map[string]string{
		"tekton.dev/pipelines.minVersion": MinPipelinesVersion,
		"tekton.dev/categories":           "Deployment, Testing",
		"tekton.dev/tags":                 tags,
		"tekton.dev/displayName":          displayName,
		"tekton.dev/platforms":            "linux/amd64,linux/arm64",
		// Artifact Hub's Tekton packages read these, as the tektoncd-catalog repositories
		// set them (catalog/artifacthub-repo.yml is the repository's metadata).
		"artifacthub.io/category": "integration-delivery",
		"artifacthub.io/links":    "- name: source\n  url: https://github.com/iter8-tools/iter8-tekton\n",
	}
}

// APIFields are the values of Tekton's enable-api-fields feature flag the objects are
// validated under. They use no beta or alpha field, so they work with "stable".
var APIFields = []string{"stable", "beta"}

// ResolverAPIFields are the values a PipelineRun that references its Pipeline through a
// resolver is validated under: Tekton 1.x treats resolver references as a beta field,
// which its default enable-api-fields ("beta") allows.
var ResolverAPIFields = []string{"beta"}

// contexts returns one validation context per value of fields.
func contexts(fields []string) ([]context.Context, error) {
	var out []context.Context
	for _, f := range fields {
		ff, err := config.NewFeatureFlagsFromMap(map[string]string{"enable-api-fields": f})
		if err != nil {
			return nil, fmt.Errorf("feature flags with enable-api-fields %q: %w", f, err)
		}
		defaults, err := config.NewDefaultsFromMap(map[string]string{})
		if err != nil {
			return nil, fmt.Errorf("default config: %w", err)
		}
		out = append(out, config.ToContext(context.Background(), &config.Config{FeatureFlags: ff, Defaults: defaults}))
	}
	return out, nil
}

// validatable is what Task, Pipeline and PipelineRun of tekton.dev/v1 implement.
type validatable[T any] interface {
	*T
	apis.Defaultable
	apis.Validatable
	DeepCopy() *T
}

// Validate runs Tekton's own defaulting and validation, as its admission webhook does, on
// a copy of obj, once for every value of APIFields. Warnings are not errors.
func Validate[T any, P validatable[T]](obj P) error { return validateUnder(obj, APIFields) }

func validateUnder[T any, P validatable[T]](obj P, fields []string) error {
	ctxs, err := contexts(fields)
	if err != nil {
		return err
	}
	var errs []error
	for i, ctx := range ctxs {
		c := P(obj.DeepCopy())
		c.SetDefaults(ctx)
		if fe := c.Validate(ctx).Filter(apis.ErrorLevel); fe != nil {
			errs = append(errs, fmt.Errorf("enable-api-fields %q: %w", fields[i], fe))
		}
	}
	return errors.Join(errs...)
}

// ValidateTask validates a Task; see Validate.
func ValidateTask(t *v1.Task) error { return Validate(t) }

// ValidatePipeline validates a Pipeline; see Validate.
func ValidatePipeline(p *v1.Pipeline) error { return Validate(p) }

// ValidatePipelineRun validates a PipelineRun; see Validate. A PipelineRun with only
// generateName is validated under a generated name, as the API server names it before
// admission; one that references its Pipeline through a resolver, under ResolverAPIFields.
func ValidatePipelineRun(pr *v1.PipelineRun) error {
	if pr.Name == "" && pr.GenerateName != "" {
		pr = pr.DeepCopy()
		pr.Name = pr.GenerateName + "abcde"
	}
	if ref := pr.Spec.PipelineRef; ref != nil && ref.Resolver != "" {
		return validateUnder(pr, ResolverAPIFields)
	}
	return Validate(pr)
}

// ValidateTaskRun validates a TaskRun like ValidatePipelineRun.
func ValidateTaskRun(tr *v1.TaskRun) error {
	if tr.Name == "" && tr.GenerateName != "" {
		tr = tr.DeepCopy()
		tr.Name = tr.GenerateName + "abcde"
	}
	return Validate(tr)
}

// MarshalYAML encodes a Kubernetes object as YAML without the empty fields that Go's
// encoding of ObjectMeta adds (creationTimestamp: null) and without an empty status.
func MarshalYAML(obj any) ([]byte, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding %T: %w", obj, err)
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		if md["creationTimestamp"] == nil {
			delete(md, "creationTimestamp")
		}
	}
	// An object to apply has no status; Go encodes a TaskRun's zero status as
	// {podName: ""}, which reads as if it meant something.
	if st, ok := m["status"].(map[string]any); ok {
		for k, v := range st {
			if v == nil || v == "" {
				delete(st, k)
			}
		}
		if len(st) == 0 {
			delete(m, "status")
		}
	}
	dropEmpty(m, "computeResources")
	out, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %T as YAML: %w", obj, err)
	}
	return out, nil
}

// dropEmpty deletes the key from every map below v where its value is an empty object:
// Go encodes struct fields such as Step.ComputeResources even when they are zero.
func dropEmpty(v any, key string) {
	switch v := v.(type) {
	case map[string]any:
		if e, ok := v[key].(map[string]any); ok && len(e) == 0 {
			delete(v, key)
		}
		for _, c := range v {
			dropEmpty(c, key)
		}
	case []any:
		for _, c := range v {
			dropEmpty(c, key)
		}
	}
}

// DecodeStrict decodes one YAML or JSON document into obj; a field obj does not have, or
// a field given twice, is an error (Kubernetes' own decoders drop unknown fields).
func DecodeStrict(b []byte, obj any) error {
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		return fmt.Errorf("decoding %T: %w", obj, err)
	}
	return nil
}

// SplitDocuments splits a YAML stream into its documents and drops empty ones.
func SplitDocuments(b []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var docs [][]byte
	for i := 0; ; i++ {
		d, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d: %w", i, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(d, &m); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(m) > 0 {
			docs = append(docs, d)
		}
	}
}
