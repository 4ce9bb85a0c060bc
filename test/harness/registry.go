package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is a real OCI distribution registry (go-containerregistry's, which keeps blobs in
// memory) served over plain HTTP: what a release is pushed to and pulled from in the e2e
// tests. It records the manifests it served, so that a test can tell that containerd or
// Tekton's bundles resolver really fetched an image from it.
type Registry struct {
	// Host is HOST:PORT, the registry part of image references.
	Host string
	srv  *http.Server

	mu     sync.Mutex
	pulled []string // "REPOSITORY@REFERENCE" of every manifest GET
}

// StartRegistry serves a registry on addr (HOST:PORT; port 0 picks a free one) until ctx
// ends or Close. go-containerregistry and containerd speak plain HTTP to a registry on a
// private (RFC 1918) or loopback address without further configuration of the client.
func StartRegistry(ctx context.Context, addr string) (*Registry, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("registry: listening on %s: %w", addr, err)
	}
	r := &Registry{Host: ln.Addr().String()}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet {
			if repo, ref, ok := manifestPath(req.URL.Path); ok {
				r.mu.Lock()
				r.pulled = append(r.pulled, repo+"@"+ref)
				r.mu.Unlock()
			}
		}
		h.ServeHTTP(w, req)
	})}
	go func() { _ = r.srv.Serve(ln) }()
	go func() { <-ctx.Done(); r.Close() }()
	return r, nil
}

// manifestPath splits /v2/REPOSITORY/manifests/REFERENCE.
func manifestPath(p string) (repo, ref string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i < 0 {
		return "", "", false
	}
	return rest[:i], rest[i+len("/manifests/"):], true
}

// Close stops serving.
func (r *Registry) Close() { _ = r.srv.Close() }

// Pulled reports whether a manifest was fetched by reference, REPOSITORY@sha256:… (the
// repository without the registry host) or REPOSITORY@TAG.
func (r *Registry) Pulled(ref string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.pulled, ref)
}

// PushLayout pushes every image and index of the OCI image layout dir under the tag of its
// org.opencontainers.image.ref.name annotation, which must name this registry (as
// `make release REGISTRY=HOST/...` writes it). It returns the references it pushed.
func (r *Registry) PushLayout(ctx context.Context, dir string) ([]string, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading the layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the layout %s: %w", dir, err)
	}
	var pushed []string
	for _, desc := range im.Manifests {
		tag := desc.Annotations["org.opencontainers.image.ref.name"]
		ref, err := name.NewTag(tag)
		if err != nil {
			return pushed, fmt.Errorf("layout %s: manifest %s: tag %q: %w", dir, desc.Digest, tag, err)
		}
		if ref.RegistryStr() != r.Host {
			return pushed, fmt.Errorf("layout %s: %s is not for the registry %s", dir, tag, r.Host)
		}
		switch desc.MediaType {
		case types.OCIImageIndex, types.DockerManifestList:
			ii, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return pushed, fmt.Errorf("layout %s: %s: %w", dir, tag, err)
			}
			err = remote.WriteIndex(ref, ii, remote.WithContext(ctx))
			if err != nil {
				return pushed, fmt.Errorf("pushing %s: %w", tag, err)
			}
		default:
			img, err := idx.Image(desc.Digest)
			if err != nil {
				return pushed, fmt.Errorf("layout %s: %s: %w", dir, tag, err)
			}
			if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
				return pushed, fmt.Errorf("pushing %s: %w", tag, err)
			}
		}
		pushed = append(pushed, ref.Context().String()+"@"+desc.Digest.String())
	}
	if len(pushed) == 0 {
		return nil, errors.New("the layout " + dir + " holds no image")
	}
	return pushed, nil
}

// TrustRegistry makes the containerd of the kit's node (registry configuration directory
// etcDir/registry, see test/local-cluster/templates/registry-hosts.toml) pull images of
// host over plain HTTP from host itself; every other registry stays closed. The returned
// function removes the configuration again.
func TrustRegistry(clusterDir, host string) (func(), error) {
	dir := filepath.Join(clusterDir, "etc", "registry", host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	hosts := fmt.Sprintf("# Written by test/harness.TrustRegistry for one e2e run.\nserver = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n",
		"http://"+host, "http://"+host)
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(hosts), 0o644); err != nil {
		return nil, err
	}
	return func() { _ = os.RemoveAll(dir) }, nil
}
