package stagecmd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/iter8-tools/iter8-tekton/pkg/buildinfo"
)

func TestMultiCall(t *testing.T) {
	for _, tc := range []struct {
		name     string
		argv     []string
		wantCode int
		wantErr  string
	}{
		{"called as a stage", []string{"/ko-app/iterate", "--experiment", "x"}, ExitUsage, "--iteration must be at least 1"},
		{"stage as first argument", []string{"/ko-app/iter8-stage", "assess", "--experiment", "x"}, ExitUsage, "--iteration must be at least 1"},
		{"help of a stage", []string{"iter8-stage", "finalize", "--help"}, ExitOK, "exits 3 when the experiment did not achieve its aim"},
		{"version of a stage", []string{"/ko-app/assess", "--version"}, ExitOK, "assess " + buildinfo.Read().String() + "\n"},
		{"version without --experiment", []string{"iter8-stage", "init-experiment", "--version"}, ExitOK, "init-experiment " + buildinfo.Read().String()},
		{"bad log format", []string{"/ko-app/finalize", "--experiment", "x", "--log-format", "xml"}, ExitUsage, `--log-format "xml": want text or json`},
		{"no stage", []string{"iter8-stage"}, ExitUsage, "STAGE is one of init-experiment"},
		{"unknown stage", []string{"iter8-stage", "promote"}, ExitUsage, `unknown stage "promote"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := MultiCall(tc.argv, &out, &errOut); got != tc.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", got, tc.wantCode, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", errOut.String(), tc.wantErr)
			}
		})
	}
}
