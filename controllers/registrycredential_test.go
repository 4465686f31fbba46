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
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/controllers"
)

const (
	wait = 15 * time.Second
	tick = 50 * time.Millisecond
)

var ctx = context.Background()

// Behaviour 1 and 2: copies with our metadata and none of the source's
// GitOps tracking metadata; ServiceAccounts list the copy exactly once,
// after the entries others put there.
func TestFanOutCopiesAndServiceAccounts(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", func(s *corev1.Secret) {
		s.Labels = map[string]string{"app.kubernetes.io/instance": "platform", "team": "infra"}
		s.Annotations = map[string]string{
			"argocd.argoproj.io/tracking-id":                   "platform:/Secret:regcred-system/x",
			"kubectl.kubernetes.io/last-applied-configuration": `{"data":{".dockerconfigjson":"` + password + `"}}`,
		}
	})
	nss := newNamespaces(t, "fanout", 3, nil)
	// a ServiceAccount that already lists other pull secrets
	builder := &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "builder", Namespace: nss[0]},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "team-a"}, {Name: "team-b"}},
	}
	g.Expect(k8s.Create(ctx, builder)).To(Succeed())

	rc := newCredential(t, "fanout", src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.TargetSecretName = "regcred"
	})

	for _, ns := range nss {
		g.Eventually(func() error { _, err := getSecret(ns, "regcred"); return err }, wait, tick).Should(Succeed(), ns)
		c, _ := getSecret(ns, "regcred")
		g.Expect(c.Type).To(Equal(corev1.SecretTypeDockerConfigJson))
		g.Expect(c.Data).To(Equal(src.Data))
		g.Expect(c.Labels).To(HaveKeyWithValue(controllers.LabelManagedBy, controllers.ManagedByValue))
		g.Expect(c.Labels).To(HaveKeyWithValue(controllers.LabelCredential, rc.Name))
		g.Expect(c.Annotations).To(HaveKeyWithValue(controllers.AnnotationSource, sourceNS+"/"+src.Name))
		g.Expect(c.Labels).NotTo(HaveKey("app.kubernetes.io/instance"))
		g.Expect(c.Labels).NotTo(HaveKey("team"))
		for k := range c.Annotations {
			g.Expect(k).NotTo(HavePrefix("argocd.argoproj.io/"))
			g.Expect(k).NotTo(Equal("kubectl.kubernetes.io/last-applied-configuration"))
			g.Expect(k).NotTo(ContainSubstring("observed"), "cache-only annotation leaked to the API server")
		}
		ref := metav1.GetControllerOf(c)
		g.Expect(ref).NotTo(BeNil())
		g.Expect(ref.Kind).To(Equal("RegistryCredential"))
		g.Expect(ref.UID).To(Equal(getRC(rc.Name).UID))

		g.Eventually(func() []string { return pullSecretNames(getSA(ns, "default")) }, wait, tick).Should(Equal([]string{"regcred"}))
	}
	g.Eventually(func() []string { return pullSecretNames(getSA(nss[0], "builder")) }, wait, tick).
		Should(Equal([]string{"team-a", "team-b", "regcred"}))
	g.Expect(getSA(nss[0], "builder").Annotations).To(HaveKeyWithValue(controllers.RecordAnnotation(rc.Name), controllers.FormatRecord("regcred", getRC(rc.Name).UID)))

	// Not in namespaces the selector does not pick.
	other := newNamespaces(t, "fanout-other", 1, nil)[0]
	g.Consistently(func() bool { _, err := getSecret(other, "regcred"); return apierrors.IsNotFound(err) }, time.Second, tick).Should(BeTrue())

	g.Eventually(func() *registryv1alpha1.RegistryCredentialStatus { return &getRC(rc.Name).Status }, wait, tick).Should(And(
		HaveField("SelectedNamespaces", BeEquivalentTo(3)),
		HaveField("SyncedNamespaces", BeEquivalentTo(3)),
		HaveField("PatchedServiceAccounts", BeEquivalentTo(4)),
		HaveField("Namespaces", Equal("3/3")),
		HaveField("Source", Equal(sourceNS+"/"+src.Name)),
		HaveField("ObservedGeneration", Equal(getRC(rc.Name).Generation)),
	))
	st, _ := ready(rc.Name)
	g.Expect(st).To(Equal(metav1.ConditionTrue))
	g.Eventually(func() []string { return eventsFor(t, rc.Name) }, wait, tick).Should(ContainElement(HavePrefix("Normal/Synced")))
}

