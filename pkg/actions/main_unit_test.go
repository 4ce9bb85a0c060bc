//go:build unit

package actions_test

import (
	"os"
	"testing"
)

// With -tags unit the tests that need a real API server are left out (make fuzz builds
// so), and so is the shared control plane.
func TestMain(m *testing.M) {
	runAsHelper()
	os.Exit(m.Run())
}
