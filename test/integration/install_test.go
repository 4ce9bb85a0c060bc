package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// installCommands returns the kubectl commands of the first sh block of
// config/install/README.md: the install as a user types it.
func installCommands(t *testing.T, root string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "config", "install", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds [][]string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```sh" && cmds == nil:
			in = true
		case line == "```" && in:
			return cmds
		case in && strings.HasPrefix(line, "kubectl "):
			cmds = append(cmds, strings.Fields(line)[1:])
		case in && line != "" && !strings.HasPrefix(line, "#"):
			t.Fatalf("config/install/README.md: the install block has a line that is not a kubectl command: %q", line)
		}
	}
	t.Fatal("config/install/README.md has no sh block with the install")
	return nil
}

// TestInstallSucceedsTheFirstTime runs the README's install with the real kubectl on a
// fresh API server that has only Tekton's CRDs, each command once, with a fresh discovery
// cache; then runs it again over that install, as an upgrade does.
func TestInstallSucceedsTheFirstTime(t *testing.T) {
	harness.Integration(t, harness.NeedControlPlane)
	if os.Getenv(harness.EnvKubeconfig) != "" {
		t.Skipf("%s names a cluster that may hold an install already; this test needs a fresh one", harness.EnvKubeconfig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cp, err := harness.StartControlPlane(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	tekton, err := harness.TektonCRDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.InstallCRDs(ctx, cp.Config(), tekton...); err != nil {
		t.Fatal(err)
	}
	cache, err := harness.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(cache, "bin", "kubectl")
	cmds := installCommands(t, root)
	if len(cmds) == 0 {
		t.Fatal("the README's install has no command")
	}

	for _, round := range []string{"install", "upgrade"} {
		discovery := t.TempDir() // no cached discovery: kubectl sees the cluster as it is
		for _, args := range cmds {
			cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", cp.Kubeconfig(), "--cache-dir", discovery}, args...)...)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: kubectl %s: %v\n%s", round, strings.Join(args, " "), err, out)
			}
		}
	}

	dyn := dynamic.NewForConfigOrDie(cp.Config())
	for ns, want := range map[string]int{"iter8-knative": 5, "iter8-istio": 5} {
		l, err := dyn.Resource(v2alpha1.MetricResource).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) < want {
			t.Errorf("%s has %d Metrics, want at least %d", ns, len(l.Items), want)
		}
	}
	tasks, err := dyn.Resource(schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "tasks"}).Namespace("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks.Items) != 4 {
		t.Errorf("namespace default has %d Tasks, want the 4 stages", len(tasks.Items))
	}
}
