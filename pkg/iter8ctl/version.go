package iter8ctl

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iter8-tools/iter8-tekton/pkg/buildinfo"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of iter8ctl",
		Long: `Print the version of iter8ctl: the release, or "devel" for a build from a checkout, with
the commit, its time and the Go toolchain it was built with.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "iter8ctl %s\n", buildinfo.Read())
			return err
		},
	}
}