// Behaviour 1: a namespace labelled after the fact, and behaviour 2: a
// ServiceAccount created later; serviceAccounts globs pick which ones.
func TestNamespaceLabelledLaterAndServiceAccountCreatedLater(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("late")
	ns := newNamespaces(t, group+"-x", 1, nil)[0]
	rc := newCredential(t, group, src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.ServiceAccounts = []string{"default", "ci-*"}
	})
	g.Consistently(func() bool { _, err := getSecret(ns, src.Name); return apierrors.IsNotFound(err) }, time.Second, tick).Should(BeTrue())

	g.Expect(updateNamespace(ns, func(n *corev1.Namespace) { n.Labels["test"] = group })).To(Succeed())
	g.Eventually(func() error { _, err := getSecret(ns, src.Name); return err }, wait, tick).Should(Succeed())
	g.Eventually(func() []string { return pullSecretNames(getSA(ns, "default")) }, wait, tick).Should(Equal([]string{src.Name}))

	for _, name := range []string{"ci-runner", "app"} {
		g.Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})).To(Succeed())
	}
	g.Eventually(func() []string { return pullSecretNames(getSA(ns, "ci-runner")) }, wait, tick).Should(Equal([]string{src.Name}))
	g.Consistently(func() []string { return pullSecretNames(getSA(ns, "app")) }, time.Second, tick).Should(BeEmpty())
	g.Eventually(func() int32 { return getRC(rc.Name).Status.PatchedServiceAccounts }, wait, tick).Should(BeEquivalentTo(2))

	// someone replaces the list: theirs stays, ours comes back after it
	g.Expect(updateSA(ns, "default", func(sa *corev1.ServiceAccount) {
		sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "theirs"}}
	})).To(Succeed())
	g.Eventually(func() []string { return pullSecretNames(getSA(ns, "default")) }, wait, tick).Should(Equal([]string{"theirs", src.Name}))
}

// Behaviour 3: rotation reaches every copy; a copy edited or deleted by
// someone else is restored.
func TestRotationAndRepair(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	nss := newNamespaces(t, "rotate", 3, nil)
	newCredential(t, "rotate", src.Name, "private-registry.io", nil)
	for _, ns := range nss {
		g.Eventually(func() error { _, err := getSecret(ns, src.Name); return err }, wait, tick).Should(Succeed())
	}

	rotated := dockerConfig("private-registry.io", "robot", "rotated-"+password)
	g.Expect(updateSecret(sourceNS, src.Name, func(s *corev1.Secret) { s.Data[corev1.DockerConfigJsonKey] = rotated })).To(Succeed())
	start := time.Now()
	for _, ns := range nss {
		g.Eventually(func() []byte {
			c, _ := getSecret(ns, src.Name)
			return c.Data[corev1.DockerConfigJsonKey]
		}, wait, tick).Should(Equal(rotated))
	}
	t.Logf("rotation reached %d copies in %v", len(nss), time.Since(start))

	// someone edits a copy's data and labels
	g.Expect(updateSecret(nss[0], src.Name, func(c *corev1.Secret) {
		c.Data[corev1.DockerConfigJsonKey] = []byte(`{"auths":{}}`)
		c.Labels["app.kubernetes.io/instance"] = "someapp"
	})).To(Succeed())
	g.Eventually(func() bool {
		c, _ := getSecret(nss[0], src.Name)
		_, tracked := c.Labels["app.kubernetes.io/instance"]
		return bytes.Equal(c.Data[corev1.DockerConfigJsonKey], rotated) && !tracked
	}, wait, tick).Should(BeTrue(), "edited copy restored")

	// someone deletes a copy
	c, _ := getSecret(nss[1], src.Name)
	g.Expect(k8s.Delete(ctx, c)).To(Succeed())
	g.Eventually(func() uidString {
		c2, err := getSecret(nss[1], src.Name)
		if err != nil {
			return ""
		}
		return uidString(c2.UID)
	}, wait, tick).ShouldNot(Or(BeEmpty(), Equal(uidString(c.UID))), "deleted copy recreated")
}

