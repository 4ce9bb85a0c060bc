// Command gen writes the generated Tekton files (catalog/ and config/tekton/) below the
// directory given as its only argument, the repository root (default ".").
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/iter8-tools/iter8-tekton/pkg/tekton/catalog"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	if err := run(root); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	files, err := catalog.Files()
	if err != nil {
		return err
	}
	stale, err := catalog.Stale(root, files)
	if err != nil {
		return err
	}
	for _, p := range stale {
		if err := os.Remove(filepath.Join(root, p)); err != nil {
			return fmt.Errorf("removing stale %s: %w", p, err)
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}
