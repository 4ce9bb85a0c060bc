package actions_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// helperEnv makes the test binary a helper command instead of running tests: "argv" prints
// its arguments as a JSON array, "fail" writes to stderr and exits 3.
const helperEnv = "ACTIONS_TEST_HELPER"

// runAsHelper turns the process into the helper command when helperEnv asks for one; it
// returns only when it does not.
func runAsHelper() {
	switch os.Getenv(helperEnv) {
	case "argv":
		b, err := json.Marshal(os.Args[1:])
		if err != nil {
			os.Exit(2)
		}
		fmt.Println(string(b))
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "helper: something broke")
		os.Exit(3)
	}
}

// experiment decodes an Experiment from YAML, strictly.
func experiment(t *testing.T, yaml string) *v2alpha1.Experiment {
	t.Helper()
	exp, err := v2alpha1.DecodeExperiment([]byte(strings.TrimSpace(yaml)))
	if err != nil {
		t.Fatalf("decoding experiment: %v", err)
	}
	return exp
}

// seedExperiment is the seed's experiment.yaml.
func seedExperiment(t *testing.T) *v2alpha1.Experiment {
	t.Helper()
	b, err := os.ReadFile("../apis/iter8/v2alpha1/testdata/seed-experiment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := v2alpha1.DecodeExperiment(b)
	if err != nil {
		t.Fatal(err)
	}
	exp.Namespace = "default"
	return exp
}
