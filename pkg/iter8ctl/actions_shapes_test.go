package iter8ctl

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEveryTaskWithEveryCriteriaShape runs each task of the library that works without a
// cluster as a start, loop and finish action, with each shape of criteria, through
// iter8ctl run. None of them may panic: init once compared the spec before and after the
// start actions by reflection, which panics on a limit's unexported field.
func TestEveryTaskWithEveryCriteriaShape(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(hook.Close)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(app.Close)

	tasks := map[string]string{
		"common/exec":       `{task: common/exec, with: {cmd: "true"}}`,
		"notification/http": fmt.Sprintf(`{task: notification/http, with: {url: %q}}`, hook.URL),
		"metrics/collect": fmt.Sprintf(`{task: metrics/collect, with: {time: "1s", qps: 5, versions: [{name: shop-a, url: %q}, {name: shop-b, url: %q}]}}`,
			app.URL, app.URL),
	}
	criteria := map[string]string{
		"objective with a limit":   "objectives: [{metric: mean-latency, upperLimit: 100}]",
		"objective with a float":   "objectives: [{metric: mean-latency, upperLimit: 99.5, rollback_on_failure: true}]",
		"reward and objective":     "rewards: [{metric: user-engagement, preferredDirection: High}]\n    objectives: [{metric: mean-latency, upperLimit: 100}]",
		"reward only":              "rewards: [{metric: user-engagement, preferredDirection: High}]",
		"indicators only":          "indicators: [mean-latency]",
		"lower and upper limits":   "objectives: [{metric: user-engagement, lowerLimit: 1, upperLimit: 1000}]",
		"limit written as integer": "objectives: [{metric: mean-latency, upperLimit: 100}, {metric: user-engagement, lowerLimit: \"5\"}]",
	}
	for taskName, task := range tasks {
		taskName, task := taskName, task
		for _, action := range []string{"start", "loop", "finish"} {
			for shape, crit := range criteria {
				pattern := "Canary"
				if strings.Contains(crit, "rewards") {
					pattern = "A/B"
				}
				t.Run(taskName+"/"+action+"/"+shape, func(t *testing.T) {
					t.Parallel()
					exp := fmt.Sprintf(`apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: ab}
spec:
  target: default/shop
  strategy:
    testingPattern: %s
    deploymentPattern: FixedSplit
    actions:
      %s:
      - %s
  criteria:
    %s
  duration: {intervalSeconds: 1, iterationsPerLoop: 1}
  versionInfo:
    baseline: {name: shop-a}
    candidates: [{name: shop-b}]
`, pattern, action, task, crit)
					r := runMain([]string{"run", "--allow-exec=true", "-f", writeFile(t, "exp.yaml", exp), "-f", abMetricsExample, "--interval-seconds", "0"}, "")
					if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
						t.Fatalf("iter8ctl run panicked (exit %d):\n%s", r.code, r.stderr)
					}
					if r.code == ExitUsage {
						t.Fatalf("iter8ctl run refused a valid experiment (exit %d):\n%s", r.code, r.stderr)
					}
				})
			}
		}
	}
}
