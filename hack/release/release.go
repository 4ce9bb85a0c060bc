// Command release writes the release artifacts of iter8-tekton into a directory, from a
// checkout and the Go toolchain alone (no container engine, no registry):
//
//	release -version v0.2.0 -registry ghcr.io/iter8-tools/iter8-tekton -out dist
//
// dist/ then holds
//
//	oci/            an OCI image layout with three images: the stage image (an index for
//	                linux/amd64 and linux/arm64), the Tasks bundle and the Pipeline bundle
//	                (Tekton's bundle format); push each with crane or oras
//	images.txt      where each image goes, by digest
//	crds.yaml       the CRDs
//	release.yaml    CRDs, namespaces, RBAC, Tasks, Pipeline, the shared Metrics; the Tasks'
//	                default image by digest
//	iter8ctl-OS-ARCH  iter8ctl for linux and darwin, amd64 and arm64
//	SHA256SUMS      of every file above but oci/
//
// The same checkout, version, registry, platforms and toolchain give the same digests.
// -platforms builds fewer (the stage image for the linux ones among them): a release for
// one machine's tests, without cross-compiling for the others.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"
)

func main() {
	if err := Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// The image the generated Tasks and Pipeline name by default (pkg/tekton.DefaultImage):
// a release replaces it with the stage image it built, by digest.
const (
	catalogImage   = "ghcr.io/iter8-tools/iter8-tekton/stages:v0.1.0"
	catalogVersion = "app.kubernetes.io/version: 0.1.0"
	buildinfoVar   = "github.com/iter8-tools/iter8-tekton/pkg/buildinfo.version"
)

// Platforms are the OS/ARCH a release builds iter8ctl for, in the order it builds them;
// the stage image is for the linux ones.
var Platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"}

// Options of a release.
type Options struct {
	Root     string // the checkout
	Out      string // dist/
	Version  string // v0.2.0
	Registry string // where the images go: REGISTRY/stages, REGISTRY/tasks, REGISTRY/pipeline
	CABundle string // the CA roots put into the stage image
	// Platforms is a subset of Platforms, at least one of them linux; empty means all.
	Platforms []string
	Log       io.Writer
}

// Run parses the command line and releases.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := Options{Log: stdout}
	fs.StringVar(&o.Version, "version", "", "the release, vMAJOR.MINOR.PATCH (required)")
	fs.StringVar(&o.Registry, "registry", "ghcr.io/iter8-tools/iter8-tekton", "the repository prefix the images are pushed to")
	fs.StringVar(&o.Out, "out", "dist", "the directory to write")
	fs.StringVar(&o.Root, "root", ".", "the checkout")
	fs.StringVar(&o.CABundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "the CA roots of the stage image")
	platforms := fs.String("platforms", strings.Join(Platforms, ","), "the OS/ARCH to build iter8ctl for, comma-separated (the stage image for the linux ones): fewer for a quick release to test on one machine")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.Platforms = strings.Split(*platforms, ",")
	return Release(ctx, o)
}

// Release writes the artifacts of o.Version into o.Out, which it empties first.
func Release(ctx context.Context, o Options) error {
	if !validVersion(o.Version) {
		return fmt.Errorf("-version %q: want vMAJOR.MINOR.PATCH", o.Version)
	}
	if o.Registry == "" || strings.Contains(o.Registry, "@") || strings.HasSuffix(o.Registry, "/") {
		return fmt.Errorf("-registry %q: want a repository prefix such as ghcr.io/org/iter8-tekton", o.Registry)
	}
	platforms, err := selectPlatforms(o.Platforms)
	if err != nil {
		return err
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Root, err = filepath.Abs(o.Root); err != nil {
		return err
	}
	if err := os.RemoveAll(o.Out); err != nil {
		return err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "iter8-release-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var arches []string
	for _, p := range platforms {
		if goos, arch, _ := strings.Cut(p, "/"); goos == "linux" {
			arches = append(arches, arch)
		}
	}
	fmt.Fprintf(o.Log, "building the stage image for linux/%s\n", strings.Join(arches, ", linux/"))
	stages, err := stageIndex(ctx, o, work, arches)
	if err != nil {
		return err
	}
	stagesDigest, err := stages.Digest()
	if err != nil {
		return err
	}
	stagesRef := o.Registry + "/stages@" + stagesDigest.String()

	files, err := manifests(o, stagesRef)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "building the Tekton bundles\n")
	tasksBundle, err := bundle(files.tasks)
	if err != nil {
		return err
	}
	tasksDigest, err := tasksBundle.Digest()
	if err != nil {
		return err
	}
	tasksRef := o.Registry + "/tasks@" + tasksDigest.String()
	pipeline, err := bundledPipeline(files.pipeline, tasksRef)
	if err != nil {
		return err
	}
	pipelineBundle, err := bundle([]resource{pipeline})
	if err != nil {
		return err
	}
	pipelineDigest, err := pipelineBundle.Digest()
	if err != nil {
		return err
	}
	pipelineRef := o.Registry + "/pipeline@" + pipelineDigest.String()

	lp, err := layout.Write(filepath.Join(o.Out, "oci"), empty.Index)
	if err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := lp.AppendIndex(stages, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.Registry + "/stages:" + o.Version})); err != nil {
		return err
	}
	// In a fixed order: the layout's index is part of what must come out the same.
	for _, b := range []struct {
		ref string
		img v1.Image
	}{{"tasks", tasksBundle}, {"pipeline", pipelineBundle}} {
		if err := lp.AppendImage(b.img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.Registry + "/" + b.ref + ":" + o.Version})); err != nil {
			return err
		}
	}

	write := func(name string, b []byte, mode os.FileMode) error {
		return os.WriteFile(filepath.Join(o.Out, name), b, mode)
	}
	if err := write("crds.yaml", files.crds, 0o644); err != nil {
		return err
	}
	if err := write("release.yaml", files.release, 0o644); err != nil {
		return err
	}
	images := fmt.Sprintf("%s/stages:%s %s\n%s/tasks:%s %s\n%s/pipeline:%s %s\n",
		o.Registry, o.Version, stagesRef, o.Registry, o.Version, tasksRef, o.Registry, o.Version, pipelineRef)
	if err := write("images.txt", []byte(images), 0o644); err != nil {
		return err
	}

	fmt.Fprintf(o.Log, "building iter8ctl for %s\n", strings.Join(platforms, ", "))
	for _, p := range platforms {
		goos, arch, _ := strings.Cut(p, "/")
		if err := goBuild(ctx, o, goos, arch, "./cmd/iter8ctl", filepath.Join(o.Out, "iter8ctl-"+goos+"-"+arch)); err != nil {
			return err
		}
	}
	if err := checksums(o.Out); err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "%s", images)
	return nil
}

