/*
Copyright 2026 The regcred-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package version holds the operator's version and source revision, set at
// link time:
//
//	go build -ldflags "-X github.com/regcred/regcred-operator/internal/version.Version=v0.1.0 \
//	  -X github.com/regcred/regcred-operator/internal/version.Revision=$(git rev-parse HEAD)"
//
// (make build and the Dockerfile do this).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set with -ldflags -X (they must stay plain string variables for that).
var (
	// Version is the release, e.g. v0.1.0 or a `git describe` string.
	// Default "dev" (Get reports the module version instead when the binary
	// was built with `go install module@version`).
	Version = "dev"
	// Revision is the source commit. Default: vcs.revision from the build
	// information (go build in a git work tree, without -buildvcs=false),
	// else "unknown".
	Revision = ""
)

// Info is what the binary knows about its own build.
type Info struct {
	Version   string
	Revision  string
	GoVersion string
}

// Get returns the version, revision and Go version of this binary.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Version, Revision, bi)
}

// resolve fills what the link-time values leave empty from the build
// information (bi may be nil).
func resolve(version, revision string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Revision: revision, GoVersion: runtime.Version()}
	if bi != nil {
		if (info.Version == "" || info.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if info.Revision == "" {
			modified := false
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					info.Revision = s.Value
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
			if info.Revision != "" && modified {
				info.Revision += "-dirty"
			}
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Revision == "" {
		info.Revision = "unknown"
	}
	return info
}

// String is what --version prints:
// "regcred-operator <version> (<revision>, <goversion>)".
func (i Info) String() string {
	return fmt.Sprintf("regcred-operator %s (%s, %s)", i.Version, i.Revision, i.GoVersion)
}

// NewCollector returns the gauge regcred_build_info{version,revision,goversion},
// always 1, for the metrics registry.
func NewCollector() prometheus.Collector {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "regcred",
		Name:      "build_info",
		Help:      "Always 1; the labels say which version and revision of regcred-operator runs, built with which Go version.",
		ConstLabels: prometheus.Labels{
			"version":   i.Version,
			"revision":  i.Revision,
			"goversion": i.GoVersion,
		},
	})
	g.Set(1)
	return g
}
