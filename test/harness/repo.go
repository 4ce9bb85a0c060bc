package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// ModulePath is the module path of this project; RepoRoot looks for its go.mod.
const ModulePath = "github.com/iter8-tools/iter8-tekton"

var repoRoot struct {
	once sync.Once
	dir  string
	err  error
}

// RepoRoot returns the directory of the project's go.mod. It walks up from the working
// directory (go test runs tests in their package directory) and, failing that, from the
// source file of this package.
func RepoRoot() (string, error) {
	repoRoot.once.Do(func() {
		var starts []string
		if wd, err := os.Getwd(); err == nil {
			starts = append(starts, wd)
		}
		if _, file, _, ok := runtime.Caller(0); ok {
			starts = append(starts, filepath.Dir(file))
		}
		for _, s := range starts {
			if dir, ok := findModuleRoot(s); ok {
				repoRoot.dir = dir
				return
			}
		}
		repoRoot.err = fmt.Errorf("finding the repository root: no go.mod of module %s above %s", ModulePath, strings.Join(starts, " or "))
	})
	return repoRoot.dir, repoRoot.err
}

// findModuleRoot walks up from dir to the directory whose go.mod declares ModulePath.
func findModuleRoot(dir string) (string, bool) {
	for {
		if modulePathOf(filepath.Join(dir, "go.mod")) == ModulePath {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// modulePathOf returns the module path declared in a go.mod file, or "".
func modulePathOf(gomod string) string {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// KitDir returns test/local-cluster of the repository: the scripts that build, start and
// stop the cluster.
func KitDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "test", "local-cluster"), nil
}

// goCommand runs `go ARGS...` in dir and returns its stdout.
func goCommand(ctx context.Context, dir string, args ...string) ([]byte, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("finding the go command: %w", err)
	}
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s (in %s): %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// ModuleDir returns the directory of module in the Go module cache, at the version the
// project's go.mod selects (`go list -m` in the repository root). If the root module does
// not require the module, fallbackVersion is used. A module missing from the cache is
// downloaded (`go mod download`, outside the project so that go.mod and go.sum stay as
// they are).
func ModuleDir(ctx context.Context, module, fallbackVersion string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	var info struct {
		Version string
		Dir     string
	}
	version := fallbackVersion
	if out, err := goCommand(ctx, root, "list", "-m", "-json", module); err == nil {
		if err := json.Unmarshal(out, &info); err != nil {
			return "", fmt.Errorf("decoding go list -m -json %s: %w", module, err)
		}
		if info.Dir != "" {
			if _, err := os.Stat(info.Dir); err == nil {
				return info.Dir, nil
			}
		}
		if info.Version != "" {
			version = info.Version
		}
	}
	if version == "" {
		return "", fmt.Errorf("finding module %s: the project does not require it and no version was given", module)
	}
	tmp, err := os.MkdirTemp("", "iter8-harness-mod-")
	if err != nil {
		return "", fmt.Errorf("creating a directory for go mod download: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	out, err := goCommand(ctx, tmp, "mod", "download", "-json", module+"@"+version)
	if err != nil {
		return "", fmt.Errorf("downloading module %s@%s: %w", module, version, err)
	}
	info.Dir = ""
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("decoding go mod download -json %s@%s: %w", module, version, err)
	}
	if info.Dir == "" {
		return "", errors.New("go mod download " + module + "@" + version + " reported no directory")
	}
	return info.Dir, nil
}