type uidString string

// Behaviour 4: a namespace that stops being selected loses our copy and
// our ServiceAccount entries, and only ours.
func TestDeselection(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("desel")
	nss := newNamespaces(t, group, 2, nil)
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(func() []string { return pullSecretNames(getSA(nss[0], "default")) }, wait, tick).Should(Equal([]string{src.Name}))
	g.Eventually(func() []string { return pullSecretNames(getSA(nss[1], "default")) }, wait, tick).Should(Equal([]string{src.Name}))

	// a user adds their own entry after ours
	g.Expect(updateSA(nss[0], "default", func(sa *corev1.ServiceAccount) {
		sa.ImagePullSecrets = append(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: "users-own"})
	})).To(Succeed())

	// label removed
	g.Expect(updateNamespace(nss[0], func(ns *corev1.Namespace) { delete(ns.Labels, "test") })).To(Succeed())
	g.Eventually(func() bool { _, err := getSecret(nss[0], src.Name); return apierrors.IsNotFound(err) }, wait, tick).Should(BeTrue())
	g.Eventually(func() []string { return pullSecretNames(getSA(nss[0], "default")) }, wait, tick).Should(Equal([]string{"users-own"}))
	g.Expect(getSA(nss[0], "default").Annotations).NotTo(HaveKey(controllers.RecordAnnotation(rc.Name)))

	// excluded by glob
	g.Expect(updateRC(rc.Name, func(cur *registryv1alpha1.RegistryCredential) {
		cur.Spec.ExcludeNamespaces = []string{group + "-*"}
	})).To(Succeed())
	g.Eventually(func() bool { _, err := getSecret(nss[1], src.Name); return apierrors.IsNotFound(err) }, wait, tick).Should(BeTrue())
	g.Eventually(func() []string { return pullSecretNames(getSA(nss[1], "default")) }, wait, tick).Should(BeEmpty())
	g.Eventually(func() string { return getRC(rc.Name).Status.Namespaces }, wait, tick).Should(Equal("0/0"))
}

