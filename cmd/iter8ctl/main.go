// Command iter8ctl describes, asserts on and validates iter8 experiments.
package main

import (
	"context"
	"os"

	"github.com/iter8-tools/iter8-tekton/pkg/iter8ctl"
)

func main() {
	os.Exit(iter8ctl.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
