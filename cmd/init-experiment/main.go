// Command init-experiment is the init-experiment stage of an iter8 experiment, run as a Tekton Task step.
package main

import (
	"os"

	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
)

func main() {
	os.Exit(stagecmd.Main(stagecmd.StageInit, os.Args[1:], os.Stdout, os.Stderr))
}