// Behaviour 5: a same-name Secret we did not create is never touched; two
// RegistryCredentials wanting one name: the second reports the conflict.
func TestConflicts(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("conflict")
	nss := newNamespaces(t, group, 2, nil)
	users := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: nss[0], Labels: map[string]string{"owner": "user"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"k": []byte("users-data")},
	}
	g.Expect(k8s.Create(ctx, users)).To(Succeed())

	rc := newCredential(t, group, src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.TargetSecretName = "regcred"
	})
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonConflict))
	st, _ := ready(rc.Name)
	g.Expect(st).To(Equal(metav1.ConditionFalse))
	status := getRC(rc.Name).Status
	g.Expect(status.Failures).To(ConsistOf(And(
		HaveField("Namespace", nss[0]), HaveField("Reason", registryv1alpha1.ReasonConflict))))
	// Conflict is reported as soon as it is seen; the other namespace's
	// count follows with a later summary.
	g.Eventually(func() string { return getRC(rc.Name).Status.Namespaces }, wait, tick).Should(Equal("1/2"))
	// the other namespace is served
	g.Eventually(func() error { _, err := getSecret(nss[1], "regcred"); return err }, wait, tick).Should(Succeed())
	// the user's Secret is untouched, and its namespace's ServiceAccounts too
	got, err := getSecret(nss[0], "regcred")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.ResourceVersion).To(Equal(users.ResourceVersion))
	g.Expect(getSA(nss[0], "default").ImagePullSecrets).To(BeEmpty())
	g.Eventually(func() []string { return eventsFor(t, rc.Name) }, wait, tick).Should(ContainElement(HavePrefix("Warning/Conflict")))

	// a second RegistryCredential wanting the same name in nss[1]
	rc2 := newCredential(t, group, src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.TargetSecretName = "regcred"
	})
	g.Eventually(readyReason(rc2.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonConflict))
	g.Eventually(func() []registryv1alpha1.NamespaceFailure { return getRC(rc2.Name).Status.Failures }, wait, tick).Should(HaveLen(2))
	c, _ := getSecret(nss[1], "regcred")
	g.Expect(metav1.IsControlledBy(c, getRC(rc.Name))).To(BeTrue(), "the first owner keeps its copy")

	// the user's Secret goes away: whichever RegistryCredential looks first
	// takes the name; the other keeps reporting the conflict.
	g.Expect(k8s.Delete(ctx, users)).To(Succeed())
	var winner, loser *registryv1alpha1.RegistryCredential
	g.Eventually(func() bool {
		c, err := getSecret(nss[0], "regcred")
		if err != nil {
			return false
		}
		for _, cand := range [][2]*registryv1alpha1.RegistryCredential{{getRC(rc.Name), getRC(rc2.Name)}, {getRC(rc2.Name), getRC(rc.Name)}} {
			if metav1.IsControlledBy(c, cand[0]) {
				winner, loser = cand[0], cand[1]
				return true
			}
		}
		return false
	}, wait, tick).Should(BeTrue())
	g.Eventually(func() []registryv1alpha1.NamespaceFailure { return getRC(loser.Name).Status.Failures }, wait, tick).Should(ContainElement(HaveField("Namespace", nss[0])))
	g.Eventually(readyReason(loser.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonConflict))
	if winner.Name == rc.Name {
		g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
	}
}

// Behaviour 6: source deleted and restored; invalid sources change nothing
// and say why without credential bytes.
func TestSourceMissingInvalidAndRestored(t *testing.T) {
	g := NewWithT(t)
	srcName := uniq("src")
	src := newSource(t, srcName, "private-registry.io", nil)
	group := uniq("srcstate")
	ns := newNamespaces(t, group, 1, nil)[0]
	rc := newCredential(t, group, srcName, "private-registry.io", nil)
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
	copy1, _ := getSecret(ns, srcName)

	// deleted: copies kept
	g.Expect(k8s.Delete(ctx, src)).To(Succeed())
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSourceNotFound))
	g.Consistently(func() string { c, _ := getSecret(ns, srcName); return c.ResourceVersion }, time.Second, tick).Should(Equal(copy1.ResourceVersion))

	// restored with other data: resynced
	src2 := newSource(t, srcName, "private-registry.io", func(s *corev1.Secret) {
		s.Data[corev1.DockerConfigJsonKey] = dockerConfig("private-registry.io", "robot2", password)
	})
	g.Eventually(func() []byte { c, _ := getSecret(ns, srcName); return c.Data[corev1.DockerConfigJsonKey] }, wait, tick).
		Should(Equal(src2.Data[corev1.DockerConfigJsonKey]))
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
	copy2, _ := getSecret(ns, srcName)

	cases := []struct {
		name   string
		mutate func(*corev1.Secret)
		reason string
		says   string
	}{
		// (the API server itself refuses a dockerconfigjson that is not JSON)
		{"auths not an object", func(s *corev1.Secret) {
			s.Data[corev1.DockerConfigJsonKey] = []byte(`{"auths":"` + password + `"}`)
		}, registryv1alpha1.ReasonSourceInvalid, "auths"},
		{"entry password not a string", func(s *corev1.Secret) {
			s.Data[corev1.DockerConfigJsonKey] = []byte(`{"auths":{"private-registry.io":{"username":"` + password + `","password":12}}}`)
		}, registryv1alpha1.ReasonSourceInvalid, "registry entry"},
		{"no auths", func(s *corev1.Secret) {
			s.Data[corev1.DockerConfigJsonKey] = []byte(`{"password":"` + password + `"}`)
		}, registryv1alpha1.ReasonSourceInvalid, "auths"},
		{"server not in source", func(s *corev1.Secret) {
			s.Data[corev1.DockerConfigJsonKey] = dockerConfig("other-registry.io", "robot", password)
		}, registryv1alpha1.ReasonServerNotInSource, "other-registry.io"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(updateSecret(sourceNS, srcName, tc.mutate)).To(Succeed())
			g.Eventually(func() string { return conditionMessage(rc.Name) }, wait, tick).Should(ContainSubstring(tc.says))
			g.Expect(readyReason(rc.Name)()).To(Equal(tc.reason))
			cond := conditionMessage(rc.Name)
			g.Expect(cond).NotTo(ContainSubstring(password))
			c, _ := getSecret(ns, srcName)
			g.Expect(c.ResourceVersion).To(Equal(copy2.ResourceVersion), "nothing is copied while the source is invalid")
		})
	}

	// wrong type: Secret type is immutable, so recreate the source as Opaque
	g.Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sourceNS, Name: srcName}})).To(Succeed())
	newSource(t, srcName, "private-registry.io", func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque })
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSourceInvalid))
	g.Expect(conditionMessage(rc.Name)).To(ContainSubstring("type"))

	for _, e := range eventsFor(t, rc.Name) {
		g.Expect(e).NotTo(ContainSubstring(password))
	}
	g.Expect(logBuf.String()).NotTo(ContainSubstring(password), "credential bytes in the operator's log")
}

