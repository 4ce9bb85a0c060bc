// Command fakestage stands in for the four stage binaries in the end-to-end test of the
// Pipeline's shape. It accepts their flags and honours their result contract without a
// cluster; the experiment name scripts its behaviour:
//
//	<anything>-stop<K>[-rollback]
//
// assess writes continue=false from iteration K on; finalize exits 3 (the aim was not
// achieved) with -rollback. The stage is the base name of the program (/ko-app/<stage>).
// Results also report what the step saw, so the test can check the Task's wiring.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

type results map[string]string

func (r results) String() string { return fmt.Sprint(map[string]string(r)) }
func (r results) Set(s string) error {
	name, path, ok := strings.Cut(s, "=")
	if !ok || name == "" || path == "" {
		return fmt.Errorf("want NAME=PATH, got %q", s)
	}
	r[name] = path
	return nil
}

var script = regexp.MustCompile(`-stop(\d+)(-rollback)?$`)

func main() {
	stage := filepath.Base(os.Args[0])
	code, err := run(stage, os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", stage, err)
	}
	os.Exit(code)
}

func run(stage string, args []string) (int, error) {
	fs := flag.NewFlagSet(stage, flag.ContinueOnError)
	paths := results{}
	experiment := fs.String("experiment", "", "")
	namespace := fs.String("namespace", "", "")
	fs.String("kubeconfig", "", "")
	// The optional workspaces' paths: empty when unbound, as here.
	kubeconfigDir := fs.String("kubeconfig-dir", "", "")
	var reportDir string
	fs.Var(paths, "result", "")
	var iteration int
	var interval, status string
	switch stage {
	case "iterate", "assess":
		fs.IntVar(&iteration, "iteration", 0, "")
		fs.StringVar(&interval, "interval-seconds", "", "")
	case "finalize":
		fs.StringVar(&status, "pipeline-status", "", "")
		fs.StringVar(&reportDir, "report-dir", "", "")
	case "init-experiment":
		// The Pipeline passes its PipelineRun, whose start starts the experiment's clock;
		// a TaskRun of the Task alone passes the empty default.
		fs.Func("pipelinerun", "", func(v string) error {
			if ns, name, ok := strings.Cut(v, "/"); v != "" && (!ok || ns == "" || name == "") {
				return fmt.Errorf("want namespace/name, got %q", v)
			}
			return nil
		})
	default:
		return 1, fmt.Errorf("unknown stage")
	}
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	m := script.FindStringSubmatch(*experiment)
	if m == nil || *namespace == "" {
		return 2, fmt.Errorf("want --experiment NAME-stopK[-rollback] and --namespace, got %q, %q", *experiment, *namespace)
	}
	if (stage == "iterate" || stage == "assess") && iteration < 1 {
		return 2, fmt.Errorf("--iteration must be at least 1")
	}
	if *kubeconfigDir != "" || reportDir != "" {
		return 2, fmt.Errorf("no workspace is bound here, got --kubeconfig-dir %q --report-dir %q", *kubeconfigDir, reportDir)
	}
	stopAt, _ := strconv.Atoi(m[1])

	// Write nowhere but the result files: the root filesystem must be read-only.
	rofs := os.WriteFile("/probe", nil, 0o644) != nil
	values := map[string]string{}
	code := 0
	switch stage {
	case "init-experiment":
		values["iterations"] = m[1]
		values["target"] = fmt.Sprintf("namespace=%s uid=%d readonly=%t", *namespace, os.Getuid(), rofs)
	case "iterate":
		values["iteration"] = strconv.Itoa(iteration)
	case "assess":
		values["iteration"] = strconv.Itoa(iteration)
		values["continue"] = strconv.FormatBool(iteration < stopAt)
		values["winner"] = "interval=" + interval
		values["recommended"] = "baseline"
	case "finalize":
		values["outcome"] = "Succeeded"
		values["winner"] = "status=" + status
		values["recommended"] = "baseline"
		if m[2] != "" {
			values["outcome"] = "RolledBack"
			code = 3
		}
	}
	for name, path := range paths {
		if err := os.WriteFile(path, []byte(values[name]), 0o644); err != nil {
			return 1, fmt.Errorf("writing result %s: %w", name, err)
		}
	}
	fmt.Printf("%s %s/%s iteration=%d status=%q -> %v (exit %d)\n", stage, *namespace, *experiment, iteration, status, values, code)
	return code, nil
}
