package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// EnvChromium names the browser binary the report's screenshot test runs, instead of
// Debian's chromium on PATH.
const EnvChromium = "ITER8_CHROMIUM"

// ChromiumBinary returns the headless browser of the report tests: $ITER8_CHROMIUM, or
// chromium (Debian package chromium) on PATH.
func ChromiumBinary() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("chromium (%s=%s): %w", EnvChromium, p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		return "", errors.New("chromium (Debian package chromium)")
	}
	return p, nil
}