// Issue 19, item 5: a source is judged by the keys the kubelet would use.
// For a Docker Hub image the kubelet reads docker.io, index.docker.io and
// https://index.docker.io/v1/, never registry-1.docker.io; and it compares
// hosts case-sensitively.
func TestSourceKeysAsTheKubeletReadsThem(t *testing.T) {
	g := NewWithT(t)
	srcName := uniq("hubsrc")
	newSource(t, srcName, "registry-1.docker.io", nil)
	group := uniq("hubkeys")
	ns := newNamespaces(t, group, 1, nil)[0]
	rc := newCredential(t, group, srcName, "docker.io", nil)
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonServerNotInSource))
	g.Expect(conditionMessage(rc.Name)).To(ContainSubstring("registry-1.docker.io for Docker Hub images"))
	g.Eventually(func() []string { return eventsFor(t, rc.Name) }, wait, tick).Should(ContainElement(And(
		HavePrefix("Warning/"+registryv1alpha1.ReasonServerNotInSource+": "), ContainSubstring("index.docker.io/v1/"))))
	g.Eventually(func() string { return logBuf.String() }, wait, tick).Should(ContainSubstring("registry-1.docker.io for Docker Hub images"))
	_, err := getSecret(ns, srcName)
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no copy of a source the kubelet would not use: %v", err)

	for _, tc := range []struct {
		key, reason, says string
	}{
		{"docker.io", registryv1alpha1.ReasonSynced, ""},
		{"https://registry-1.docker.io/v2/", registryv1alpha1.ReasonServerNotInSource, "registry-1.docker.io for Docker Hub images"},
		{"index.docker.io", registryv1alpha1.ReasonSynced, ""},
		{"index.docker.io/library", registryv1alpha1.ReasonServerNotInSource, "only without a path"},
		{"https://index.docker.io/v1/", registryv1alpha1.ReasonSynced, ""},
	} {
		t.Run(tc.key, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(updateSecret(sourceNS, srcName, func(s *corev1.Secret) {
				s.Data[corev1.DockerConfigJsonKey] = dockerConfig(tc.key, "robot", password)
			})).To(Succeed())
			g.Eventually(func() bool {
				c, _ := getSecret(ns, srcName)
				return tc.reason == registryv1alpha1.ReasonServerNotInSource || string(c.Data[corev1.DockerConfigJsonKey]) == string(dockerConfig(tc.key, "robot", password))
			}, wait, tick).Should(BeTrue(), "the copy has the new source")
			g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(tc.reason))
			g.Expect(conditionMessage(rc.Name)).To(ContainSubstring(tc.says))
		})
	}

	// Hosts are compared case-sensitively by the kubelet.
	caseName := uniq("casesrc")
	newSource(t, caseName, "Private-Registry.io", nil)
	caseRC := newCredential(t, group, caseName, "private-registry.io", nil)
	g.Eventually(readyReason(caseRC.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonServerNotInSource))
	g.Expect(conditionMessage(caseRC.Name)).To(ContainSubstring("letter case"))
	g.Expect(logBuf.String()).NotTo(ContainSubstring(password), "credential bytes in the operator's log")
}

