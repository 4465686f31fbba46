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
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// TestIndexLookups: the owner and record indexes (registered on the
// informers with one cluster-wide key, see ownerIndex and recordIndex) find
// exactly a RegistryCredential's copies and recorded namespaces, cluster-wide
// and in one namespace, and nothing of another RegistryCredential. A
// selector on kubernetes.io/metadata.name (which the cache drops from
// namespaces) still selects by name.
func TestIndexLookups(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	nss := newNamespaces(t, "idx", 3, nil)
	src := newSource(t, uniq("src-idx"), "idx.example.com", nil)
	all := newCredential(t, "idx", src.Name, "idx.example.com", nil)
	byName := newCredential(t, "idx", src.Name, "idx.example.com", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.TargetSecretName = "by-name"
		rc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: nss[1]}}
	})
	for _, name := range []string{all.Name, byName.Name} {
		g.Eventually(readyReason(name), 30*time.Second, 50*time.Millisecond).Should(Equal(registryv1alpha1.ReasonSynced))
	}
	op := mgr.operator
	namespacesOf := func(s []corev1.Secret) []string {
		var out []string
		for i := range s {
			out = append(out, s[i].Namespace+"/"+s[i].Name)
		}
		slices.Sort(out)
		return out
	}
	g.Eventually(func(g Gomega) {
		copies, err := op.OwnedCopies(ctx, getRC(all.Name).UID)
		g.Expect(err).NotTo(HaveOccurred())
		want := []string{nss[0] + "/" + all.TargetName(), nss[1] + "/" + all.TargetName(), nss[2] + "/" + all.TargetName()}
		slices.Sort(want)
		g.Expect(namespacesOf(copies)).To(Equal(want))
		held, err := op.HeldNamespaces(ctx, getRC(all.Name).UID)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(held).To(Equal(slices.Sorted(slices.Values(nss))))

		copies, err = op.OwnedCopies(ctx, getRC(byName.Name).UID)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(namespacesOf(copies)).To(Equal([]string{nss[1] + "/by-name"}), "a selector on kubernetes.io/metadata.name selects that namespace only")
		held, err = op.HeldNamespaces(ctx, getRC(byName.Name).UID)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(held).To(Equal([]string{nss[1]}))

		in, err := op.CopiesIn(ctx, nss[1], getRC(all.Name).UID)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(namespacesOf(in)).To(Equal([]string{nss[1] + "/" + all.TargetName()}), "only that credential's copy, not the other one's in the same namespace")
	}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
}
