// Package demo checks that make demo (hack/demo.sh) works: the experiments end as the
// README says, their reports are left in BIN/demo, and nothing is left running.
package demo

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("the demo needs bash: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "hack", "demo.sh"))
	cmd.Dir = root
	bin := t.TempDir()
	cmd.Env = append(os.Environ(), "BIN="+bin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("hack/demo.sh: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("hack/demo.sh took %s", time.Since(start).Round(time.Millisecond))

	out := stdout.String()
	for _, want := range []string{
		"Experiment name: conformance",
		"Number of completed iterations: 7",
		"Experiment name: canary",
		"Version recommended for promotion: current",
		"- candidate fails error-rate <= 0.010: iter8-system/error-rate = 0.200 > 0.010: not satisfied (rollback objective)",
		"- Rolled back: candidate",
		"Experiment name: progressive",
		"Version recommended for promotion: candidate",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("the demo's describes do not say %q:\n%s", want, out)
		}
	}
	if want := "demo: OK:"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
	}

	// Each experiment's report is left in BIN/demo, and says what describe says.
	for name, outcome := range map[string]string{"conformance": "Succeeded", "canary": "RolledBack", "progressive": "Succeeded", "comparison": "RolledBack"} {
		b, err := os.ReadFile(filepath.Join(bin, "demo", name+".html"))
		if err != nil {
			t.Errorf("the demo left no report: %v", err)
			continue
		}
		if want := `id="outcome">` + outcome + `<`; !strings.Contains(string(b), want) {
			t.Errorf("%s.html does not say %s", name, outcome)
		}
	}
	if want := filepath.Join(bin, "demo", "progressive.html"); !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not name the report %s", want)
	}

	// The sample apps were stopped: their ports no longer answer.
	apps := regexp.MustCompile(`sample-app \w+: http://(127\.0\.0\.1:\d+)/`).FindAllStringSubmatch(stderr.String(), -1)
	if len(apps) != 5 {
		t.Fatalf("found %d sample app addresses in stderr, want 5:\n%s", len(apps), stderr.String())
	}
	for _, m := range apps {
		if c, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
			c.Close()
			t.Errorf("sample app at %s still answers after the demo", m[1])
		}
	}
}