func conditionMessage(name string) string {
	rc := getRC(name)
	for _, c := range rc.Status.Conditions {
		if c.Type == registryv1alpha1.ConditionReady {
			return c.Message
		}
	}
	return ""
}

// Behaviour 7: sources only from allowed namespaces.
func TestSourceNotAllowed(t *testing.T) {
	g := NewWithT(t)
	group := uniq("notallowed")
	nss := newNamespaces(t, group, 2, nil)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: nss[0]},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerConfig("private-registry.io", "robot", password)},
	}
	g.Expect(k8s.Create(ctx, s)).To(Succeed())
	rc := newCredential(t, group, "elsewhere", "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.SecretRef.Namespace = nss[0]
	})
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSourceNotAllowed))
	g.Consistently(func() bool { _, err := getSecret(nss[1], "elsewhere"); return apierrors.IsNotFound(err) }, time.Second, tick).Should(BeTrue())
	g.Expect(getSA(nss[1], "default").ImagePullSecrets).To(BeEmpty())
	g.Eventually(func() []string { return eventsFor(t, rc.Name) }, wait, tick).Should(ContainElement(HavePrefix("Warning/SourceNotAllowed")))
}

// Behaviour 1: the source's own namespace is served, without copying the
// source onto itself and without a conflict.
func TestSourceNamespaceServed(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: uniq("sa"), Namespace: sourceNS}}
	g.Expect(k8s.Create(ctx, sa)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(ctx, sa) })
	rc := newCredential(t, "unused", src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": sourceNS}}
		rc.Spec.ServiceAccounts = []string{sa.Name}
	})
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
	g.Expect(getRC(rc.Name).Status.Namespaces).To(Equal("1/1"))
	got, _ := getSecret(sourceNS, src.Name)
	g.Expect(got.ResourceVersion).To(Equal(src.ResourceVersion), "the source is not overwritten")
	g.Expect(got.Labels).NotTo(HaveKey(controllers.LabelManagedBy))
	g.Eventually(func() []string { return pullSecretNames(getSA(sourceNS, sa.Name)) }, wait, tick).Should(Equal([]string{src.Name}))
	deleteCredential(t, rc.Name)
	g.Eventually(func() []string { return pullSecretNames(getSA(sourceNS, sa.Name)) }, wait, tick).Should(BeEmpty())
	_, err := getSecret(sourceNS, src.Name)
	g.Expect(err).NotTo(HaveOccurred(), "deleting the RegistryCredential never deletes the source")
}

