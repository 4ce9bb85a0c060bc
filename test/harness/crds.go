package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// The modules whose own YAML holds the third-party CRDs, and the versions used when the
// project's go.mod does not select one.
const (
	KnativeServingModule  = "knative.dev/serving"
	KnativeServingVersion = "v0.45.0"
	IstioAPIModule        = "istio.io/api"
	IstioAPIVersion       = "v1.28.0"
	TektonPipelineModule  = "github.com/tektoncd/pipeline"
	TektonPipelineVersion = "v1.6.0"
	GatewayAPIModule      = "sigs.k8s.io/gateway-api"
	GatewayAPIVersion     = "v1.4.1"
)

// FieldManager is the field manager of the objects the harness applies.
const FieldManager = "iter8-test-harness"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// KnativeServingCRDs returns the CRD files of Knative Serving
// (config/core/300-resources/*.yaml of knative.dev/serving): services, configurations,
// revisions, routes, domain mappings and the autoscaling ones.
func KnativeServingCRDs(ctx context.Context) ([]string, error) {
	return moduleFiles(ctx, KnativeServingModule, KnativeServingVersion, "config/core/300-resources/*.yaml")
}

// IstioCRDs returns the CRD file of Istio (kubernetes/customresourcedefinitions.gen.yaml of
// istio.io/api): VirtualService, DestinationRule, Gateway and the others.
func IstioCRDs(ctx context.Context) ([]string, error) {
	return moduleFiles(ctx, IstioAPIModule, IstioAPIVersion, "kubernetes/customresourcedefinitions.gen.yaml")
}

// TektonCRDs returns the CRD files of Tekton Pipelines (config/300-crds/*.yaml of
// github.com/tektoncd/pipeline). Without Tekton's webhook only tekton.dev/v1 is served.
func TektonCRDs(ctx context.Context) ([]string, error) {
	return moduleFiles(ctx, TektonPipelineModule, TektonPipelineVersion, "config/300-crds/*.yaml")
}

// GatewayAPICRDs returns the standard-channel CRD files of the Gateway API
// (config/crd/standard/*.yaml of sigs.k8s.io/gateway-api): Gateway, GatewayClass,
// HTTPRoute, GRPCRoute, ReferenceGrant and BackendTLSPolicy.
func GatewayAPICRDs(ctx context.Context) ([]string, error) {
	return moduleFiles(ctx, GatewayAPIModule, GatewayAPIVersion, "config/crd/standard/*.yaml")
}

// ThirdPartyCRDs returns the CRD files of Knative Serving, Istio and Tekton.
func ThirdPartyCRDs(ctx context.Context) ([]string, error) {
	var all []string
	for _, f := range []func(context.Context) ([]string, error){KnativeServingCRDs, IstioCRDs, TektonCRDs} {
		files, err := f(ctx)
		if err != nil {
			return nil, err
		}
		all = append(all, files...)
	}
	return all, nil
}

// ProjectCRDDir is the directory of the project's own CRDs, relative to the repository root.
const ProjectCRDDir = "config/crd"

// AllCRDs returns the CRD files of Knative Serving, Istio, Tekton and the project
// (ProjectCRDDir).
func AllCRDs(ctx context.Context) ([]string, error) {
	files, err := ThirdPartyCRDs(ctx)
	if err != nil {
		return nil, err
	}
	own, err := ProjectCRDs(ProjectCRDDir)
	if err != nil {
		return nil, err
	}
	return append(files, own...), nil
}

// ProjectCRDs returns the *.yaml and *.yml files in dir, a directory of the project's own
// CRDs such as "config/crd" (relative paths are taken from the repository root).
// InstallCRDs ignores documents that are not CRDs (a kustomization.yaml, for example).
func ProjectCRDs(dir string) ([]string, error) {
	if !filepath.IsAbs(dir) {
		root, err := RepoRoot()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(root, dir)
	}
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, fmt.Errorf("listing CRD files in %s: %w", dir, err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("listing CRD files: no *.yaml in %s", dir)
	}
	sort.Strings(files)
	return files, nil
}

func moduleFiles(ctx context.Context, module, version, pattern string) ([]string, error) {
	dir, err := ModuleDir(ctx, module, version)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(pattern)))
	if err != nil {
		return nil, fmt.Errorf("listing %s in %s: %w", pattern, module, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("listing CRD files: no %s in %s (%s)", pattern, module, dir)
	}
	return files, nil
}

// ReadCRDs returns the CustomResourceDefinitions (apiextensions.k8s.io/v1) in the YAML
// files, which may hold several documents each. Other documents are left out.
func ReadCRDs(files ...string) ([]*unstructured.Unstructured, error) {
	var crds []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading CRDs: %w", err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 1; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("reading CRDs from %s, document %d: %w", f, i, err)
			}
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				return nil, fmt.Errorf("reading CRDs from %s, document %d: %w", f, i, err)
			}
			if s := strings.TrimSpace(string(js)); s == "null" || s == "{}" {
				continue // empty document
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(js); err != nil {
				return nil, fmt.Errorf("reading CRDs from %s, document %d: %w", f, i, err)
			}
			if u.GetAPIVersion() != "apiextensions.k8s.io/v1" || u.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if u.GetName() == "" {
				return nil, fmt.Errorf("reading CRDs from %s, document %d: CustomResourceDefinition without a name", f, i)
			}
			crds = append(crds, u)
		}
	}
	return crds, nil
}

// InstallCRDs creates or updates the CustomResourceDefinitions in the YAML files
// (server-side apply, so the 450 KB Tekton CRDs fit) and waits until every one is
// Established. Documents that are not CRDs are ignored; no CRD at all is an error.
// Without a deadline in ctx it gives up after two minutes (the 29 third-party CRDs take
// 3-5 s on an idle 2-core machine, up to 20 s under load).
func InstallCRDs(ctx context.Context, cfg *rest.Config, files ...string) error {
	crds, err := ReadCRDs(files...)
	if err != nil {
		return err
	}
	if len(crds) == 0 {
		return fmt.Errorf("installing CRDs: no CustomResourceDefinition in %s", strings.Join(files, ", "))
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("installing CRDs: creating a client: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	client := dc.Resource(crdGVR)
	for _, crd := range crds {
		if _, err := client.Apply(ctx, crd.GetName(), crd, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return fmt.Errorf("installing CRD %s: %w", crd.GetName(), err)
		}
	}
	pending := make(map[string]string, len(crds)) // name -> last known conditions
	for _, crd := range crds {
		pending[crd.GetName()] = "not read yet"
	}
	for {
		for name := range pending {
			got, err := client.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return fmt.Errorf("waiting for CRD %s: %w", name, err)
			}
			if cond, ok := established(got); ok {
				delete(pending, name)
			} else {
				pending[name] = cond
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var waiting []string
			for name, cond := range pending {
				waiting = append(waiting, name+" ("+cond+")")
			}
			sort.Strings(waiting)
			return fmt.Errorf("waiting for CRDs to be Established: %w: %s", ctx.Err(), strings.Join(waiting, ", "))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// established reports whether the CRD has condition Established=True, and otherwise
// describes its conditions.
func established(crd *unstructured.Unstructured) (string, bool) {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	var desc []string
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if m["type"] == "Established" && m["status"] == "True" {
			return "", true
		}
		desc = append(desc, fmt.Sprintf("%v=%v %v", m["type"], m["status"], m["message"]))
	}
	if len(desc) == 0 {
		return "no conditions", false
	}
	return strings.Join(desc, "; "), false
}
