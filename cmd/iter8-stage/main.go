// Command iter8-stage is the four stages in one binary, for the all-in-one task image:
// it runs the stage it is called as (/ko-app/iterate is a link to it), or the stage named
// by its first argument (iter8-stage iterate --iteration 1 ...). One binary instead of
// four identical ones keeps the image a quarter of the size.
package main

import (
	"os"

	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
)

func main() {
	os.Exit(stagecmd.MultiCall(os.Args, os.Stdout, os.Stderr))
}
