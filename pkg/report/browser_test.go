//go:build !unit

package report

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iter8-tools/iter8-tekton/pkg/describe"
	"github.com/iter8-tools/iter8-tekton/test/harness"
)

// consoleLine is a message of the page's console in chromium's log (--enable-logging
// --v=0): "[pid:tid:time:INFO:CONSOLE:1] "message", source: file:///... (1)" (older
// releases write CONSOLE(1)).
var consoleLine = regexp.MustCompile(`:CONSOLE[:(]`)

const shotWidth, shotHeight = 1200, 2000

// chromium runs the headless browser on page with args and returns its standard output
// and its console messages.
func chromium(t *testing.T, bin, page string, args ...string) (stdout string, console []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]string{
		// --no-sandbox: tests and CI run as root; --disable-dev-shm-usage: containers'
		// /dev/shm is often 64 MB.
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
	}, args...)
	all = append(all, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, all...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// A helper process that outlives a killed browser must not hold the test on its pipes.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(all, " "), err, errOut.String())
	}
	for _, l := range strings.Split(errOut.String(), "\n") {
		if consoleLine.MatchString(l) {
			console = append(console, l)
		}
	}
	return out.String(), console
}

// TestReportInABrowser renders reports in Debian's headless chromium: the page loads
// without a console message (no script error, no blocked fetch, no malformed SVG), the
// DOM has one series per version and metric, and a screenshot has content. It is an
// integration test: skipped with ITER8_INTEGRATION=skip, failed when chromium is missing
// and ITER8_INTEGRATION=required (make test). ITER8_REPORT_SCREENSHOTS=DIR keeps the
// screenshots.
func TestReportInABrowser(t *testing.T) {
	harness.Integration(t, harness.NeedChromium)
	bin, err := harness.ChromiumBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// The check itself: a page with a script error, a blocked fetch and a malformed path
	// must show up as console messages, else the checks below prove nothing.
	bad := filepath.Join(dir, "bad.html")
	if err := os.WriteFile(bad, []byte(`<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head>`+
		`<body><img src="https://example.invalid/x.png"><svg><path d="M 1 x"/></svg></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, console := chromium(t, bin, bad, "--dump-dom"); len(console) < 2 {
		t.Fatalf("a page with a blocked fetch and a malformed path gave %d console messages, want 2: the console check does not work with this chromium:\n%s", len(console), strings.Join(console, "\n"))
	}

	for _, name := range []string{"progressive", "history-states"} {
		t.Run(name, func(t *testing.T) {
			exp := readTestExperiment(t, name)
			b, err := HTML(exp)
			if err != nil {
				t.Fatal(err)
			}
			page := filepath.Join(dir, name+".html")
			if err := os.WriteFile(page, b, 0o644); err != nil {
				t.Fatal(err)
			}

			dom, console := chromium(t, bin, page, "--dump-dom")
			if len(console) > 0 {
				t.Errorf("console messages:\n%s", strings.Join(console, "\n"))
			}
			s := describe.Summarize(exp)
			if got, want := strings.Count(dom, `class="series"`), len(s.Versions)*len(s.Metrics); got != want {
				t.Errorf("the rendered DOM has %d chart series, want %d (%d versions × %d metrics)", got, want, len(s.Versions), len(s.Metrics))
			}
			if got := strings.Count(dom, `class="weight-series"`); len(s.WeightHistory) > 0 && got != len(s.Versions) {
				t.Errorf("the rendered DOM has %d weight series, want %d", got, len(s.Versions))
			}
			if !strings.Contains(dom, `id="outcome">`) {
				t.Errorf("the rendered DOM has no outcome")
			}

			shot := filepath.Join(dir, name+".png")
			_, console = chromium(t, bin, page, "--screenshot="+shot, fmt.Sprintf("--window-size=%d,%d", shotWidth, shotHeight), "--hide-scrollbars")
			if len(console) > 0 {
				t.Errorf("console messages while taking the screenshot:\n%s", strings.Join(console, "\n"))
			}
			checkScreenshot(t, shot)
			if keep := os.Getenv("ITER8_REPORT_SCREENSHOTS"); keep != "" {
				if b, err := os.ReadFile(shot); err == nil {
					_ = os.WriteFile(filepath.Join(keep, name+".png"), b, 0o644)
				}
			}
		})
	}
}

// checkScreenshot fails unless path is a PNG of the window's size that is not blank:
// many colours (the charts' lines, text) and a fair share of non-white pixels.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != shotWidth || b.Dy() != shotHeight {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), shotWidth, shotHeight)
	}
	colors, nonWhite, total := countColors(img)
	if colors < 50 {
		t.Errorf("screenshot has %d colours: nothing was drawn", colors)
	}
	if share := float64(nonWhite) / float64(total); share < 0.01 {
		t.Errorf("screenshot is %.2f %% non-white: nothing was drawn", 100*share)
	}
}

func countColors(img image.Image) (colors, nonWhite, total int) {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r>>8 < 250 || g>>8 < 250 || bl>>8 < 250 {
				nonWhite++
			}
			total++
		}
	}
	return len(seen), nonWhite, total
}
