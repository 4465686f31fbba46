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
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/controllers"
)

// A copy whose labels someone changed drops out of the label-selected
// cache. It is still ours (its controller ownerReference): it is repaired
// (labels back), later rotations reach it, and deleting its
// RegistryCredential with Delete finishes.
func TestRelabelledCopyIsRepaired(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("relabel")
	ns := newNamespaces(t, group, 1, nil)[0]
	rc := newCredential(t, group, src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.DeletionPolicy = registryv1alpha1.DeletionPolicyDelete
	})
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))

	// a policy engine, or `kubectl label --overwrite`.
	g.Expect(updateSecret(ns, src.Name, func(s *corev1.Secret) {
		s.Labels[controllers.LabelManagedBy] = "someone-else"
	})).To(Succeed())
	g.Eventually(func() string {
		s, err := getSecret(ns, src.Name)
		if err != nil {
			return err.Error()
		}
		return s.Labels[controllers.LabelManagedBy]
	}, wait, tick).Should(Equal(controllers.ManagedByValue), "the copy's labels are repaired")

	// relabelled again, then the source rotates: the rotation reaches it.
	g.Expect(updateSecret(ns, src.Name, func(s *corev1.Secret) {
		s.Labels[controllers.LabelManagedBy] = "someone-else"
	})).To(Succeed())
	rotated := dockerConfig("private-registry.io", "robot", "rotated-"+password)
	g.Expect(updateSecret(sourceNS, src.Name, func(s *corev1.Secret) {
		s.Data[corev1.DockerConfigJsonKey] = rotated
	})).To(Succeed())
	g.Eventually(func() string {
		s, err := getSecret(ns, src.Name)
		if err != nil {
			return err.Error()
		}
		return string(s.Data[corev1.DockerConfigJsonKey])
	}, wait, tick).Should(Equal(string(rotated)), "the rotation reaches the relabelled copy")

	// relabelled once more (both labels), then deleted with Delete: the
	// finalizer finishes and the copy goes.
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
	g.Expect(updateSecret(ns, src.Name, func(s *corev1.Secret) {
		s.Labels[controllers.LabelManagedBy] = "someone-else"
		s.Labels[controllers.LabelCredential] = "someone-else"
	})).To(Succeed())
	g.Expect(k8s.Delete(ctx, &registryv1alpha1.RegistryCredential{ObjectMeta: metav1.ObjectMeta{Name: rc.Name}})).To(Succeed())
	g.Eventually(func() bool {
		err := k8s.Get(ctx, client.ObjectKey{Name: rc.Name}, &registryv1alpha1.RegistryCredential{})
		return apierrors.IsNotFound(err)
	}, wait, tick).Should(BeTrue(), "the RegistryCredential is deleted")
	g.Eventually(func() bool { _, err := getSecret(ns, src.Name); return apierrors.IsNotFound(err) }, wait, tick).Should(BeTrue(), "the copy is deleted")
	g.Expect(getSA(ns, "default").Annotations).NotTo(HaveKey(controllers.RecordAnnotation(rc.Name)))
	g.Expect(pullSecretNames(getSA(ns, "default"))).NotTo(ContainElement(src.Name))
}

// Changing targetSecretName to a name a user's Secret holds keeps the old
// copy and the ServiceAccounts' entry for it (the namespace keeps a working
// pull secret) and reports the Conflict; once the name is free, the new
// copy is made, the entries move to it, and only then the old copy goes.
func TestRenameSecuresTheNewCopyFirst(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("rename")
	ns := newNamespaces(t, group, 1, nil)[0]
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))

	taken := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users-own", Namespace: ns}, StringData: map[string]string{"k": "v"}}
	g.Expect(k8s.Create(ctx, taken)).To(Succeed())
	g.Expect(updateRC(rc.Name, func(cur *registryv1alpha1.RegistryCredential) { cur.Spec.TargetSecretName = "users-own" })).To(Succeed())
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonConflict))
	g.Consistently(func() error {
		old, err := getSecret(ns, src.Name)
		if err != nil {
			return err
		}
		if !metav1.IsControlledBy(old, getRC(rc.Name)) {
			return errString("the old copy is no longer ours")
		}
		if names := pullSecretNames(getSA(ns, "default")); len(names) != 1 || names[0] != src.Name {
			return errString("default lists " + strings.Join(names, ","))
		}
		return nil
	}, 3*time.Second, tick).Should(Succeed(), "the old copy and its entry stay while the new name is taken")
	got, err := getSecret(ns, "users-own")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.OwnerReferences).To(BeEmpty(), "the user's Secret is left alone")

	// the name is freed (the conflict recheck finds it).
	g.Expect(k8s.Delete(ctx, taken)).To(Succeed())
	g.Eventually(func() []string { return pullSecretNames(getSA(ns, "default")) }, wait, tick).Should(Equal([]string{"users-own"}))
	g.Eventually(func() bool { _, err := getSecret(ns, src.Name); return apierrors.IsNotFound(err) }, wait, tick).Should(BeTrue(), "the old copy goes")
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
}

type errString string

func (e errString) Error() string { return string(e) }

