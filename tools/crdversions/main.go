// Command crdversions adds the v2alpha2 version to the CRDs that controller-gen wrote for
// v2alpha1. Both versions share one schema (the Go types accept both spellings), so the
// API server converts between them with the None strategy and no webhook is needed.
package main

import (
	"fmt"
	"os"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
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
	var storage *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == version {
			return nil
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
	out, err := yaml.Marshal(&crd)
	if err != nil {
		return err
	}
	return os.WriteFile(file, append([]byte("---\n"), out...), 0o644)
}
