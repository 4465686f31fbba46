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

package controllers_test

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/testenv"
)

// TestHealth reads real RegistryCredentials back from the API server in
// each state and checks what kstatus (Flux, cli-utils) and the Argo CD
// health check in config/argocd make of them.
func TestHealth(t *testing.T) {
	script := argoScript(t)
	type want struct {
		reason  string
		kstatus status.Status
		argo    string
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, group string) *registryv1alpha1.RegistryCredential
		want  want
	}{{
		name: "synced",
		setup: func(t *testing.T, group string) *registryv1alpha1.RegistryCredential {
			src := newSource(t, uniq("src"), "private-registry.io", nil)
			return newCredential(t, group, src.Name, "private-registry.io", nil)
		},
		want: want{registryv1alpha1.ReasonSynced, status.CurrentStatus, "Healthy"},
	}, {
		name: "source not created yet",
		setup: func(t *testing.T, group string) *registryv1alpha1.RegistryCredential {
			return newCredential(t, group, uniq("missing"), "private-registry.io", nil)
		},
		want: want{registryv1alpha1.ReasonSourceNotFound, status.InProgressStatus, "Progressing"},
	}, {
		name: "source of the wrong type",
		setup: func(t *testing.T, group string) *registryv1alpha1.RegistryCredential {
			src := newSource(t, uniq("src"), "private-registry.io", func(s *corev1.Secret) {
				s.Type = corev1.SecretTypeOpaque
			})
			return newCredential(t, group, src.Name, "private-registry.io", nil)
		},
		want: want{registryv1alpha1.ReasonSourceInvalid, status.FailedStatus, "Degraded"},
	}, {
		name: "server not in the source",
		setup: func(t *testing.T, group string) *registryv1alpha1.RegistryCredential {
			src := newSource(t, uniq("src"), "other-registry.io", nil)
			return newCredential(t, group, src.Name, "private-registry.io", nil)
		},
		want: want{registryv1alpha1.ReasonServerNotInSource, status.FailedStatus, "Degraded"},
	}, {
		name: "source in a namespace sources may not live in",
		setup: func(t *testing.T, group string) *registryv1alpha1.RegistryCredential {
			other := newNamespaces(t, uniq("elsewhere"), 1, nil)[0]
			s := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: other},
				Type:       corev1.SecretTypeDockerConfigJson,
				Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerConfig("private-registry.io", "robot", password)},
			}
			NewWithT(t).Expect(k8s.Create(ctx, s)).To(Succeed())
			return newCredential(t, group, s.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
				rc.Spec.SecretRef.Namespace = other
			})
		},
		want: want{registryv1alpha1.ReasonSourceNotAllowed, status.FailedStatus, "Degraded"},
	}, {
		name: "a foreign Secret holds the target name",
		setup: func(t *testing.T, group string) *registryv1alpha1.RegistryCredential {
			src := newSource(t, uniq("src"), "private-registry.io", nil)
			ns := newNamespaces(t, group, 1, nil)[0]
			NewWithT(t).Expect(k8s.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: "taken", Namespace: ns},
				Data:       map[string][]byte{"k": []byte("users")},
			})).To(Succeed())
			return newCredential(t, group, src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
				rc.Spec.TargetSecretName = "taken"
			})
		},
		want: want{registryv1alpha1.ReasonConflict, status.FailedStatus, "Degraded"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			group := uniq("health")
			newNamespaces(t, group, 1, nil)
			rc := tc.setup(t, group)
			g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(tc.want.reason))

			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(registryv1alpha1.GroupVersion.WithKind("RegistryCredential"))
			g.Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKey{Name: rc.Name}, u)).To(Succeed())
				res, err := status.Compute(u)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(res.Status).To(Equal(tc.want.kstatus), "kstatus: %s", res.Message)
			}, wait, tick).Should(Succeed())
			argo := argoHealth(t, script, u.Object)
			g.Expect(argo).To(HaveKeyWithValue("status", tc.want.argo))
			res, err := status.Compute(u)
			g.Expect(err).NotTo(HaveOccurred())
			t.Logf("Ready reason %s: kstatus %s (%s); Argo CD %s (%s)", tc.want.reason, res.Status, res.Message, argo["status"], argo["message"])

			// The same object as if its spec had just changed: a status of
			// the older generation says nothing about the new one.
			stale := u.DeepCopy()
			stale.SetGeneration(u.GetGeneration() + 1)
			res, err = status.Compute(stale)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Status).To(Equal(status.InProgressStatus), "kstatus of a stale status: %s", res.Message)
			argo = argoHealth(t, script, stale.Object)
			g.Expect(argo).To(HaveKeyWithValue("status", "Progressing"))
			t.Logf("the same with generation %d: kstatus %s (%s); Argo CD %s (%s)", stale.GetGeneration(), res.Status, res.Message, argo["status"], argo["message"])
		})
	}
}

