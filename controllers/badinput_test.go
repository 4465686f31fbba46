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
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// A source as large as a Secret may be (1 MiB of data) is copied whole.
func TestLargeSource(t *testing.T) {
	g := NewWithT(t)
	pad := strings.Repeat("A", 1<<20-200)
	cfg := []byte(`{"auths":{"private-registry.io":{"username":"robot","password":"` + password + `"},"pad.example.com":{"username":"pad","password":"` + pad + `"}}}`)
	g.Expect(len(cfg)).To(BeNumerically("<=", 1<<20))
	src := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: uniq("big"), Namespace: sourceNS},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}
	g.Expect(k8s.Create(ctx, src)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(ctx, src) })
	group := uniq("big")
	nss := newNamespaces(t, group, 3, nil)
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
	for _, ns := range nss {
		c, err := getSecret(ns, src.Name)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(bytes.Equal(c.Data[corev1.DockerConfigJsonKey], cfg)).To(BeTrue(), "copy in %s is whole", ns)
	}
}

// A namespace with 500 ServiceAccounts: every one lists the copy.
func TestManyServiceAccounts(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("manysa")
	ns := newNamespaces(t, group, 1, nil)[0]
	for i := range 500 {
		g.Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sa-%03d", i), Namespace: ns}})).To(Succeed())
	}
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	g.Eventually(func() int32 { return getRC(rc.Name).Status.PatchedServiceAccounts }, 60*time.Second, 100*time.Millisecond).Should(BeEquivalentTo(501))
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
	for _, name := range []string{"default", "sa-000", "sa-499"} {
		g.Expect(pullSecretNames(getSA(ns, name))).To(Equal([]string{src.Name}), name)
	}
}

// 200 RegistryCredentials created at once all become Ready, and a namespace
// created meanwhile for another credential is served within seconds.
func TestManyCredentialsAtOnce(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("burst")
	const n = 200
	nss := newNamespaces(t, group, n, nil)
	canaryGroup := uniq("canary")
	canary := newCredential(t, canaryGroup, src.Name, "private-registry.io", nil)
	g.Eventually(readyReason(canary.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))

	var wg sync.WaitGroup
	errs := make([]error, n)
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("%s-%03d", group, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = k8s.Create(ctx, &registryv1alpha1.RegistryCredential{
				ObjectMeta: metav1.ObjectMeta{Name: names[i]},
				Spec: registryv1alpha1.RegistryCredentialSpec{
					Server:            "private-registry.io",
					SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: src.Name},
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": nss[i]}},
				},
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
		t.Cleanup(func() { deleteCredential(t, names[i]) })
	}
	// meanwhile, a namespace for the canary
	start := time.Now()
	ns := newNamespaces(t, canaryGroup, 1, nil)[0]
	g.Eventually(func() []string { return pullSecretNames(getSA(ns, "default")) }, 10*time.Second, 20*time.Millisecond).Should(Equal([]string{src.Name}),
		"another credential's new namespace waited behind the burst")
	t.Logf("canary namespace served %v after the burst of %d credentials", time.Since(start).Round(time.Millisecond), n)

	g.Eventually(func() int {
		synced := 0
		for _, name := range names {
			if st, r := ready(name); st == metav1.ConditionTrue && r == registryv1alpha1.ReasonSynced {
				synced++
			}
		}
		return synced
	}, 2*time.Minute, 500*time.Millisecond).Should(Equal(n))
}

// A source whose namespace is deleted: SourceNotFound, the copies stay.
func TestSourceNamespaceDeleted(t *testing.T) {
	g := NewWithT(t)
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: extraSourceNS}})).To(Succeed())
	src := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: extraSourceNS},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerConfig("private-registry.io", "robot", password)},
	}
	g.Expect(k8s.Create(ctx, src)).To(Succeed())
	group := uniq("srcns")
	ns := newNamespaces(t, group, 1, nil)[0]
	rc := newCredential(t, group, src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.SecretRef.Namespace = extraSourceNS
	})
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))

	g.Expect(k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: extraSourceNS}})).To(Succeed())
	g.Eventually(readyReason(rc.Name), 60*time.Second, tick).Should(Equal(registryv1alpha1.ReasonSourceNotFound))
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: extraSourceNS}, &corev1.Namespace{}))
	}, 60*time.Second, 100*time.Millisecond).Should(BeTrue())
	_, err := getSecret(ns, src.Name)
	g.Expect(err).NotTo(HaveOccurred(), "copies are kept while the source is missing")
	g.Expect(pullSecretNames(getSA(ns, "default"))).To(Equal([]string{src.Name}))
}

// A source that is itself one of the operator's copies is refused.
func TestSourceIsACopy(t *testing.T) {
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	first := newCredential(t, uniq("intosource"), src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": sourceNS}}
		rc.Spec.TargetSecretName = src.Name + "-copy"
	})
	g.Eventually(func() error { _, err := getSecret(sourceNS, src.Name+"-copy"); return err }, wait, tick).Should(Succeed())
	g.Eventually(readyReason(first.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))

	group := uniq("fromcopy")
	newNamespaces(t, group, 1, nil)
	second := newCredential(t, group, src.Name+"-copy", "private-registry.io", nil)
	g.Eventually(readyReason(second.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSourceInvalid))
	g.Expect(conditionMessage(second.Name)).To(ContainSubstring("is a copy made by regcred-operator"))
}
