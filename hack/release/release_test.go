package main

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"sigs.k8s.io/yaml"
)

const testRegistry = "registry.example.com/iter8-tekton"

func release(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "dist")
	err := Release(context.Background(), Options{Root: "../..", Out: out, Version: "v0.2.0", Registry: testRegistry,
		CABundle: "/etc/ssl/certs/ca-certificates.crt"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRelease builds the release twice: the same inputs give the same files and digests,
// and the artifacts are what a user installs.
func TestRelease(t *testing.T) {
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Fatalf("the stage image needs the CA roots: %v (hack/tools.sh installs ca-certificates)", err)
	}
	a, b := release(t), release(t)
	for _, f := range []string{"SHA256SUMS", "images.txt", "oci/index.json"} {
		if diff := cmp.Diff(read(t, filepath.Join(a, f)), read(t, filepath.Join(b, f))); diff != "" {
			t.Errorf("two releases of the same tree differ in %s (-first +second):\n%s", f, diff)
		}
	}

	sums := read(t, filepath.Join(a, "SHA256SUMS"))
	for _, f := range []string{"crds.yaml", "release.yaml", "images.txt", "iter8ctl-linux-amd64", "iter8ctl-linux-arm64", "iter8ctl-darwin-amd64", "iter8ctl-darwin-arm64"} {
		if !strings.Contains(sums, "  "+f+"\n") {
			t.Errorf("SHA256SUMS has no %s:\n%s", f, sums)
		}
	}

	images := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(read(t, filepath.Join(a, "images.txt"))), "\n") {
		tag, ref, _ := strings.Cut(line, " ")
		images[tag] = ref
	}
	stagesRef := images[testRegistry+"/stages:v0.2.0"]
	tasksRef := images[testRegistry+"/tasks:v0.2.0"]
	if !strings.Contains(stagesRef, "/stages@sha256:") || !strings.Contains(tasksRef, "/tasks@sha256:") {
		t.Fatalf("images.txt: %v", images)
	}

	rel := read(t, filepath.Join(a, "release.yaml"))
	if strings.Contains(rel, catalogImage) || strings.Count(rel, "default: "+stagesRef) != 5 {
		t.Errorf("release.yaml: want the 4 Tasks and the Pipeline to default to %s, and no %s", stagesRef, catalogImage)
	}
	for _, kind := range []string{"kind: CustomResourceDefinition", "kind: Namespace", "kind: ServiceAccount", "kind: Task", "kind: Pipeline", "kind: Metric"} {
		if !strings.Contains(rel, kind) {
			t.Errorf("release.yaml has no %s", kind)
		}
	}
	if crds := read(t, filepath.Join(a, "crds.yaml")); strings.Count(crds, "kind: CustomResourceDefinition") != 2 {
		t.Errorf("crds.yaml holds %d CRDs, want 2", strings.Count(crds, "kind: CustomResourceDefinition"))
	}

	lp, err := layout.FromPath(filepath.Join(a, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]v1.Descriptor{}
	for _, d := range im.Manifests {
		byName[d.Annotations["org.opencontainers.image.ref.name"]] = d
	}

	// The stage image: an index of linux/amd64 and linux/arm64, each with the stage links.
	sd := byName[testRegistry+"/stages:v0.2.0"]
	if "sha256:"+strings.SplitN(stagesRef, "@sha256:", 2)[1] != sd.Digest.String() {
		t.Errorf("stage index digest %s, images.txt says %s", sd.Digest, stagesRef)
	}
	idx, err := root.ImageIndex(sd.Digest)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range sm.Manifests {
		platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != d.Platform.Architecture || cf.Config.User != "65532" {
			t.Errorf("%s: config architecture %s, user %q", d.Platform.Architecture, cf.Architecture, cf.Config.User)
		}
		files := layerFiles(t, img)
		for _, f := range []string{"ko-app/iter8-stage", "ko-app/iterate", "etc/ssl/certs/ca-certificates.crt"} {
			if _, ok := files[f]; !ok {
				t.Errorf("%s: the image has no %s", d.Platform.Architecture, f)
			}
		}
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, platforms); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}

	// The Pipeline bundle: its tasks come from the Tasks bundle, by digest.
	pimg, err := root.Image(byName[testRegistry+"/pipeline:v0.2.0"].Digest)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := pimg.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.Layers) != 1 || pm.Layers[0].Annotations["dev.tekton.image.kind"] != "pipeline" || pm.Layers[0].Annotations["dev.tekton.image.name"] != "iter8-experiment" {
		t.Fatalf("pipeline bundle layers: %+v", pm.Layers)
	}
	var pipeline struct {
		Spec struct {
			Tasks []struct {
				TaskRef struct {
					Resolver string `json:"resolver"`
					Params   []struct{ Name, Value string }
				} `json:"taskRef"`
			} `json:"tasks"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(layerFiles(t, pimg)["iter8-experiment"], &pipeline); err != nil {
		t.Fatal(err)
	}
	for i, pt := range pipeline.Spec.Tasks {
		if pt.TaskRef.Resolver != "bundles" || len(pt.TaskRef.Params) != 3 || pt.TaskRef.Params[0].Value != tasksRef {
			t.Errorf("pipeline task %d: taskRef %+v, want the bundles resolver and %s", i, pt.TaskRef, tasksRef)
			break
		}
	}
	timg, err := root.Image(byName[testRegistry+"/tasks:v0.2.0"].Digest)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := timg.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var tasks []string
	for _, l := range tm.Layers {
		tasks = append(tasks, l.Annotations["dev.tekton.image.kind"]+"/"+l.Annotations["dev.tekton.image.name"])
	}
	if diff := cmp.Diff([]string{"task/iter8-assess", "task/iter8-finalize", "task/iter8-init-experiment", "task/iter8-iterate"}, tasks); diff != "" {
		t.Errorf("tasks bundle (-want +got):\n%s", diff)
	}

	// iter8ctl says which release it is.
	bin := filepath.Join(a, "iter8ctl-"+runtime.GOOS+"-"+runtime.GOARCH)
	if _, err := os.Stat(bin); err == nil {
		out, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "iter8ctl v0.2.0") {
			t.Errorf("%s version: %v %q, want iter8ctl v0.2.0 ...", bin, err, out)
		}
	}
}

// layerFiles returns the regular files and links of the image's layers.
func layerFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			out[h.Name] = b
		}
		rc.Close()
	}
	return out
}

func TestReleaseRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-version", "0.2.0"}, `-version "0.2.0": want vMAJOR.MINOR.PATCH`},
		{[]string{"-version", "v0.2"}, `-version "v0.2": want vMAJOR.MINOR.PATCH`},
		{[]string{"-version", "v0.2.0", "-registry", "ghcr.io/x/"}, `-registry "ghcr.io/x/": want a repository prefix`},
		{[]string{"-version", "v0.2.0", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"-version", "v0.2.0", "-platforms", "linux/amd64,windows/amd64"}, `-platforms "linux/amd64,windows/amd64": "windows/amd64" is not one of linux/amd64, linux/arm64, darwin/amd64, darwin/arm64`},
		{[]string{"-version", "v0.2.0", "-platforms", ""}, `-platforms "": "" is not one of`},
		{[]string{"-version", "v0.2.0", "-platforms", "linux"}, `-platforms "linux": "linux" is not one of`},
		{[]string{"-version", "v0.2.0", "-platforms", "darwin/arm64"}, `-platforms "darwin/arm64": the stage image needs a linux platform`},
	} {
		err := Run(context.Background(), append([]string{"-out", t.TempDir()}, tc.args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestReleaseOnePlatform is the quick release the e2e installs: iter8ctl and the stage image
// for one platform, nothing cross-compiled.
func TestReleaseOnePlatform(t *testing.T) {
	out := filepath.Join(t.TempDir(), "dist")
	err := Release(context.Background(), Options{Root: "../..", Out: out, Version: "v0.2.0", Registry: testRegistry,
		CABundle: "/etc/ssl/certs/ca-certificates.crt", Platforms: []string{"linux/amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	var bins []string
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "iter8ctl-") {
			bins = append(bins, e.Name())
		}
	}
	if diff := cmp.Diff([]string{"iter8ctl-linux-amd64"}, bins); diff != "" {
		t.Errorf("iter8ctl binaries (-want +got):\n%s", diff)
	}
	if sums := read(t, filepath.Join(out, "SHA256SUMS")); !strings.Contains(sums, "  iter8ctl-linux-amd64\n") || strings.Contains(sums, "arm64") {
		t.Errorf("SHA256SUMS: want iter8ctl-linux-amd64 and no arm64 file:\n%s", sums)
	}
	root, err := layout.ImageIndexFromPath(filepath.Join(out, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range im.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] != testRegistry+"/stages:v0.2.0" {
			continue
		}
		idx, err := root.ImageIndex(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		sm, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sm.Manifests {
			platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
		}
	}
	if diff := cmp.Diff([]string{"linux/amd64"}, platforms); diff != "" {
		t.Errorf("stage image platforms (-want +got):\n%s", diff)
	}
}

func TestSelectPlatforms(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{nil, Platforms},
		{[]string{"linux/amd64"}, []string{"linux/amd64"}},
		// Platforms' order whatever the order given, and each once: the digests do not change.
		{[]string{"darwin/arm64", "linux/amd64", "darwin/arm64"}, []string{"linux/amd64", "darwin/arm64"}},
	} {
		got, err := selectPlatforms(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
	}
}
