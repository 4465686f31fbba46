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
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/regcred/regcred-operator/internal/testenv"
)

// What the chart and the kustomize tests share: rendering, decoding, looking
// objects up, and handing them to a real API server.

// fieldOwner is the field manager of the dry-run applies.
const fieldOwner = "regcred-installtest"

// standInCRDs holds minimal CRDs (any content accepted) for the kinds of
// other projects the install may create: cert-manager's Issuer and
// Certificate, Prometheus Operator's ServiceMonitor and PrometheusRule.
const standInCRDs = "internal/installtest/testdata/crds"

// rendering is the output of one `helm template` or `kubectl kustomize`.
type rendering struct {
	// name says which rendering it is in failure messages.
	name string
	// release and namespace: the Helm release (empty for kustomize) and
	// the namespace the operator is installed in.
	release, namespace string
	text               string
	objects            []*unstructured.Unstructured
}

// newRendering decodes a rendering's text.
func newRendering(t *testing.T, name string, text []byte) rendering {
	t.Helper()
	objs, err := decodeYAML(text)
	if err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return rendering{name: name, text: string(text), objects: objs}
}

// all returns the objects of a kind.
func (r rendering) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range r.objects {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// find returns the object of a kind and name, or nil.
func (r rendering) find(kind, name string) *unstructured.Unstructured {
	for _, u := range r.all(kind) {
		if u.GetName() == name {
			return u
		}
	}
	return nil
}

// only returns the one object of a kind that carries the given labels (nil:
// any), failing when there are none or more.
func (r rendering) only(t *testing.T, kind string, lbls map[string]string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, u := range r.all(kind) {
		if labels.SelectorFromSet(lbls).Matches(labels.Set(u.GetLabels())) {
			found = append(found, u)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want exactly one %s with labels %v, rendered %d", r.name, kind, lbls, len(found))
	}
	return found[0]
}

// names returns the names of the objects of a kind, sorted.
func (r rendering) names(kind string) []string {
	var out []string
	for _, u := range r.all(kind) {
		out = append(out, u.GetName())
	}
	sort.Strings(out)
	return out
}

// kustomize renders a kustomization (a path relative to the repository root,
// or absolute) with the kubectl beside the control plane binaries (make
// envtest-assets builds it).
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(testenv.RepoRoot(), dir)
	}
	kubectl := filepath.Join(testenv.AssetsDir(), "kubectl")
	cmd := exec.Command(kubectl, "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s kustomize %s: %v\n%s", kubectl, dir, err, stderr.String())
	}
	return out
}

// decodeYAML splits a multi-document YAML stream into objects, skipping
// empty documents (helm's comment-only ones).
func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
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

// decodeFile decodes a YAML file of the repository into objects.
func decodeFile(t *testing.T, rel string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeYAML(data)
	if err != nil {
		t.Fatalf("decoding %s: %v", rel, err)
	}
	return objs
}

// typed converts an object to its Go type, failing on fields the type does
// not have (a typo in a template or patch).
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// parseFlags parses a container's args (--name or --name=value) into a map
// of flag name to value ("" for a bare flag); a flag given twice fails.
func parseFlags(t *testing.T, args []string) map[string]string {
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

// sortedKeys returns a map's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// installCRDs creates the CRDs in a directory of the repository (those that
// exist already are left) and waits until the API server serves them.
func installCRDs(ctx context.Context, t *testing.T, c client.Client, dir string) {
	t.Helper()
	g := NewWithT(t)
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), dir, "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).NotTo(BeEmpty(), "no CRDs in %s", dir)
	for _, f := range files {
		rel, _ := filepath.Rel(testenv.RepoRoot(), f)
		for _, crd := range decodeFile(t, rel) {
			if err := c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("creating %s from %s: %v", crd.GetName(), rel, err)
			}
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

// applyDryRun hands an object to the API server as a server-side apply with
// dryRun=All: admission, defaulting, validation and the apply's field
// ownership run, nothing is stored.
func applyDryRun(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.DryRunAll, client.FieldOwner(fieldOwner))
}

// measuredRSS10k is the operator's resident memory after a fan-out over
// 10,000 namespaces (docs/benchmarks.md, row 9b): the memory request must
// not sit below it.
var measuredRSS10k = resource.MustParse("292Mi")

// checkPodDefaults checks what every install's Deployment and
// PodDisruptionBudget must get right whatever the names:
//   - no GOMEMLIMIT or GOGC in the environment: the operator sets its memory
//     limit to 90% of the container's itself (GOMEMLIMIT equal to the limit
//     leaves the runtime's own memory no room), and keeps Go's GC pace;
//   - POD_NAME and POD_NAMESPACE from the downward API (leader election
//     identity, the operator's namespace);
//   - a memory request above measuredRSS10k, and a limit above the request;
//   - no PodDisruptionBudget that blocks a node drain of the healthy
//     replicas (at least one may be evicted).
func checkPodDefaults(t *testing.T, r rendering) {
	t.Helper()
	g := NewWithT(t)
	dep := typed[appsv1.Deployment](t, r.only(t, "Deployment", nil))
	manager := chartContainer(t, &dep.Spec.Template.Spec, "manager")
	env := map[string]corev1.EnvVar{}
	for _, e := range manager.Env {
		env[e.Name] = e
	}
	g.Expect(env).NotTo(HaveKey("GOMEMLIMIT"), "%s: GOMEMLIMIT is the operator's to set (90%% of the memory limit)", r.name)
	g.Expect(env).NotTo(HaveKey("GOGC"), "%s: Go's default GC pace", r.name)
	for name, field := range map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"} {
		g.Expect(env).To(HaveKey(name), r.name)
		g.Expect(env[name].ValueFrom).NotTo(BeNil(), "%s: %s", r.name, name)
		g.Expect(env[name].ValueFrom.FieldRef).NotTo(BeNil(), "%s: %s", r.name, name)
		g.Expect(env[name].ValueFrom.FieldRef.FieldPath).To(Equal(field), "%s: %s", r.name, name)
	}

	request, limit := manager.Resources.Requests.Memory(), manager.Resources.Limits.Memory()
	g.Expect(request.Cmp(measuredRSS10k)).To(Equal(1), "%s: memory request %s is below the %s measured at 10,000 namespaces", r.name, request, &measuredRSS10k)
	g.Expect(limit.IsZero()).To(BeFalse(), "%s: no memory limit (the Go memory limit derives from it)", r.name)
	g.Expect(limit.Cmp(*request)).To(Equal(1), "%s: memory limit %s not above the request %s", r.name, limit, request)

	replicas := 1
	if dep.Spec.Replicas != nil {
		replicas = int(*dep.Spec.Replicas)
	}
	for _, u := range r.all("PodDisruptionBudget") {
		pdb := typed[policyv1.PodDisruptionBudget](t, u)
		evictable := 0
		switch {
		case pdb.Spec.MaxUnavailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, replicas, true)
			g.Expect(err).NotTo(HaveOccurred(), r.name)
			evictable = n
		case pdb.Spec.MinAvailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, replicas, true)
			g.Expect(err).NotTo(HaveOccurred(), r.name)
			evictable = replicas - n
		}
		g.Expect(evictable).To(BeNumerically(">=", 1), "%s: PodDisruptionBudget %s lets no replica of %d be evicted: it blocks node drains", r.name, pdb.Name, replicas)
	}
}