// TestHealthBeforeTheOperator: the object the API server returns for a
// create, before the operator has looked at it, is in progress for kstatus
// and Argo CD (its status defaults to observedGeneration 0), never done.
func TestHealthBeforeTheOperator(t *testing.T) {
	script := argoScript(t)
	g := NewWithT(t)
	group := uniq("fresh")
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": registryv1alpha1.GroupVersion.String(),
		"kind":       "RegistryCredential",
		"metadata":   map[string]any{"name": uniq("rc-fresh")},
		"spec": map[string]any{
			"server":            "private-registry.io",
			"secretRef":         map[string]any{"namespace": sourceNS, "name": uniq("missing")},
			"namespaceSelector": map[string]any{"matchLabels": map[string]any{"test": group}},
		},
	}}
	g.Expect(k8s.Create(ctx, u)).To(Succeed())
	t.Cleanup(func() { deleteCredential(t, u.GetName()) })
	observed, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue(), "status.observedGeneration in the create response: %v", u.Object["status"])
	g.Expect(observed).To(BeZero())
	res, err := status.Compute(u)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Status).To(Equal(status.InProgressStatus), "kstatus: %s", res.Message)
	argo := argoHealth(t, script, u.Object)
	g.Expect(argo).To(HaveKeyWithValue("status", "Progressing"))
	t.Logf("as created: kstatus %s (%s); Argo CD %s (%s)", res.Status, res.Message, argo["status"], argo["message"])
}

// TestArgoHealthWithoutStatus: a RegistryCredential the operator has not
// looked at yet (or one being deleted) is Progressing, never Healthy.
func TestArgoHealthWithoutStatus(t *testing.T) {
	script := argoScript(t)
	g := NewWithT(t)
	fresh := map[string]any{"metadata": map[string]any{"name": "x", "generation": int64(1)}}
	g.Expect(argoHealth(t, script, fresh)).To(HaveKeyWithValue("status", "Progressing"))
	deleting := map[string]any{
		"metadata": map[string]any{"name": "x", "generation": int64(1), "deletionTimestamp": "2026-01-01T00:00:00Z"},
		"status": map[string]any{"observedGeneration": int64(1), "conditions": []any{
			map[string]any{"type": "Ready", "status": "True", "reason": "Synced", "observedGeneration": int64(1)},
		}},
	}
	g.Expect(argoHealth(t, script, deleting)).To(HaveKeyWithValue("status", "Progressing"))
}

// argoScript is the Argo CD health check the project ships.
func argoScript(t *testing.T) []byte {
	t.Helper()
	script, err := testenv.ArgoHealthScript()
	if err != nil {
		t.Fatal(err)
	}
	return script
}

// argoHealth runs it on obj (see testenv.ArgoHealth).
func argoHealth(t *testing.T, script []byte, obj map[string]any) map[string]string {
	t.Helper()
	out, err := testenv.ArgoHealth(script, obj)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
