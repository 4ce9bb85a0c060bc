// Package buildinfo says which build of iter8-tekton is running, from the module
// information the Go toolchain records in every binary.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// version is set by a release build (-ldflags "-X .../pkg/buildinfo.version=v0.2.0"); it
// wins over the module's version, which is "(devel)" for a build from a checkout.
var version string

// Info is what a binary knows of its build.
type Info struct {
	// Version is the release (v0.2.0), the module version of `go install …@v0.2.0`, or
	// "devel" for a build from a checkout.
	Version string
	// Revision is the commit, and Modified whether the tree had changes; empty when the
	// build had no VCS information (go run, -buildvcs=false).
	Revision string
	Modified bool
	// Time is the commit's time, RFC 3339.
	Time string
	// GoVersion is the toolchain's.
	GoVersion string
}

// Read returns the running binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fromBuildInfo(nil, version)
	}
	return fromBuildInfo(bi, version)
}

// fromBuildInfo is Read for a given module information and release version.
func fromBuildInfo(bi *debug.BuildInfo, release string) Info {
	in := Info{Version: "devel"}
	if bi != nil {
		in.GoVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			in.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.time":
				in.Time = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if release != "" {
		in.Version = release
	}
	return in
}

// String is one line: "v0.2.0 (commit 1a2b3c4d5e6f, 2026-12-05T09:00:00Z, go1.26.0)".
func (in Info) String() string {
	var details []string
	if in.Revision != "" {
		rev := in.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if in.Modified {
			rev += "+modified"
		}
		details = append(details, "commit "+rev)
	}
	if in.Time != "" {
		details = append(details, in.Time)
	}
	if in.GoVersion != "" {
		details = append(details, in.GoVersion)
	}
	if len(details) == 0 {
		return in.Version
	}
	return fmt.Sprintf("%s (%s)", in.Version, strings.Join(details, ", "))
}
