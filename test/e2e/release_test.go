//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// release is what setup installed, as a user installs a release (docs/release.md): the
// artifacts of `make release`, the stage image and the Tekton bundles pushed to a registry
// on the node's bridge, crds.yaml and release.yaml applied with kubectl.
var release struct {
	registry *harness.Registry
	dir      string // dist/
	// The references of images.txt, by digest.
	stages, tasks, pipeline string
	untrust                 func()
}

// installRelease builds the release for a registry on the bridge, serves it there, lets the
// node's containerd pull from it, starts Tekton's remote resolvers and installs the release.
func installRelease(ctx context.Context) error {
	reg, err := harness.StartRegistry(context.Background(), bridgeIP+":0")
	if err != nil {
		return err
	}
	release.registry = reg
	release.dir = filepath.Join(cluster.bin, "dist")
	// For the node's platform only: the other platforms' builds are hack/release's own test,
	// and the e2e need not wait for them.
	platform := "linux/" + runtime.GOARCH
	logf("make release VERSION=v0.0.0 REGISTRY=%s/iter8-tekton, for %s only (hack/release -platforms)", reg.Host, platform)
	if _, err := command(ctx, filepath.Join(cluster.root, "hack", "release"), "go", "run", ".",
		"-version", "v0.0.0", "-registry", reg.Host+"/iter8-tekton", "-root", cluster.root, "-out", release.dir, "-platforms", platform); err != nil {
		return err
	}
	if err := readImages(filepath.Join(release.dir, "images.txt")); err != nil {
		return err
	}
	pushed, err := reg.PushLayout(ctx, filepath.Join(release.dir, "oci"))
	if err != nil {
		return err
	}
	logf("pushed %s", strings.Join(pushed, ", "))
	if err := forgetImage(ctx, release.stages); err != nil {
		return err
	}
	if release.untrust, err = harness.TrustRegistry(cluster.cl, reg.Host); err != nil {
		return err
	}

	logf("starting Tekton's remote resolvers (%s)", filepath.Join(cluster.cl, "tekton", "resolvers.yaml"))
	for _, args := range [][]string{
		{"apply", "-f", filepath.Join(cluster.cl, "tekton", "resolvers.yaml")},
		{"-n", "tekton-pipelines-resolvers", "rollout", "status", "deployment/tekton-pipelines-remote-resolvers", "--timeout=180s"},
	} {
		if _, err := kubectl(ctx, nil, args...); err != nil {
			return err
		}
	}

	logf("installing the release (docs/release.md: crds.yaml, a wait, release.yaml)")
	for _, args := range [][]string{
		{"apply", "-f", filepath.Join(release.dir, "crds.yaml")},
		{"wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=iter8-tekton"},
		{"apply", "-f", filepath.Join(release.dir, "release.yaml")},
	} {
		if _, err := kubectl(ctx, nil, args...); err != nil {
			return err
		}
	}
	return nil
}

// forgetImage removes from the node's containerd every image with ref's digest. The node
// keeps its images between runs ($CL/data/containerd), and a release of unchanged code has
// the same digest (the build is reproducible): containerd would find the stage image of an
// earlier run's registry and never pull it from this one, which TestSeedMirroring checks.
func forgetImage(ctx context.Context, ref string) error {
	_, digest, ok := strings.Cut(ref, "@")
	if !ok {
		return fmt.Errorf("forgetting %s: not a reference by digest", ref)
	}
	out, err := ctrImages(ctx, "ls")
	if err != nil {
		return err
	}
	// REF TYPE DIGEST SIZE PLATFORMS LABELS
	var refs []string
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 3 && f[2] == digest {
			refs = append(refs, f[0])
		}
	}
	if len(refs) == 0 {
		return nil
	}
	logf("removing %d images with the stage image's digest from the node's containerd (kept from an earlier run)", len(refs))
	_, err = ctrImages(ctx, append([]string{"rm"}, refs...)...)
	return err
}

// readImages reads images.txt: "TAG REFERENCE-BY-DIGEST" per line.
func readImages(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.Contains(f[1], "@sha256:") {
			return fmt.Errorf("%s: line %q: want TAG REFERENCE@sha256:…", file, line)
		}
		switch repo := f[1][:strings.Index(f[1], "@")]; {
		case strings.HasSuffix(repo, "/stages"):
			release.stages = f[1]
		case strings.HasSuffix(repo, "/tasks"):
			release.tasks = f[1]
		case strings.HasSuffix(repo, "/pipeline"):
			release.pipeline = f[1]
		}
	}
	if release.stages == "" || release.tasks == "" || release.pipeline == "" {
		return fmt.Errorf("%s: want the stages, tasks and pipeline images", file)
	}
	return nil
}

// pulledFromRelease reports whether the registry served the manifest of ref (a reference
// of images.txt).
func pulledFromRelease(ref string) bool {
	return release.registry.Pulled(strings.TrimPrefix(ref, release.registry.Host+"/"))
}

func teardownRelease() {
	if release.untrust != nil {
		release.untrust()
	}
	if release.registry != nil {
		release.registry.Close()
	}
}
