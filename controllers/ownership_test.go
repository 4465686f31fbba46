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
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/controllers"
)

// labelledClone is a Secret that carries the operator's labels and
// annotation but was not made by it (a `kubectl get -o yaml` clone without
// its ownerReferences, a policy engine's clone rule, a restore).
func labelledClone(ns, name, credential string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels:      map[string]string{controllers.LabelManagedBy: controllers.ManagedByValue, controllers.LabelCredential: credential},
			Annotations: map[string]string{controllers.AnnotationSource: sourceNS + "/x"},
		},
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"users.example.com":{"auth":"dXNlcjpwYXNz"}}}`)},
	}
}

// unchanged asserts that the Secret still exists exactly as created.
func unchanged(g Gomega, s *corev1.Secret) {
	got, err := getSecret(s.Namespace, s.Name)
	g.Expect(err).NotTo(HaveOccurred(), "%s/%s was deleted", s.Namespace, s.Name)
	g.Expect(got.ResourceVersion).To(Equal(s.ResourceVersion), "%s/%s was changed", s.Namespace, s.Name)
	g.Expect(got.OwnerReferences).To(BeEmpty())
}

// A labelled clone is not ours: under another name it survives a rename of
// the target and the deletion of the RegistryCredential; under the target
// name it is a Conflict and is never written.
func TestLabelledCloneIsNotOurs(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("clone")
	nss := newNamespaces(t, group, 2, nil)
	held := newNamespaces(t, group+"-held", 1, nil)[0]
	rc := newCredential(t, group, src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.DeletionPolicy = registryv1alpha1.DeletionPolicyDelete
	})
	g.Eventually(func() string { return getRC(rc.Name).Status.Namespaces }, wait, tick).Should(Equal("2/2"))

	// under another name, beside our copy
	other := labelledClone(nss[0], "clone-"+src.Name, rc.Name)
	g.Expect(k8s.Create(ctx, other)).To(Succeed())
	// under the target name, in a namespace selected afterwards
	atTarget := labelledClone(held, src.Name, rc.Name)
	g.Expect(k8s.Create(ctx, atTarget)).To(Succeed())
	g.Expect(updateNamespace(held, func(ns *corev1.Namespace) { ns.Labels["test"] = group })).To(Succeed())

	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonConflict))
	g.Expect(getRC(rc.Name).Status.Failures).To(ConsistOf(And(
		HaveField("Namespace", held), HaveField("Reason", registryv1alpha1.ReasonConflict),
		HaveField("Message", ContainSubstring("not controlled by this RegistryCredential")))))
	g.Expect(pullSecretNames(getSA(held, "default"))).To(BeEmpty(), "a Conflict namespace's ServiceAccounts are left alone")

	// a rename removes our old copies, not the clones
	g.Expect(updateRC(rc.Name, func(cur *registryv1alpha1.RegistryCredential) { cur.Spec.TargetSecretName = "renamed" })).To(Succeed())
	for _, ns := range nss {
		g.Eventually(func() bool { _, err := getSecret(ns, src.Name); return apierrors.IsNotFound(err) }, wait, tick).Should(BeTrue(), "old copy in %s", ns)
		g.Eventually(func() error { _, err := getSecret(ns, "renamed"); return err }, wait, tick).Should(Succeed())
	}
	g.Eventually(func() error { _, err := getSecret(held, "renamed"); return err }, wait, tick).Should(Succeed())
	unchanged(g, other)
	unchanged(g, atTarget)

	// deletion with Delete removes our copies, not the clones
	deleteCredential(t, rc.Name)
	for _, ns := range append(nss, held) {
		g.Eventually(func() bool { _, err := getSecret(ns, "renamed"); return apierrors.IsNotFound(err) }, wait, tick).Should(BeTrue())
	}
	unchanged(g, other)
	unchanged(g, atTarget)
}

// Orphan leaves the copies and entries to the user and removes our records;
// a later RegistryCredential of the same name that does not select the
// namespace never touches them, nor does its deletion.
func TestOrphanThenSuccessor(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("orphan")
	ns := newNamespaces(t, group, 1, nil)[0]
	name := uniq("rc-orphan")
	create := func(selectGroup string, policy registryv1alpha1.DeletionPolicy) *registryv1alpha1.RegistryCredential {
		rc := &registryv1alpha1.RegistryCredential{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: registryv1alpha1.RegistryCredentialSpec{
				Server:            "private-registry.io",
				SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: src.Name},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"test": selectGroup}},
				DeletionPolicy:    policy,
			},
		}
		g.Expect(k8s.Create(ctx, rc)).To(Succeed())
		return rc
	}
	first := create(group, registryv1alpha1.DeletionPolicyOrphan)
	g.Eventually(func() []string { return pullSecretNames(getSA(ns, "default")) }, wait, tick).Should(Equal([]string{src.Name}))
	g.Expect(getSA(ns, "default").Annotations).To(HaveKeyWithValue(controllers.RecordAnnotation(name), controllers.FormatRecord(src.Name, getRC(name).UID)))

	deleteCredential(t, first.Name)
	kept, err := getSecret(ns, src.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(kept.OwnerReferences).To(BeEmpty())
	g.Expect(pullSecretNames(getSA(ns, "default"))).To(Equal([]string{src.Name}), "the entry stays, now the user's")
	g.Expect(getSA(ns, "default").Annotations).NotTo(HaveKey(controllers.RecordAnnotation(name)), "the record goes")

	// a successor of the same name that does not select the namespace
	create(uniq("elsewhere"), registryv1alpha1.DeletionPolicyDelete)
	t.Cleanup(func() { deleteCredential(t, name) })
	g.Eventually(readyReason(name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
	g.Consistently(func() []string { return pullSecretNames(getSA(ns, "default")) }, 2*time.Second, tick).Should(Equal([]string{src.Name}))
	unchanged(g, kept)

	deleteCredential(t, name)
	g.Expect(pullSecretNames(getSA(ns, "default"))).To(Equal([]string{src.Name}))
	unchanged(g, kept)
}

// A foreign Secret that takes the copy's name between the cache's view and
// our write is never written or deleted: the stale write fails on its
// preconditions, and the namespace is reported as a Conflict.
func TestForeignSecretTakesTheName(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("race")
	nss := newNamespaces(t, group, 4, nil)
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(func() string { return getRC(rc.Name).Status.Namespaces }, wait, tick).Should(Equal("4/4"))

	var foreign []*corev1.Secret
	for i, ns := range nss {
		s := labelledClone(ns, src.Name, rc.Name)
		if i%2 == 1 {
			s.Labels = map[string]string{"owner": "someone-else"} // not labelled: not even cached
		}
		// delete our copy and put another Secret there at once, before the
		// operator's cache has seen the deletion (when the operator is
		// quicker and restores its copy first, again).
		g.Eventually(func() error {
			if ours, err := getSecret(ns, src.Name); err == nil {
				if err := k8s.Delete(ctx, ours); err != nil && !apierrors.IsNotFound(err) {
					return err
				}
			}
			return k8s.Create(ctx, s)
		}, wait, time.Millisecond).Should(Succeed())
		foreign = append(foreign, s)
	}
	g.Eventually(func() int32 { return getRC(rc.Name).Status.FailedNamespaces }, wait, tick).Should(BeEquivalentTo(len(nss)))
	g.Expect(readyReason(rc.Name)()).To(Equal(registryv1alpha1.ReasonConflict))
	g.Consistently(func(g Gomega) {
		for _, s := range foreign {
			unchanged(g, s)
		}
	}, 2*time.Second, 100*time.Millisecond).Should(Succeed())
}

// What the process keeps (failure book, both controllers' source checks,
// propagation timers, write book) goes back to its size once
// the namespaces and credentials it was about are deleted.
func TestProcessStateForgotten(t *testing.T) {
	g := NewWithT(t)
	// the earlier tests' credentials are deleted: nothing of them is kept.
	var before [5]int
	g.Eventually(mgr.operator.StateSizes, wait, tick).Should(Equal(before))
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("state")
	nss := newNamespaces(t, group, 3, nil)
	// a conflict in one namespace puts an entry in the failure book
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: src.Name, Namespace: nss[0]}, Data: map[string][]byte{"k": []byte("v")}})).To(Succeed())
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonConflict))
	during := mgr.operator.StateSizes()
	g.Expect(during[0]).To(BeNumerically(">", before[0]), "failure book")
	g.Expect(during[1]).To(BeNumerically(">", before[1]), "pair controller's source checks")
	g.Expect(during[2]).To(BeNumerically(">", before[2]), "credential controller's source checks")
	g.Expect(during[3]).To(BeNumerically(">", before[3]), "propagation timers")
	// the write book empties once the cache shows the writes.
	g.Eventually(func() int { return mgr.operator.StateSizes()[4] }, wait, tick).Should(Equal(before[4]), "write book")

	g.Expect(k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nss[0]}})).To(Succeed())
	g.Eventually(func() int { return mgr.operator.StateSizes()[0] }, wait, tick).Should(Equal(before[0]), "failure of a deleted namespace forgotten")
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))

	deleteCredential(t, rc.Name)
	g.Eventually(mgr.operator.StateSizes, wait, tick).Should(Equal(before))
}

// A condition message longer than an Event note can hold (events.k8s.io
// rejects notes over 1 KiB) is still recorded as an Event, shortened.
func TestLongConditionMessageEvent(t *testing.T) {
	g := NewWithT(t)
	var entries []string
	for i := range 200 {
		entries = append(entries, fmt.Sprintf(`"registry-%03d.other-registries.example.com":{"auth":"dTpw"}`, i))
	}
	src := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: uniq("src"), Namespace: sourceNS},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{` + strings.Join(entries, ",") + `}}`)},
	}
	g.Expect(k8s.Create(ctx, src)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(ctx, src) })
	group := uniq("longmsg")
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonServerNotInSource))
	msg := conditionMessage(rc.Name)
	g.Expect(len(msg)).To(BeNumerically(">=", 5*1024), "the condition message is the long one")
	g.Eventually(func() []eventsv1.Event {
		list := &eventsv1.EventList{}
		g.Expect(k8s.List(ctx, list)).To(Succeed())
		var out []eventsv1.Event
		for _, e := range list.Items {
			if e.Regarding.Name == rc.Name && e.Reason == registryv1alpha1.ReasonServerNotInSource {
				out = append(out, e)
			}
		}
		return out
	}, wait, tick).Should(ContainElement(HaveField("Note", And(HavePrefix(msg[:200]), HaveLen(1024)))))
}
