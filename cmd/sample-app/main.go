// Command sample-app is the sample application of the iter8-tekton tutorials: an HTTP
// server that answers with its version and exposes Knative's queue-proxy request metrics.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/iter8-tools/iter8-tekton/pkg/sampleapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := sampleapp.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sample-app:", err)
		os.Exit(sampleapp.ExitCode(err))
	}
}
