// Package harness starts real components for the integration tests of iter8-tekton:
// a Kubernetes control plane (etcd and kube-apiserver, no controllers) from the kit in
// test/local-cluster, the real CRDs of Knative Serving, Istio, Tekton and of this project,
// and Debian's Prometheus scraping exporters that the test starts.
//
// Nothing is faked: the apiserver validates objects against the real CRD schemas, and
// Prometheus scrapes over HTTP and answers PromQL.
//
// # Setup
//
// `make tools` (hack/tools.sh) installs the Debian packages (etcd-server, prometheus, ...)
// and builds kube-apiserver and kubectl into the cache directory
// ($ITER8_CLUSTER_CACHE, default $HOME/.cache/iter8-tekton/cluster).
//
// # Gating
//
// Integration tests call [Integration] (or use [SharedControlPlane], which calls it).
// When a tool is missing the test is skipped with a message that says how to set up,
// unless ITER8_INTEGRATION=required (set by `make test` and CI): then it fails.
// ITER8_INTEGRATION=off (or skip) skips integration tests on purpose.
//
// # Use from a package's tests
//
//	func TestMain(m *testing.M) { harness.MainControlPlane(m) }
//
//	func TestSomething(t *testing.T) {
//		cp := harness.SharedControlPlane(t) // started on first use, stopped after m.Run
//		ctx := t.Context()
//		files, err := harness.AllCRDs(ctx) // Knative Serving, Istio, Tekton, config/crd
//		if err != nil {
//			t.Fatal(err)
//		}
//		if err := cp.InstallCRDs(ctx, files...); err != nil { // once per control plane
//			t.Fatal(err)
//		}
//		cs := kubernetes.NewForConfigOrDie(cp.Config())
//		ns := harness.Namespace(t, cs)
//		...
//	}
//
//	func TestMetrics(t *testing.T) {
//		harness.Integration(t, harness.NeedPrometheus)
//		exporter := httptest.NewServer(promhttp.Handler())
//		defer exporter.Close()
//		u, _ := url.Parse(exporter.URL)
//		p, err := harness.StartPrometheus(t.Context(), []string{u.Host}) // ~5 s
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer p.Stop()
//		vec, err := p.WaitForSamples(t.Context(), `up`)
//		...
//	}
//
// A TestMain that needs more than the control plane calls RunControlPlane(m), which
// returns the exit code instead of exiting. A package can also manage its own instances
// with StartControlPlane and Stop.
//
// The control plane has no controllers: namespaces are not populated with a default
// ServiceAccount (Namespace creates one), deleted namespaces stay Terminating, there is
// no garbage collection, and Deployments never get pods. Tekton CRDs are installed without
// their webhook: objects are neither defaulted nor validated beyond the CRD schema, and
// only the storage version tekton.dev/v1 can be read.
//
// ITER8_KUBECONFIG=/path/to/kubeconfig makes [StartControlPlane] reuse a running cluster
// (for example the full-node mode of test/local-cluster) instead of starting one.
package harness
