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

package installtest

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/regcred/regcred-operator/internal/testenv"
)

// chartName is the chart's name; chartPath is where it lives in the repository.
const (
	chartName = "regcred-operator"
	chartPath = "charts/" + chartName
	// chartAllFeatures is the values file that turns every optional feature on
	// (make helm-lint lints it too).
	chartAllFeatures = chartPath + "/ci/all-features-values.yaml"
)

// chartFullname is the full name the chart derives from a release name with
// no overrides (the standard helm helper): every object name starts with it.
func chartFullname(release string) string {
	if strings.Contains(release, chartName) {
		return release
	}
	return release + "-" + chartName
}

// chartHelm runs the repository's Helm (the Go tool of hack/tools/go.mod,
// built on first use) from the repository root and returns its stdout.
func chartHelm(t *testing.T, args ...string) []byte {
	t.Helper()
	root := testenv.RepoRoot()
	cmd := exec.Command("go", append([]string{"tool", "-modfile=" + filepath.Join(root, "hack", "tools", "go.mod"), "helm"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// chartRender renders the chart for a release in a namespace, with extra
// helm template arguments (--values FILE, --set k=v).
func chartRender(t *testing.T, release, namespace string, args ...string) rendering {
	t.Helper()
	out := chartHelm(t, append([]string{"template", release, chartPath, "--namespace", namespace}, args...)...)
	r := newRendering(t, "release "+release, out)
	if len(r.objects) == 0 {
		t.Fatalf("release %s rendered no objects", release)
	}
	r.release, r.namespace = release, namespace
	return r
}

// chartRules returns the rules of a Role or ClusterRole.
func chartRules(t *testing.T, u *unstructured.Unstructured) []rbacv1.PolicyRule {
	t.Helper()
	switch u.GetKind() {
	case "ClusterRole":
		return typed[rbacv1.ClusterRole](t, u).Rules
	case "Role":
		return typed[rbacv1.Role](t, u).Rules
	}
	t.Fatalf("%s %s is not a role", u.GetKind(), u.GetName())
	return nil
}
