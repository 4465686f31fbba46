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

package version

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}}
	}
	cases := map[string]struct {
		version, revision string
		bi                *debug.BuildInfo
		want              Info
	}{
		"link-time values win": {"v0.1.0", "abc123", vcs("def456", "true"),
			Info{"v0.1.0", "abc123", "go1.99.1"}},
		"revision from the build information": {"dev", "", vcs("def456", "false"),
			Info{"dev", "def456", "go1.99.1"}},
		"modified work tree": {"dev", "", vcs("def456", "true"),
			Info{"dev", "def456-dirty", "go1.99.1"}},
		"go install module@version": {"dev", "", &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v0.2.0"}},
			Info{"v0.2.0", "unknown", "go1.99.1"}},
		"no build information": {"", "", nil,
			Info{"dev", "unknown", runtime.Version()}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := resolve(tc.version, tc.revision, tc.bi); got != tc.want {
				t.Fatalf("resolve = %+v, want %+v", got, tc.want)
			}
		})
	}
	if got, want := (Info{"v0.1.0", "abc123", "go1.26.11"}).String(), "regcred-operator v0.1.0 (abc123, go1.26.11)"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}

func TestCollector(t *testing.T) {
	c := NewCollector()
	if v := testutil.ToFloat64(c); v != 1 {
		t.Fatalf("regcred_build_info = %v, want 1", v)
	}
	i := Get()
	want := `# HELP regcred_build_info Always 1; the labels say which version and revision of regcred-operator runs, built with which Go version.
# TYPE regcred_build_info gauge
regcred_build_info{goversion="` + i.GoVersion + `",revision="` + i.Revision + `",version="` + i.Version + `"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("promlint: %v", problems)
	}
}

// The -X flags of the Makefile reach the variables (they must stay plain
// string variables for the linker to set them).
func TestLinkTimeValues(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	const pkg = "github.com/regcred/regcred-operator/internal/version"
	bin := filepath.Join(t.TempDir(), "printversion")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X "+pkg+".Version=v9.8.7 -X "+pkg+".Revision=0123abc", "./testdata/printversion")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "regcred-operator v9.8.7 (0123abc, go"; !strings.HasPrefix(string(out), want) {
		t.Fatalf("output %q, want prefix %q", out, want)
	}
}
