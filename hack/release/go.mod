// The release tool: make release VERSION=v0.2.0 writes dist/ (docs/release.md). A module
// of its own, so that the image writer (go-containerregistry) is no dependency of the
// project's binaries.
module github.com/iter8-tools/iter8-tekton/hack/release

go 1.25.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/google/go-containerregistry v0.22.1
	sigs.k8s.io/yaml v1.6.0
)

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
