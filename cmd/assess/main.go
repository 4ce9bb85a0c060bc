// Command assess is the assess stage of an iter8 experiment, run as a Tekton Task step.
package main

import (
	"os"

	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
)

func main() {
	os.Exit(stagecmd.Main(stagecmd.StageAssess, os.Args[1:], os.Stdout, os.Stderr))
}
