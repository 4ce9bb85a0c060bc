package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFromBuildInfo(t *testing.T) {
	checkout := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/iter8-tools/iter8-tekton", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d"},
			{Key: "vcs.time", Value: "2026-12-05T09:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	installed := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.2.0"}}
	for _, tc := range []struct {
		name    string
		bi      *debug.BuildInfo
		release string
		want    string
	}{
		{"a checkout with changes", checkout, "", "devel (commit 1a2b3c4d5e6f+modified, 2026-12-05T09:00:00Z, go1.26.0)"},
		{"a release build", checkout, "v0.2.0", "v0.2.0 (commit 1a2b3c4d5e6f+modified, 2026-12-05T09:00:00Z, go1.26.0)"},
		{"go install …@v0.2.0", installed, "", "v0.2.0 (go1.26.0)"},
		{"no build information", nil, "", "devel"},
	} {
		if diff := cmp.Diff(tc.want, fromBuildInfo(tc.bi, tc.release).String()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
