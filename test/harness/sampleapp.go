package harness

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/iter8-tools/iter8-tekton/pkg/sampleapp"
)

// StartSampleApp serves one sample-app revision on a free loopback port until the test
// ends and returns its address (HOST:PORT).
func StartSampleApp(t testing.TB, cfg sampleapp.Config) string {
	t.Helper()
	a, err := sampleapp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}
