package stagecmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/experiment"
)

func readExperiment(t *testing.T, path string) *v2alpha1.Experiment {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	exp, _, err := v2alpha1.ReadExperiment(b)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// TestFinalizeWritesTheReport: finalize with --report-dir (the Task's report workspace)
// writes NAME.html and NAME.md, the same bytes as iter8ctl report, and its outcome is the
// experiment's.
func TestFinalizeWritesTheReport(t *testing.T) {
	exp := readExperiment(t, "../report/testdata/progressive.yaml")
	dir := t.TempDir()
	var log bytes.Buffer
	d := &experiment.Deps{Store: experiment.NewFileStore(exp, ""), Log: &log}
	outcome := filepath.Join(dir, "outcome")
	err := runStage(context.Background(), d, StageFinalize, &options{reportDir: dir, results: map[string]string{"outcome": outcome}})
	if err != nil {
		t.Fatalf("finalize: %v\n%s", err, log.String())
	}
	if b, _ := os.ReadFile(outcome); string(b) != "Succeeded" {
		t.Errorf("outcome %q, want Succeeded", b)
	}
	for ext, golden := range map[string]string{".html": "progressive.html.golden", ".md": "progressive.md.golden"} {
		got, err := os.ReadFile(filepath.Join(dir, "progressive"+ext))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("../report/testdata", golden))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(string(want), string(got)); d != "" {
			t.Errorf("progressive%s (-want +got):\n%s", ext, d)
		}
	}
	if want := "finalize: report written: " + filepath.Join(dir, "progressive.html") + ", " + filepath.Join(dir, "progressive.md") + "\n"; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
}

// TestReportFailureIsLogged: a report that cannot be written is logged, and nothing else.
func TestReportFailureIsLogged(t *testing.T) {
	exp := readExperiment(t, "../report/testdata/progressive.yaml")
	var log bytes.Buffer
	logReport(&log, filepath.Join(t.TempDir(), "nosuch"), func() (*v2alpha1.Experiment, error) { return exp, nil })
	if !strings.Contains(log.String(), "finalize: report not written: writing ") {
		t.Errorf("log: %q", log.String())
	}
	log.Reset()
	logReport(&log, t.TempDir(), func() (*v2alpha1.Experiment, error) { return nil, errors.New("gone") })
	if want := "finalize: report not written: reading the experiment: gone\n"; log.String() != want {
		t.Errorf("log %q, want %q", log.String(), want)
	}
}
