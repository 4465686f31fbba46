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
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/regcred/regcred-operator/internal/testenv"
)

// chartName is the chart's name; chartPath is where it lives in the repository.
const (
	chartName = "regcred-operator"
	chartPath = "charts/" + chartName
	// chartAllFeatures is the values file that turns every optional feature on
	// (make helm-lint lints it too).
	chartAllFeatures = chartPath + "/ci/all-features-values.yaml"
	// chartFieldOwner is the field manager of the dry-run applies.
	chartFieldOwner = "regcred-installtest"
)

// chartRendering is one `helm template` of the chart: its release, namespace
// and objects.
type chartRendering struct {
	release, namespace string
	objects            []*unstructured.Unstructured
}

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
func chartRender(t *testing.T, release, namespace string, args ...string) chartRendering {
	t.Helper()
	out := chartHelm(t, append([]string{"template", release, chartPath, "--namespace", namespace}, args...)...)
	objs, err := chartDecode(out)
	if err != nil {
		t.Fatalf("decoding the rendering of release %s: %v", release, err)
	}
	if len(objs) == 0 {
		t.Fatalf("release %s rendered no objects", release)
	}
	return chartRendering{release: release, namespace: namespace, objects: objs}
}

// chartKustomize renders config/default with the kubectl beside the control
// plane binaries.
func chartKustomize(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	kubectl := filepath.Join(testenv.AssetsDir(), "kubectl")
	cmd := exec.Command(kubectl, "kustomize", filepath.Join(testenv.RepoRoot(), "config", "default"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s kustomize config/default (make envtest-assets builds kubectl): %v\n%s", kubectl, err, stderr.String())
	}
	objs, err := chartDecode(out)
	if err != nil {
		t.Fatalf("decoding config/default: %v", err)
	}
	return objs
}

// chartDecode splits a multi-document YAML stream into objects, skipping
// empty documents (helm's comment-only ones).
func chartDecode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("an object without kind or name: %v", m)
		}
		objs = append(objs, u)
	}
}

// chartDecodeFile decodes a YAML file of the repository into objects.
func chartDecodeFile(t *testing.T, rel string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := chartDecode(data)
	if err != nil {
		t.Fatalf("decoding %s: %v", rel, err)
	}
	return objs
}

// all returns the objects of a kind.
func (r chartRendering) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range r.objects {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// find returns the object of a kind and name, or nil.
func (r chartRendering) find(kind, name string) *unstructured.Unstructured {
	for _, u := range r.all(kind) {
		if u.GetName() == name {
			return u
		}
	}
	return nil
}

// only returns the one object of a kind, failing when there are none or more.
func (r chartRendering) only(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	objs := r.all(kind)
	if len(objs) != 1 {
		t.Fatalf("release %s: want exactly one %s, rendered %d", r.release, kind, len(objs))
	}
	return objs[0]
}

// names returns the names of the objects of a kind, sorted.
func (r chartRendering) names(kind string) []string {
	var out []string
	for _, u := range r.all(kind) {
		out = append(out, u.GetName())
	}
	sort.Strings(out)
	return out
}

// chartTyped converts an object to its typed form, failing on fields the
// type does not have (a typo in a template).
func chartTyped[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// chartRules returns the rules of a Role or ClusterRole.
func chartRules(t *testing.T, u *unstructured.Unstructured) []rbacv1.PolicyRule {
	t.Helper()
	switch u.GetKind() {
	case "ClusterRole":
		return chartTyped[rbacv1.ClusterRole](t, u).Rules
	case "Role":
		return chartTyped[rbacv1.Role](t, u).Rules
	}
	t.Fatalf("%s %s is not a role", u.GetKind(), u.GetName())
	return nil
}

// chartFlags parses a container's args (--name or --name=value) into a map of
// flag name to value ("" for a bare flag); a flag given twice fails.
func chartFlags(t *testing.T, args []string) map[string]string {
	t.Helper()
	flags := map[string]string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			t.Fatalf("argument %q is not a --flag", a)
		}
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if _, dup := flags[name]; dup {
			t.Fatalf("flag --%s given twice in %v", name, args)
		}
		flags[name] = value
	}
	return flags
}

// chartKeys returns a map's keys, sorted.
func chartKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// chartInstallCRDs creates the CRDs in a directory of the repository and
// waits until the API server serves them.
func chartInstallCRDs(ctx context.Context, t *testing.T, c client.Client, dir string) {
	t.Helper()
	g := NewWithT(t)
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), dir, "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).NotTo(BeEmpty(), "no CRDs in %s", dir)
	for _, f := range files {
		rel, _ := filepath.Rel(testenv.RepoRoot(), f)
		for _, crd := range chartDecodeFile(t, rel) {
			g.Expect(c.Create(ctx, crd)).To(Succeed(), "creating %s", rel)
			g.Eventually(func(g Gomega) {
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(crd.GroupVersionKind())
				g.Expect(c.Get(ctx, client.ObjectKeyFromObject(crd), got)).To(Succeed())
				conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
				established := false
				for _, cond := range conds {
					m, _ := cond.(map[string]any)
					if m["type"] == "Established" && m["status"] == "True" {
						established = true
					}
				}
				g.Expect(established).To(BeTrue(), "CRD %s is not Established", crd.GetName())
			}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		}
	}
}

// chartApplyDryRun hands an object to the API server as a server-side apply
// with dryRun=All: admission, defaulting, validation and the apply's field
// ownership run, nothing is stored.
func chartApplyDryRun(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.DryRunAll, client.FieldOwner(chartFieldOwner))
}
