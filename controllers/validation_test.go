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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// TestCRDRejectsBadInput: the API server refuses malformed
// RegistryCredentials with a message that says what is wrong.
func TestCRDRejectsBadInput(t *testing.T) {
	valid := func() *registryv1alpha1.RegistryCredential {
		return &registryv1alpha1.RegistryCredential{
			ObjectMeta: metav1.ObjectMeta{Name: uniq("bad")},
			Spec: registryv1alpha1.RegistryCredentialSpec{
				Server:    "registry.example.com:5000/team",
				SecretRef: registryv1alpha1.SecretReference{Namespace: sourceNS, Name: "regcred"},
			},
		}
	}
	selector := func(exprs ...metav1.LabelSelectorRequirement) func(*registryv1alpha1.RegistryCredential) {
		return func(rc *registryv1alpha1.RegistryCredential) {
			rc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: exprs}
		}
	}
	cases := []struct {
		name   string
		mutate func(*registryv1alpha1.RegistryCredential)
		says   []string
	}{
		{"server with a scheme", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.Server = "https://r.io" }, []string{"spec.server", "must not include a scheme"}},
		{"server with spaces", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.Server = "r .io" }, []string{"must not contain spaces"}},
		{"server with a trailing slash", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.Server = "r.io/team/" }, []string{"must not end with a slash"}},
		{"server without a host", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.Server = ":5000" }, []string{"host[:port][/path]"}},
		{"empty server", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.Server = "" }, []string{"spec.server"}},
		{"port out of range", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.Server = "r.io:99999" }, []string{"port must be between 1 and 65535"}},
		{"port zero", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.Server = "r.io:0" }, []string{"port must be between 1 and 65535"}},
		{"port not a number", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.Server = "r.io:http" }, []string{"host[:port][/path]"}},
		{"target not a DNS name", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.TargetSecretName = "Reg_Cred" }, []string{"spec.targetSecretName"}},
		{"unknown selector operator", selector(metav1.LabelSelectorRequirement{Key: "team", Operator: "Equals", Values: []string{"a"}}), []string{"operator must be In, NotIn, Exists or DoesNotExist"}},
		{"In without values", selector(metav1.LabelSelectorRequirement{Key: "team", Operator: metav1.LabelSelectorOpIn}), []string{"In and NotIn need at least one value"}},
		{"Exists with values", selector(metav1.LabelSelectorRequirement{Key: "team", Operator: metav1.LabelSelectorOpExists, Values: []string{"a"}}), []string{"Exists and DoesNotExist take none"}},
		{"unknown deletionPolicy", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.DeletionPolicy = "Keep" }, []string{"spec.deletionPolicy", "Delete", "Orphan"}},
		{"secretRef without a name", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.SecretRef.Name = "" }, []string{"spec.secretRef.name"}},
		{"secretRef without a namespace", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.SecretRef.Namespace = "" }, []string{"spec.secretRef.namespace"}},
		{"name longer than a label value", func(rc *registryv1alpha1.RegistryCredential) {
			rc.Name = uniq("x-123456789-123456789-123456789-123456789-123456789-123456789")
		}, []string{"at most 63 characters"}},
		{"bad exclude glob", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.ExcludeNamespaces = []string{"Team_A"} }, []string{"spec.excludeNamespaces"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			rc := valid()
			tc.mutate(rc)
			err := k8s.Create(ctx, rc, client.DryRunAll)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
			for _, s := range tc.says {
				g.Expect(err.Error()).To(ContainSubstring(s))
			}
		})
	}
	// and the valid one passes
	NewWithT(t).Expect(k8s.Create(ctx, valid(), client.DryRunAll)).To(Succeed())
	for _, ok := range []string{"r.io:1", "r.io:65535/team", "[::1]:5000", "[::1]"} {
		rc := valid()
		rc.Spec.Server = ok
		NewWithT(t).Expect(k8s.Create(ctx, rc, client.DryRunAll)).To(Succeed(), ok)
	}
	rc := valid()
	selector(metav1.LabelSelectorRequirement{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"a"}},
		metav1.LabelSelectorRequirement{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist})(rc)
	NewWithT(t).Expect(k8s.Create(ctx, rc, client.DryRunAll)).To(Succeed())
}
