# iter8-tekton. `make demo` runs a complete experiment on this machine; `make test` runs the
# unit and API-server integration tests; `make e2e` runs the Tekton end-to-end tests.

GO ?= go
BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.17.3
# Integration tests fail, rather than skip, when their real components are missing.
export ITER8_INTEGRATION ?= required
# Everything is built static and without paths, as the release (hack/release) and the e2e
# node's Go builds (test/local-cluster/build.sh) are, so the Go build cache compiles each
# dependency once for the tests, the release and the Tekton and Knative controllers.
export CGO_ENABLED := 0
export GOFLAGS := -trimpath $(filter-out -trimpath,$(shell $(GO) env GOFLAGS))

.PHONY: all build generate test test-module test-release unit e2e bench bench-e2e demo tools fuzz fmt vet lint clean release oracle

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

generate:
	$(CONTROLLER_GEN) object paths=./pkg/apis/... crd:crdVersions=v1 output:crd:artifacts:config=config/crd
	$(GO) run ./tools/crdversions config/crd/*.yaml
	$(GO) run ./tasks/gen

# tools installs the Debian packages and builds the real components the tests start.
tools:
	bash hack/tools.sh

# test runs the main module's tests (test-module: unit and API-server integration) and
# hack/release's (test-release: cross-compiles iter8ctl and the stage image, which .ci/run
# runs beside test-module because it waits for nothing the others start).
# TESTFLAGS adds go test flags, for example TESTFLAGS=-v to see each test's time.
# Each target runs go vet (every analyzer) before go test, so go test runs with -vet=off:
# its own vet uses another set of analyzers, and for that set go computes the analysis
# facts of every dependency again (about 100 CPU-seconds for the main module from a cold
# cache, 90 for the e2e's dependencies).
test: test-module test-release

test-module: tools
	$(GO) vet ./...
	$(GO) vet -tags unit ./pkg/...
	$(GO) test -vet=off -count=1 -timeout 30m $(TESTFLAGS) ./...

test-release: tools
	cd hack/release && $(GO) vet ./... && $(GO) test -vet=off -count=1 -timeout 30m $(TESTFLAGS) ./...

# release writes dist/ (docs/release.md): the stage image and the Tekton bundles as an OCI
# layout, release.yaml and crds.yaml with the image by digest, iter8ctl for four platforms
# and SHA256SUMS. make release VERSION=v0.2.0 [REGISTRY=ghcr.io/iter8-tools/iter8-tekton]
REGISTRY ?= ghcr.io/iter8-tools/iter8-tekton
release:
	@test -n "$(VERSION)" || { echo "make release VERSION=vX.Y.Z [REGISTRY=...]" >&2; exit 2; }
	cd hack/release && $(GO) run . -version $(VERSION) -registry $(REGISTRY) -root $(CURDIR) -out $(CURDIR)/dist

# unit runs only the tests that need nothing but Go: -tags unit leaves out the packages'
# test files that need a real server, ITER8_INTEGRATION=skip skips the rest.
unit:
	ITER8_INTEGRATION=skip $(GO) test -tags unit ./...

# demo runs a Conformance and a Canary experiment with iter8ctl run against two sample app
# versions on loopback (hack/demo.sh); it needs only Go and takes about 15 seconds.
demo:
	GO=$(GO) BIN=$(BIN) bash hack/demo.sh

# e2e brings up a whole node with the real Tekton controller (test/local-cluster, full mode;
# needs root; the first build takes ~10 min) and runs the experiments as PipelineRuns.
# ITER8_E2E_KUBECONFIG reuses a running full cluster; ITER8_E2E_KEEP=1 keeps the one it starts.
# The tests run side by side (-parallel 8; each has its own Experiments, targets and
# Metrics), since most of their time is waiting for pods and intervals; TestCanaryRollback,
# which measures the time to safety, runs alone before them.
e2e:
	$(GO) vet -tags e2e ./test/e2e/
	$(GO) test -vet=off -tags e2e -count=1 -v -parallel 8 -timeout 45m ./test/e2e/

# bench-e2e runs 1, 5, 10, 20 and 40 experiments at once on the e2e node (as make e2e:
# root, the whole-node cluster; about an hour) and reports the pipeline overhead, the missed
# slots, pods/s and the control plane's processor time and memory per level
# (BenchmarkConcurrentExperiments; docs/benchmarks.md, docs/scale.md). Not part of make e2e.
bench-e2e:
	$(GO) vet -tags e2e ./test/e2e/
	$(GO) test -vet=off -tags e2e -count=1 -run '^$$' -bench BenchmarkConcurrentExperiments -benchtime 1x -timeout 120m ./test/e2e/

# fuzz runs every fuzz target for FUZZTIME each (go test -fuzz takes one target at a time).
# -tags unit leaves out the test files that need a real server (`//go:build !unit`): go
# test -fuzz compiles every package the test binary imports again with coverage
# instrumentation, and the harness behind those files (client-go's typed clients, the
# registry client ...) is a third of that compile and none of what the targets reach.
# -vet=off: make vet (and make test-module) vets these packages with -tags unit.
FUZZTIME ?= 5s
FUZZ_TARGETS := \
	./pkg/apis/iter8/v2alpha1:FuzzDecodeDocuments \
	./pkg/metrics:FuzzSubstitute \
	./pkg/metrics:FuzzJQExtract \
	./pkg/metrics:FuzzMergeVersions \
	./pkg/analytics:FuzzWeights \
	./pkg/actions:FuzzSplitWords \
	./pkg/termsafe:FuzzEscape \
	./pkg/report:FuzzChart
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -vet=off -tags unit -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# bench runs every benchmark 3 times (test/bench runs the stages as processes against the
# real harness: a few minutes) and prints the ratios to the bare minimum measured in the
# same run, then the sizes of what ships (hack/sizes.sh). The two sizes of issue 6's
# targets run 20 times: at 1x3 the minimum is ~10 ms, and the API server's disk moves it
# by a few, so the median needs more than 3 samples. Figures: docs/benchmarks.md.
BENCH_TARGETS = BenchmarkStages$$/^(1x3|10x10)$$
bench:
	$(GO) test -count=1 -run '^$$' -bench . -skip '$(BENCH_TARGETS)' -benchtime 3x -timeout 30m ./...
	$(GO) test -count=1 -run '^$$' -bench '$(BENCH_TARGETS)' -benchtime 20x -timeout 30m ./test/bench/
	GO=$(GO) bash hack/sizes.sh

fmt:
	gofmt -l -w .

vet:
	$(GO) vet ./...
	$(GO) vet -tags unit ./pkg/...

clean:
	rm -rf $(BIN)

# oracle rewrites the rank-sum test's reference answers with R's wilcox.test (Debian:
# apt-get install r-base-core); TestMannWhitneyAgreesWithR compares against them.
oracle:
	Rscript hack/oracle/ranksum.R > pkg/analytics/testdata/ranksum_oracle.json
