//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/tekton"
)

// TestCatalogTests runs every catalog/<kind>/<name>/tests/ like the Tekton catalog's CI
// does (resources.yaml, then run.yaml), with the image param pointed at the imported stage
// image, as the catalog's pre-apply hooks do, and expects every run to succeed.
func TestCatalogTests(t *testing.T) {
	t.Parallel()
	afterSeedResolution(t)
	const ns = "default"
	dirs, err := filepath.Glob(filepath.Join(cluster.root, "catalog", "*", "*", "tests"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no catalog tests: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	names := map[string]string{}
	for _, dir := range dirs {
		rel, _ := filepath.Rel(filepath.Join(cluster.root, "catalog"), filepath.Dir(dir))
		// A fresh Experiment each time: a completed one cannot run again.
		if _, err := kubectl(ctx, nil, "delete", "--ignore-not-found", "-n", ns, "-f", filepath.Join(dir, "resources.yaml")); err != nil {
			t.Fatal(err)
		}
		if _, err := kubectl(ctx, nil, "apply", "-n", ns, "-f", filepath.Join(dir, "resources.yaml")); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "run.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var pr v1.PipelineRun
		if err := tekton.DecodeStrict(b, &pr); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		pr.Namespace = ns
		pr.Spec.Params = append(pr.Spec.Params,
			v1.Param{Name: "image", Value: *v1.NewStructuredValues(stagesImage)},
			v1.Param{Name: "image-pull-policy", Value: *v1.NewStructuredValues("Never")})
		names[rel] = createPipelineRun(t, &pr)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := map[string]*v1.PipelineRun{}
	errs := map[string]error{}
	for rel, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr, err := waitDone(ns, name, 10*time.Minute)
			mu.Lock()
			done[rel], errs[rel] = pr, err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, rel := range sortedKeys(names) {
		t.Run(strings.ReplaceAll(rel, "/", "-"), func(t *testing.T) {
			if errs[rel] != nil {
				logTaskRuns(t, ns, names[rel])
				t.Fatal(errs[rel])
			}
			if got := condition(done[rel]); !strings.HasPrefix(got, "True/") {
				logTaskRuns(t, ns, names[rel])
				t.Errorf("%s: PipelineRun %s condition = %s, want True", rel, names[rel], got)
			}
		})
	}
}
