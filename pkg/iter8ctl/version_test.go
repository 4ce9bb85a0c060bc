package iter8ctl

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/iter8-tools/iter8-tekton/pkg/buildinfo"
)

func TestVersion(t *testing.T) {
	want := "iter8ctl " + buildinfo.Read().String() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var stdout, stderr bytes.Buffer
		if code := Main(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != ExitOK {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
		if stdout.String() != want {
			t.Errorf("%q: printed %q, want %q", args, stdout.String(), want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"version", "extra"}, strings.NewReader(""), &stdout, &stderr); code == ExitOK {
		t.Errorf("version with an argument: exit %d, want an error", code)
	}
}