// pairReconciles is how many times the pair controller has run a work item
// (controller-runtime's reconcile counter, every result).
func pairReconciles(g Gomega) float64 {
	families, err := crmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	sum := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelValue(m, "controller") == controllers.PairControllerName {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// A copy kept Terminating by someone's finalizer cannot be written until it
// goes: its work item backs off through the workqueue (not a fixed 100 ms
// loop), the status says why, and once it is gone the copy is made again.
func TestTerminatingCopyBacksOff(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("terminating")
	ns := newNamespaces(t, group, 1, nil)[0]
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))

	const finalizer = "example.com/hold"
	g.Expect(updateSecret(ns, src.Name, func(s *corev1.Secret) { s.Finalizers = append(s.Finalizers, finalizer) })).To(Succeed())
	g.Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: src.Name}})).To(Succeed())
	// a rotation gives the work item something to write.
	g.Expect(updateSecret(sourceNS, src.Name, func(s *corev1.Secret) {
		s.Data[corev1.DockerConfigJsonKey] = dockerConfig("private-registry.io", "robot", "next-"+password)
	})).To(Succeed())
	g.Eventually(func() []registryv1alpha1.NamespaceFailure { return getRC(rc.Name).Status.Failures }, wait, tick).Should(ConsistOf(And(
		HaveField("Namespace", ns), HaveField("Reason", registryv1alpha1.ReasonSyncFailed), HaveField("Message", ContainSubstring("being deleted")))))
	g.Expect(readyReason(rc.Name)()).To(Equal(registryv1alpha1.ReasonSyncFailed))
	// whatever happens below, the copy is let go at the end.
	t.Cleanup(func() { _ = updateSecret(ns, src.Name, func(s *corev1.Secret) { s.Finalizers = nil }) })

	// past the first retries, 3 s hold a few runs (back-off doubling up to
	// 4 s), not one per 100 ms (30).
	start, before := time.Now(), pairReconciles(g)
	g.Consistently(func() float64 { return pairReconciles(g) - before }, 3*time.Second, 200*time.Millisecond).
		Should(BeNumerically("<", 12), "the work item of a Terminating copy backs off")
	t.Logf("pair work item runs in %v while the copy is Terminating: %v", time.Since(start).Round(time.Millisecond), pairReconciles(g)-before)

	g.Expect(updateSecret(ns, src.Name, func(s *corev1.Secret) { s.Finalizers = nil })).To(Succeed())
	g.Eventually(func() string {
		s, err := getSecret(ns, src.Name)
		if err != nil {
			return err.Error()
		}
		if s.DeletionTimestamp != nil {
			return "terminating"
		}
		return string(s.Data[corev1.DockerConfigJsonKey])
	}, wait, tick).Should(Equal(string(dockerConfig("private-registry.io", "robot", "next-"+password))))
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
}

// The cache holds what the API server returned: a namespace's metadata, a
// ServiceAccount, a source Secret and a copy are, apart from managedFields
// and the copy's data (its digest stands there), the objects the API server
// returns.
func TestCachedObjectsAreTrue(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", func(s *corev1.Secret) {
		s.Annotations = map[string]string{"team.example.com/owner": "platform"}
	})
	group := uniq("true")
	ns := newNamespaces(t, group, 1, map[string]string{"tier": "gold"})[0]
	g.Expect(updateNamespace(ns, func(n *corev1.Namespace) {
		n.Annotations = map[string]string{"scheduler.alpha.kubernetes.io/node-selector": "pool=a"}
	})).To(Succeed())
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
	g.Expect(updateSA(ns, "default", func(sa *corev1.ServiceAccount) {
		sa.Labels = map[string]string{"app": "x"}
		sa.Annotations["eks.amazonaws.com/role-arn"] = "arn:aws:iam::1:role/x"
	})).To(Succeed())

	cached := mgr.manager.GetCache()
	// managedFields are stripped in the cache; TypeMeta is set by readers,
	// not part of the object.
	stripped := func(o client.Object) client.Object {
		o.SetManagedFields(nil)
		o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		return o
	}
	same := func(live, inCache client.Object) func() error {
		return func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(live), live); err != nil {
				return err
			}
			if err := cached.Get(ctx, client.ObjectKeyFromObject(live), inCache); err != nil {
				return err
			}
			if !equality.Semantic.DeepEqual(stripped(live), stripped(inCache)) {
				return errString("cache differs from the API server for " + live.GetName())
			}
			return nil
		}
	}

	// a namespace, metadata-only (as the operator watches it).
	liveNS := &metav1.PartialObjectMetadata{}
	liveNS.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	liveNS.Name = ns
	cachedNS := &metav1.PartialObjectMetadata{}
	cachedNS.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	g.Eventually(same(liveNS, cachedNS), wait, tick).Should(Succeed())
	g.Expect(cachedNS.Labels).To(HaveKeyWithValue(corev1.LabelMetadataName, ns))
	g.Expect(cachedNS.UID).NotTo(BeEmpty())
	g.Expect(cachedNS.Annotations).To(HaveKey("scheduler.alpha.kubernetes.io/node-selector"))

	// a ServiceAccount, whole.
	g.Eventually(same(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}, &corev1.ServiceAccount{}), wait, tick).Should(Succeed())

	// the source, whole (data included).
	g.Eventually(same(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sourceNS, Name: src.Name}}, &corev1.Secret{}), wait, tick).Should(Succeed())

	// a copy: all but its data, whose digest stands in an annotation of the
	// cache's own.
	g.Eventually(func() error {
		live, err := getSecret(ns, src.Name)
		if err != nil {
			return err
		}
		inCache := &corev1.Secret{}
		if err := cached.Get(ctx, client.ObjectKeyFromObject(live), inCache); err != nil {
			return err
		}
		if inCache.Data != nil {
			return errString("the cache holds a copy's data")
		}
		digest := inCache.Annotations["registry.regcred.dev/observed-content-hash"]
		if digest == "" {
			return errString("no digest in place of the data")
		}
		delete(inCache.Annotations, "registry.regcred.dev/observed-content-hash")
		live.Data = nil
		if !equality.Semantic.DeepEqual(stripped(live), stripped(inCache)) {
			return errString("cached copy differs from the API server's beyond its data")
		}
		return nil
	}, wait, tick).Should(Succeed())
}