// Behaviour 8: both deletion policies.
func TestDeletionPolicies(t *testing.T) {
	for _, policy := range []registryv1alpha1.DeletionPolicy{registryv1alpha1.DeletionPolicyDelete, registryv1alpha1.DeletionPolicyOrphan} {
		t.Run(string(policy), func(t *testing.T) {
			g := NewWithT(t)
			src := newSource(t, uniq("src"), "private-registry.io", nil)
			group := uniq("del")
			nss := newNamespaces(t, group, 2, nil)
			g.Expect(updateSA(nss[0], "default", func(sa *corev1.ServiceAccount) {
				sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "keep-me"}}
			})).To(Succeed())
			rc := newCredential(t, group, src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
				rc.Spec.DeletionPolicy = policy
			})
			g.Eventually(func() []string { return pullSecretNames(getSA(nss[0], "default")) }, wait, tick).Should(Equal([]string{"keep-me", src.Name}))
			g.Eventually(func() string { return getRC(rc.Name).Status.Namespaces }, wait, tick).Should(Equal("2/2"))
			g.Expect(getRC(rc.Name).Finalizers).To(ContainElement(controllers.Finalizer))

			deleteCredential(t, rc.Name)
			for _, ns := range nss {
				if policy == registryv1alpha1.DeletionPolicyDelete {
					g.Eventually(func() bool { _, err := getSecret(ns, src.Name); return apierrors.IsNotFound(err) }, wait, tick).Should(BeTrue(), "copy in %s deleted", ns)
					continue
				}
				// the finalizer went after the copies were detached, so the
				// garbage collector has nothing to act on.
				c, err := getSecret(ns, src.Name)
				g.Expect(err).NotTo(HaveOccurred(), "orphaned copy in %s kept", ns)
				g.Expect(c.OwnerReferences).To(BeEmpty())
				g.Expect(c.Labels).NotTo(HaveKey(controllers.LabelCredential))
				g.Expect(c.Data).To(Equal(src.Data))
			}
			want := []string{"keep-me"}
			if policy == registryv1alpha1.DeletionPolicyOrphan {
				want = []string{"keep-me", src.Name}
			}
			g.Expect(pullSecretNames(getSA(nss[0], "default"))).To(Equal(want))
			if policy == registryv1alpha1.DeletionPolicyOrphan {
				g.Expect(pullSecretNames(getSA(nss[1], "default"))).To(Equal([]string{src.Name}))
			} else {
				g.Expect(pullSecretNames(getSA(nss[1], "default"))).To(BeEmpty())
			}
			for _, ns := range nss {
				n := &corev1.Namespace{}
				g.Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, n)).To(Succeed())
				g.Expect(n.Finalizers).To(BeEmpty(), "no finalizers on namespaces")
			}
		})
	}
}

// A changed targetSecretName moves the copies and the ServiceAccount
// entries to the new name.
func TestTargetNameChange(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("rename")
	ns := newNamespaces(t, group, 1, nil)[0]
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(func() []string { return pullSecretNames(getSA(ns, "default")) }, wait, tick).Should(Equal([]string{src.Name}))
	g.Expect(updateRC(rc.Name, func(cur *registryv1alpha1.RegistryCredential) { cur.Spec.TargetSecretName = "renamed" })).To(Succeed())
	g.Eventually(func() []string { return pullSecretNames(getSA(ns, "default")) }, wait, tick).Should(Equal([]string{"renamed"}))
	g.Eventually(func() bool { _, err := getSecret(ns, src.Name); return apierrors.IsNotFound(err) }, wait, tick).Should(BeTrue())
	_, err := getSecret(ns, "renamed")
	g.Expect(err).NotTo(HaveOccurred())
}

// Behaviour 9: a steady state makes zero writes, on new events and across a
// restart of the operator.
func TestSteadyStateZeroWrites(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("steady")
	nss := newNamespaces(t, group, 5, nil)
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(func() string { return getRC(rc.Name).Status.Namespaces }, wait, tick).Should(Equal("5/5"))
	g.Eventually(func() int32 { return getRC(rc.Name).Status.PatchedServiceAccounts }, wait, tick).Should(BeEquivalentTo(5))
	// the counter sees the operator's writes (the copies just made)
	g.Expect(mgr.writes.list()).To(ContainElement(ContainSubstring("secrets")), "the write counter saw no copy being created")
	mgr.writes.waitQuiet(g, time.Second) // the last status write is done

	mgr.writes.reset()
	// wake the controllers without changing anything they care about
	for _, ns := range nss {
		g.Expect(updateSA(ns, "default", func(sa *corev1.ServiceAccount) {
			if sa.Annotations == nil {
				sa.Annotations = map[string]string{}
			}
			sa.Annotations["touched"] = "yes"
		})).To(Succeed())
	}
	g.Expect(updateRC(rc.Name, func(cur *registryv1alpha1.RegistryCredential) { cur.Labels = map[string]string{"touched": "yes"} })).To(Succeed())
	g.Consistently(mgr.writes.about(rc.Name), 3*time.Second, tick).Should(BeEmpty(), "writes in a steady state")

	// restart over the synced world
	mgr.stop()
	var err error
	mgr, err = startManager()
	g.Expect(err).NotTo(HaveOccurred())
	g.Consistently(mgr.writes.about(rc.Name), 4*time.Second, tick).Should(BeEmpty(), "writes after a restart over a synced world")
	g.Expect(readyReason(rc.Name)()).To(Equal(registryv1alpha1.ReasonSynced))
}

