package harness

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestRegistryPushLayout: an OCI layout as `make release` writes it (an index and an image,
// each annotated with its tag) is pushed to the registry, can be pulled back by digest,
// and the pulls are recorded; a layout for another registry is refused.
func TestRegistryPushLayout(t *testing.T) {
	ctx := context.Background()
	reg, err := StartRegistry(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	writeLayout := func(registry string) string {
		dir := filepath.Join(t.TempDir(), "oci")
		p, err := layout.Write(dir, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := random.Index(64, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref := "org.opencontainers.image.ref.name"
		if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{ref: registry + "/x/stages:v1.0.0"})); err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{ref: registry + "/x/pipeline:v1.0.0"})); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	pushed, err := reg.PushLayout(ctx, writeLayout(reg.Host))
	if err != nil {
		t.Fatal(err)
	}
	if len(pushed) != 2 {
		t.Fatalf("pushed %v, want the index and the image", pushed)
	}
	for _, p := range pushed {
		ref, err := name.NewDigest(p)
		if err != nil {
			t.Fatal(err)
		}
		repo := strings.TrimPrefix(ref.Context().String(), reg.Host+"/")
		if reg.Pulled(repo + "@" + ref.DigestStr()) {
			t.Errorf("%s recorded as pulled before any pull", p)
		}
		if _, err := remote.Get(ref, remote.WithContext(ctx)); err != nil {
			t.Errorf("pulling %s: %v", p, err)
		}
		if !reg.Pulled(repo + "@" + ref.DigestStr()) {
			t.Errorf("the pull of %s was not recorded", p)
		}
	}

	if _, err := reg.PushLayout(ctx, writeLayout("registry.example.com")); err == nil || !strings.Contains(err.Error(), "is not for the registry "+reg.Host) {
		t.Errorf("pushing a layout for another registry: %v, want it refused", err)
	}
}
