// Command crdversions finishes the CRDs that controller-gen wrote for v2alpha1: it keeps
// the Metric objects embedded in an Experiment's status whole (controller-gen gives their
// metadata an empty schema, so the API server would prune name and namespace), and adds
// the v2alpha2 version. Both versions share one schema (the Go types accept both
// spellings), so the API server converts between them with the None strategy and no
// webhook is needed. It labels the CRDs PartOfLabel, so that an install can wait for them
// with kubectl wait -l.
package main

import (
	"fmt"
	"os"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// The label of the CRDs: kubectl wait --for=condition=Established crd -l app.kubernetes.io/part-of=iter8-tekton
const (
	partOfKey   = "app.kubernetes.io/part-of"
	partOfValue = "iter8-tekton"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "crdversions:", err)
		os.Exit(1)
	}
}

func run(files []string) error {
	for _, f := range files {
		if err := addVersion(f, "v2alpha2"); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

func addVersion(file, version string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	for i := range crd.Spec.Versions {
		keepEmbeddedMetrics(crd.Spec.Versions[i].Schema)
	}
	if crd.Labels == nil {
		crd.Labels = map[string]string{}
	}
	crd.Labels[partOfKey] = partOfValue
	var storage *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == version {
			return write(file, &crd)
		}
		if crd.Spec.Versions[i].Storage {
			storage = &crd.Spec.Versions[i]
		}
	}
	if storage == nil {
		return fmt.Errorf("no storage version")
	}
	v := *storage.DeepCopy()
	v.Name = version
	v.Storage = false
	crd.Spec.Versions = append(crd.Spec.Versions, v)
	return write(file, &crd)
}

func write(file string, crd *apiextensionsv1.CustomResourceDefinition) error {
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	return os.WriteFile(file, append([]byte("---\n"), out...), 0o644)
}

// keepEmbeddedMetrics replaces the schema of status.metrics[].metricObj with one that
// keeps every field.
func keepEmbeddedMetrics(v *apiextensionsv1.CustomResourceValidation) {
	if v == nil || v.OpenAPIV3Schema == nil {
		return
	}
	status, ok := v.OpenAPIV3Schema.Properties["status"]
	if !ok {
		return
	}
	metrics, ok := status.Properties["metrics"]
	if !ok || metrics.Items == nil || metrics.Items.Schema == nil {
		return
	}
	item := metrics.Items.Schema
	obj, ok := item.Properties["metricObj"]
	if !ok {
		return
	}
	preserve := true
	item.Properties["metricObj"] = apiextensionsv1.JSONSchemaProps{
		Description:            obj.Description,
		Type:                   "object",
		XPreserveUnknownFields: &preserve,
	}
	status.Properties["metrics"] = metrics
	v.OpenAPIV3Schema.Properties["status"] = status
}
