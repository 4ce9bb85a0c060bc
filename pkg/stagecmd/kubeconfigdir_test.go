package stagecmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKubeconfigDir(t *testing.T) {
	empty := t.TempDir()
	bound := t.TempDir()
	if err := os.WriteFile(filepath.Join(bound, "kubeconfig"), []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	o, err := parse(StageIterate, []string{"--experiment", "e", "--iteration", "1", "--kubeconfig", "/other", "--kubeconfig-dir", bound}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(bound, "kubeconfig"); o.kubeconfig != want {
		t.Errorf("kubeconfig = %q, want the workspace's %q", o.kubeconfig, want)
	}
	// An unbound optional workspace's path is empty: the flag is then ignored.
	if o, err := parse(StageIterate, []string{"--experiment", "e", "--iteration", "1", "--kubeconfig", "/other", "--kubeconfig-dir", ""}, &stderr); err != nil || o.kubeconfig != "/other" {
		t.Errorf("empty --kubeconfig-dir: kubeconfig %q, error %v; want /other", o.kubeconfig, err)
	}
	_, err = parse(StageIterate, []string{"--experiment", "e", "--iteration", "1", "--kubeconfig-dir", empty}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "holds no file kubeconfig: the Secret bound to the kubeconfig workspace needs the key kubeconfig") {
		t.Errorf("workspace without the key: error %v", err)
	}
}
