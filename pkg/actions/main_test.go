//go:build !unit

package actions_test

import (
	"testing"

	"github.com/iter8-tools/iter8-tekton/test/harness"
)

func TestMain(m *testing.M) {
	runAsHelper()
	harness.MainControlPlane(m)
}