// selectPlatforms returns the platforms of Platforms that want names (all when it is
// empty), in Platforms' order, so that the order given does not change the digests.
func selectPlatforms(want []string) ([]string, error) {
	if len(want) == 0 {
		return Platforms, nil
	}
	chosen := map[string]bool{}
	for _, p := range want {
		if !slices.Contains(Platforms, p) {
			return nil, fmt.Errorf("-platforms %q: %q is not one of %s", strings.Join(want, ","), p, strings.Join(Platforms, ", "))
		}
		chosen[p] = true
	}
	var out []string
	linux := false
	for _, p := range Platforms {
		if chosen[p] {
			out = append(out, p)
			linux = linux || strings.HasPrefix(p, "linux/")
		}
	}
	if !linux {
		return nil, fmt.Errorf("-platforms %q: the stage image needs a linux platform", strings.Join(want, ","))
	}
	return out, nil
}

func validVersion(v string) bool {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if !strings.HasPrefix(v, "v") || len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// goBuild builds pkg for goos/arch, static, without paths, VCS stamps or a build ID that
// would differ between two builds of the same tree, and with the release's version.
func goBuild(ctx context.Context, o Options, goos, arch, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X "+buildinfoVar+"="+o.Version, "-o", out, pkg)
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+arch, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %v\n%s", pkg, goos, arch, err, b)
	}
	return nil
}

// stageIndex builds the stage image for linux/ARCH of each of arches: /ko-app/iter8-stage
// and its links /ko-app/<stage> (the Tasks' commands), the CA roots, user 65532, no
// shell, no base image.
func stageIndex(ctx context.Context, o Options, work string, arches []string) (v1.ImageIndex, error) {
	ca, err := os.ReadFile(o.CABundle)
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle: %w", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range arches {
		bin := filepath.Join(work, "iter8-stage-"+arch)
		if err := goBuild(ctx, o, "linux", arch, "./cmd/iter8-stage", bin); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		files := []tarEntry{
			{name: "ko-app/", dir: true},
			{name: "ko-app/iter8-stage", data: data, mode: 0o755},
			{name: "etc/", dir: true},
			{name: "etc/ssl/", dir: true},
			{name: "etc/ssl/certs/", dir: true},
			{name: "etc/ssl/certs/ca-certificates.crt", data: ca, mode: 0o644},
		}
		for _, s := range []string{"init-experiment", "iterate", "assess", "finalize"} {
			files = append(files, tarEntry{name: "ko-app/" + s, link: "iter8-stage"})
		}
		layer, err := tarLayer(files)
		if err != nil {
			return nil, err
		}
		img, err := image([]mutate.Addendum{{Layer: layer}})
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		cf.Config.User = "65532"
		cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return idx, nil
}

// image is an OCI image of the layers, with a config of zero time.
func image(adds []mutate.Addendum) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return mutate.Append(img, adds...)
}

type tarEntry struct {
	name string
	data []byte
	mode int64
	dir  bool
	link string
}

// tarLayer writes the entries in order, with zero times and root ownership, so that the
// layer's digest depends on the contents alone.
func tarLayer(entries []tarEntry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case e.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// resource is one Tekton object of a bundle.
type resource struct {
	kind, name string // task, iter8-assess
	yaml       []byte
}

// bundle is a Tekton bundle: one layer per object, each a tar of one file, annotated with
// the object's apiVersion, kind and name (Tekton's bundle contract).
func bundle(rs []resource) (v1.Image, error) {
	var adds []mutate.Addendum
	for _, r := range rs {
		layer, err := tarLayer([]tarEntry{{name: r.name, data: r.yaml, mode: 0o644}})
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: layer, Annotations: map[string]string{
			"dev.tekton.image.apiVersion": "v1",
			"dev.tekton.image.kind":       r.kind,
			"dev.tekton.image.name":       r.name,
		}})
	}
	return image(adds)
}

