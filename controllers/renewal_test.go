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
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// TestShortLivedTokenRenewals is the operator's half of the README's recipe
// for short-lived registry tokens (ECR, GCR, ACR): an external-secrets
// generator rewrites the source Secret on every renewal, and each renewal
// must reach every copy within seconds, in place (same Secret, so Pods
// starting meanwhile always find one), with the ServiceAccounts untouched.
// Renewals here follow each other as soon as the previous one has spread,
// faster than any real token lifetime.
func TestShortLivedTokenRenewals(t *testing.T) {
	g := NewWithT(t)
	const namespaces, renewals = 20, 6
	src := newSource(t, uniq("ecr"), "123456789012.dkr.ecr.eu-west-1.amazonaws.com", nil)
	group := uniq("renew")
	nss := newNamespaces(t, group, namespaces, nil)
	rc := newCredential(t, group, src.Name, "123456789012.dkr.ecr.eu-west-1.amazonaws.com", nil)
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))

	uids := map[string]types.UID{}
	for _, ns := range nss {
		c, err := getSecret(ns, src.Name)
		g.Expect(err).NotTo(HaveOccurred())
		uids[ns] = c.UID
	}
	var took []time.Duration
	for i := 1; i <= renewals; i++ {
		token := dockerConfig("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "AWS", fmt.Sprintf("token-%d-%s", i, password))
		g.Expect(updateSecret(sourceNS, src.Name, func(s *corev1.Secret) { s.Data[corev1.DockerConfigJsonKey] = token })).To(Succeed())
		start := time.Now()
		g.Eventually(func() []string {
			var behind []string
			for _, ns := range nss {
				c, err := getSecret(ns, src.Name)
				if err != nil || !bytes.Equal(c.Data[corev1.DockerConfigJsonKey], token) {
					behind = append(behind, ns)
				}
			}
			return behind
		}, 5*time.Second, 20*time.Millisecond).Should(BeEmpty(), "renewal %d", i)
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("%d renewals over %d copies: slowest %v, median %v", renewals, namespaces, took[len(took)-1], took[len(took)/2])

	for _, ns := range nss {
		c, err := getSecret(ns, src.Name)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(c.UID).To(Equal(uids[ns]), "copy in %s replaced instead of updated", ns)
		g.Expect(pullSecretNames(getSA(ns, "default"))).To(ContainElement(src.Name))
	}
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
}
