package stagecmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/report"
)

// WriteReports writes the report of exp into dir as NAME.html and NAME.md (the HTML page
// and the Markdown of iter8ctl report), each through a temporary file renamed into place,
// and returns their paths.
func WriteReports(dir string, exp *v2alpha1.Experiment) ([]string, error) {
	var paths []string
	for _, f := range []struct {
		format report.Format
		ext    string
	}{{report.FormatHTML, ".html"}, {report.FormatMarkdown, ".md"}} {
		b, err := report.Render(exp, f.format, "")
		if err != nil {
			return paths, err
		}
		path := filepath.Join(dir, exp.Name+f.ext)
		if err := writeAtomic(path, b); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, werr)
	}
	return nil
}

// logReport writes the reports of the experiment get reads into dir and logs where, or
// why not.
func logReport(log io.Writer, dir string, get func() (*v2alpha1.Experiment, error)) {
	if log == nil {
		log = io.Discard
	}
	exp, err := get()
	if err != nil {
		fmt.Fprintf(log, "finalize: report not written: reading the experiment: %v\n", err)
		return
	}
	paths, err := WriteReports(dir, exp)
	if err != nil {
		fmt.Fprintf(log, "finalize: report not written: %v\n", err)
		return
	}
	fmt.Fprintf(log, "finalize: report written: %s\n", strings.Join(paths, ", "))
}
