package iter8ctl

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// stdinName is how messages name standard input (-f -).
const stdinName = "stdin"

func inputName(path string) string {
	if path == "-" {
		return stdinName
	}
	return path
}

// readInput reads path, or standard input for "-". Empty input is an error, because every
// command needs at least one object.
func readInput(cmd *cobra.Command, path string) ([]byte, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(cmd.InOrStdin())
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", inputName(path), err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("reading %s: input is empty", inputName(path))
	}
	return b, nil
}

// readExperiment reads one Experiment, strictly: a misspelt field is an error rather than
// a silently ignored setting.
func readExperiment(cmd *cobra.Command, path string) (*v2alpha1.Experiment, error) {
	b, err := readInput(cmd, path)
	if err != nil {
		return nil, err
	}
	exp, err := v2alpha1.DecodeExperiment(b)
	if err != nil {
		return nil, fmt.Errorf("decoding experiment from %s: %w", inputName(path), err)
	}
	return exp, nil
}

// readReport reads an experiment to report on it (describe, assert): as a controller of
// any iter8 release may have written it. Fields iter8ctl does not read are named once on
// standard error; they change nothing of the report.
func readReport(cmd *cobra.Command, path string) (*v2alpha1.Experiment, error) {
	b, err := readInput(cmd, path)
	if err != nil {
		return nil, err
	}
	exp, ignored, err := v2alpha1.ReadExperiment(b)
	if err != nil {
		return nil, fmt.Errorf("decoding experiment from %s: %w", inputName(path), err)
	}
	if len(ignored) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %s: ignored %s that this iter8ctl does not read: %s\n",
			inputName(path), plural(len(ignored), "field"), strings.Join(ignored, ", "))
	}
	return exp, nil
}

// requireFile is the check of a required -f flag.
func requireFile(cmd *cobra.Command, path string) error {
	if path == "" {
		return usageErrorf(cmd, "flag -f is required: an experiment file, or - for standard input")
	}
	return nil
}
