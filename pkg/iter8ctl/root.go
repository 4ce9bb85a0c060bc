// Package iter8ctl is the iter8ctl command line: describe, assert and validate experiments,
// and (in their own files) run them locally and emit PipelineRuns.
package iter8ctl

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/iter8-tools/iter8-tekton/pkg/buildinfo"
	"github.com/iter8-tools/iter8-tekton/pkg/localrun"
	"github.com/iter8-tools/iter8-tekton/pkg/termsafe"
)

// Exit codes of Main.
const (
	ExitOK    = 0
	ExitError = 1
	// ExitUsage is for a command line that cannot run: an unknown command, flag or
	// condition, a missing or malformed flag value, and for input that is not a valid
	// experiment (a missing, undecodable or invalid file).
	ExitUsage = 2
	// ExitAimNotAchieved is for iter8ctl run when the experiment ran and judged and its
	// aim was not achieved (outcome NoWinner or RolledBack), as the finalize stage exits.
	ExitAimNotAchieved = 3
	// ExitInterrupted is for iter8ctl run stopped by Ctrl-C or SIGTERM (after it
	// finalized the experiment): 128 + SIGINT, as shells report it.
	ExitInterrupted = 130
)

// subcommands build the subcommands of iter8ctl. To add one, write its constructor in its
// own file (run.go: func newRunCommand() *cobra.Command) and add it here: that line is the
// only change outside the new file. A constructor reads and writes through
// cmd.InOrStdin, cmd.OutOrStdout and cmd.ErrOrStderr and takes its context from
// cmd.Context, so that tests run it in-process; it returns usageErrorf for a command line
// that cannot run, so that Main exits with ExitUsage.
var subcommands = []func() *cobra.Command{
	newDescribeCommand,
	newAssertCommand,
	newValidateCommand,
	newPipelineRunCommand,
	newRunCommand,
	newVersionCommand,
	newGetCommand,
	newReportCommand,
}

// Main runs iter8ctl with args (without the program name), prints an error once as
// "Error: ..." on stderr and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Standard error is for people: progress, errors and warnings name versions, metrics
	// and backends' answers, which must not reach the terminal raw. Standard output holds
	// data (-o yaml|json) or describe's text, which escapes its own.
	stderr = termsafe.Writer{W: stderr}
	err := Run(ctx, args, stdin, stdout, stderr)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	if errors.Is(err, localrun.ErrInterrupted) {
		return ExitInterrupted
	}
	if errors.Is(err, localrun.ErrAimNotAchieved) {
		return ExitAimNotAchieved
	}
	var ie *invalidInputError
	if errors.As(err, &ie) || errors.Is(err, localrun.ErrNeedsPrometheus) {
		return ExitUsage
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.command != "" {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", ue.command)
		}
		return ExitUsage
	}
	return ExitError
}

// Run runs iter8ctl with args (without the program name). Errors are returned, not
// printed; usage errors satisfy IsUsageError.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "iter8ctl",
		Short: "Run, describe, check and validate iter8 experiments",
		Long: `iter8ctl describes iter8 experiments (iter8.tools/v2alpha1 and v2alpha2), checks their
outcome in CI, writes their report (an HTML page with a chart of every metric over the
iterations, or Markdown), validates experiment and metric files before they are applied,
prints a PipelineRun sized to an experiment, and runs a whole experiment on this machine
without a cluster (iter8ctl run).

An experiment is read from a file or, with -f -, from standard input, so that it can come
straight from the cluster:

  kubectl get experiment mirroring -o yaml | iter8ctl describe -f -`,
		Example: `  # Describe an experiment running in the cluster
  kubectl get experiment mirroring -o yaml | iter8ctl describe -f -

  # Fail a CI job unless the candidate won
  kubectl get experiment canary -o yaml | iter8ctl assert -f - -c completed -c noFailure -c candidateWon

  # A report to open in a browser
  iter8ctl report canary -n default --out canary.html

  # Check experiment and metric files before applying them
  iter8ctl validate -f experiment.yaml -f metrics.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Read().String(),
		// Without arguments iter8ctl prints its help; anything else that is not a
		// subcommand is a usage error rather than cobra's help-and-success.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf(cmd, "unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.SetVersionTemplate("iter8ctl {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{command: cmd.CommandPath(), err: err}
	})
	for _, sub := range subcommands {
		root.AddCommand(sub())
	}
	return root
}

// usageError is a command line that cannot run.
type usageError struct {
	// command is the command whose --help explains the usage.
	command string
	err     error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{command: cmd.CommandPath(), err: fmt.Errorf(format, args...)}
}

// IsUsageError reports whether err is a command line that cannot run.
func IsUsageError(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf(cmd, "unexpected argument %q: %s takes its input with -f", args[0], cmd.CommandPath())
	}
	return nil
}

// invalidInputError is input that is not a valid experiment: a missing, undecodable or
// invalid file. It exits ExitUsage, so that a CI job tells a broken job from a release
// that did not pass (ExitAimNotAchieved).
type invalidInputError struct{ err error }

func (e *invalidInputError) Error() string { return e.err.Error() }
func (e *invalidInputError) Unwrap() error { return e.err }