// Behaviour 10: the manager's cache holds only our copies and the allowed
// source namespace's Secrets, copies without data, nothing with
// managedFields.
func TestCacheHoldsNoUnrelatedSecrets(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("cache")
	nss := newNamespaces(t, group, 2, nil)
	for i := range 20 {
		g.Expect(k8s.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: uniq("unrelated"), Namespace: nss[i%2]},
			Data:       map[string][]byte{"k": bytes.Repeat([]byte("x"), 1024)},
		})).To(Succeed())
	}
	newCredential(t, group, src.Name, "private-registry.io", nil)
	list := &corev1.SecretList{}
	g.Eventually(func() error {
		if err := mgr.manager.GetCache().List(ctx, list); err != nil {
			return err
		}
		for _, s := range list.Items {
			if s.Namespace == nss[1] && s.Name == src.Name {
				return nil
			}
		}
		return fmt.Errorf("copy in %s not cached yet", nss[1])
	}, wait, tick).Should(Succeed())
	g.Expect(list.Items).NotTo(BeEmpty())
	for _, s := range list.Items {
		g.Expect(s.ManagedFields).To(BeEmpty(), "managedFields are stripped")
		if s.Namespace == sourceNS {
			continue
		}
		g.Expect(s.Labels).To(HaveKeyWithValue(controllers.LabelManagedBy, controllers.ManagedByValue), "unrelated Secret %s/%s cached", s.Namespace, s.Name)
		g.Expect(s.Data).To(BeEmpty(), "copies are cached without data")
	}
	// reading a type nobody watches fails instead of starting a cluster-wide informer
	err := mgr.manager.GetCache().List(ctx, &corev1.ConfigMapList{})
	g.Expect(err).To(HaveOccurred())
}

// The CRD rejects malformed servers with a clear message.
func TestServerValidation(t *testing.T) {
	cases := map[string]string{
		"https://private-registry.io": "scheme",
		"private-registry.io/":        "slash",
		"private registry.io":         "spaces",
		"private-registry.io/Team":    "host[:port][/path]",
	}
	for server, says := range cases {
		t.Run(server, func(t *testing.T) {
			g := NewWithT(t)
			rc := &registryv1alpha1.RegistryCredential{
				ObjectMeta: metav1.ObjectMeta{Name: uniq("invalid")},
				Spec: registryv1alpha1.RegistryCredentialSpec{
					Server:    server,
					SecretRef: registryv1alpha1.SecretReference{Namespace: sourceNS, Name: "x"},
				},
			}
			err := k8s.Create(ctx, rc)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			g.Expect(err.Error()).To(ContainSubstring(says))
		})
	}
	g := NewWithT(t)
	for _, ok := range []string{"private-registry.io", "registry.example.com:5000/team", "*.example.com", "[::1]:5000", "docker.io"} {
		rc := &registryv1alpha1.RegistryCredential{
			ObjectMeta: metav1.ObjectMeta{Name: uniq("valid")},
			Spec: registryv1alpha1.RegistryCredentialSpec{
				Server:    ok,
				SecretRef: registryv1alpha1.SecretReference{Namespace: sourceNS, Name: "x"},
			},
		}
		g.Expect(k8s.Create(ctx, rc, client.DryRunAll)).To(Succeed(), ok)
		g.Expect(rc.Spec.ExcludeNamespaces).To(Equal([]string{"kube-system", "kube-public", "kube-node-lease"}), "defaulted")
		g.Expect(rc.Spec.ServiceAccounts).To(Equal([]string{"*"}))
		g.Expect(rc.Spec.DeletionPolicy).To(Equal(registryv1alpha1.DeletionPolicyDelete))
	}
}