// bundledPipeline rewrites the Pipeline's taskRefs by name into references to the Tasks
// bundle by digest, through Tekton's bundles resolver: fetching the Pipeline brings its
// Tasks.
func bundledPipeline(p resource, tasksRef string) (resource, error) {
	var obj map[string]any
	if err := yaml.Unmarshal(p.yaml, &obj); err != nil {
		return resource{}, fmt.Errorf("decoding the Pipeline: %w", err)
	}
	spec, _ := obj["spec"].(map[string]any)
	n := 0
	for _, section := range []string{"tasks", "finally"} {
		tasks, _ := spec[section].([]any)
		for _, t := range tasks {
			pt, _ := t.(map[string]any)
			ref, _ := pt["taskRef"].(map[string]any)
			name, _ := ref["name"].(string)
			if name == "" {
				continue
			}
			pt["taskRef"] = map[string]any{
				"resolver": "bundles",
				"params": []any{
					map[string]any{"name": "bundle", "value": tasksRef},
					map[string]any{"name": "name", "value": name},
					map[string]any{"name": "kind", "value": "task"},
				},
			}
			n++
		}
	}
	if n == 0 {
		return resource{}, errors.New("the Pipeline references no Task by name")
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return resource{}, err
	}
	p.yaml = b
	return p, nil
}

// releaseFiles are the YAML files of a release.
type releaseFiles struct {
	crds, release []byte
	tasks         []resource
	pipeline      resource
}

// manifests reads the generated YAML of the checkout (config/), with the stage image by
// digest and the release's version label.
func manifests(o Options, stagesRef string) (*releaseFiles, error) {
	read := func(rel string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(o.Root, rel))
		if err != nil {
			return nil, err
		}
		s := strings.ReplaceAll(string(b), catalogVersion, "app.kubernetes.io/version: "+strings.TrimPrefix(o.Version, "v"))
		s = strings.ReplaceAll(s, catalogImage, stagesRef)
		return []byte(strings.TrimPrefix(s, "---\n")), nil
	}
	glob := func(pattern string) ([]string, error) {
		m, err := filepath.Glob(filepath.Join(o.Root, pattern))
		if err != nil {
			return nil, err
		}
		sort.Strings(m)
		for i := range m {
			m[i], _ = filepath.Rel(o.Root, m[i])
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("no file matches %s", pattern)
		}
		return m, nil
	}
	var f releaseFiles
	join := func(dst *[]byte, paths ...string) error {
		for _, p := range paths {
			b, err := read(p)
			if err != nil {
				return err
			}
			*dst = append(*dst, []byte("---\n# Source: "+p+"\n")...)
			*dst = append(*dst, b...)
		}
		return nil
	}
	crds, err := glob("config/crd/*.yaml")
	if err != nil {
		return nil, err
	}
	if err := join(&f.crds, crds...); err != nil {
		return nil, err
	}
	var all []string
	all = append(all, crds...)
	all = append(all, "config/install/namespaces.yaml")
	for _, rbac := range []string{"service_account.yaml", "role.yaml", "shared/metric_reader.yaml"} {
		if _, err := os.Stat(filepath.Join(o.Root, "config", "rbac", rbac)); err == nil {
			all = append(all, "config/rbac/"+rbac)
		}
	}
	tekton, err := glob("config/tekton/iter8-*.yaml")
	if err != nil {
		return nil, err
	}
	all = append(all, tekton...)
	metrics, err := glob("config/metrics/[a-z]*.yaml")
	if err != nil {
		return nil, err
	}
	for _, m := range metrics {
		if filepath.Base(m) != "kustomization.yaml" {
			all = append(all, m)
		}
	}
	if err := join(&f.release, all...); err != nil {
		return nil, err
	}
	if !bytes.Contains(f.release, []byte(stagesRef)) {
		return nil, fmt.Errorf("no Task names the catalog image %s: pkg/tekton.DefaultImage changed; update hack/release", catalogImage)
	}
	for _, p := range tekton {
		b, err := read(p)
		if err != nil {
			return nil, err
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(b, &meta); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		r := resource{kind: strings.ToLower(meta.Kind), name: meta.Metadata.Name, yaml: b}
		switch r.kind {
		case "task":
			f.tasks = append(f.tasks, r)
		case "pipeline":
			f.pipeline = r
		}
	}
	if len(f.tasks) != 4 || f.pipeline.name == "" {
		return nil, fmt.Errorf("config/tekton has %d Tasks and Pipeline %q, want the 4 stages and iter8-experiment", len(f.tasks), f.pipeline.name)
	}
	return &f, nil
}

// checksums writes SHA256SUMS of the regular files in dir, in name order.
func checksums(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), e.Name())
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644)
}
