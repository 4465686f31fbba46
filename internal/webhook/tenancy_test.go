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

package webhook

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// TestTenancyGuard: a user allowed to create RegistryCredentials but not to
// read the source Secret is refused, with a message that says why; once
// allowed to get that Secret, the same request passes. Changing other fields
// of a RegistryCredential does not need access to its source.
func TestTenancyGuard(t *testing.T) {
	e := controlPlane(t)
	ctx := context.Background()
	admin := e.Client
	user := uniqueName(t, "tenant")
	tenant, err := e.Environment.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := client.New(tenant.Config(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	grant := func(obj client.Object) {
		t.Helper()
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(ctx, obj) })
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	grant(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{registryv1alpha1.GroupVersion.Group}, Resources: []string{"registrycredentials"},
		Verbs: []string{"get", "list", "create", "update", "delete"},
	}}})
	grant(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user}})

	rc := func(name, source string) *registryv1alpha1.RegistryCredential {
		return &registryv1alpha1.RegistryCredential{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: registryv1alpha1.RegistryCredentialSpec{
				Server:            "registry.example.com",
				SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: source},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tenancy": user}},
			},
		}
	}
	cleanup := func(name string) {
		t.Cleanup(func() {
			_ = admin.Delete(ctx, &registryv1alpha1.RegistryCredential{ObjectMeta: metav1.ObjectMeta{Name: name}})
		})
	}

	// no access to the source: refused, and told why
	denied := rc(uniqueName(t, "denied"), "pull")
	err = tc.Create(ctx, denied)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "may not get Secret "+sourceNS+"/pull") {
		t.Fatalf("create by a user who may not read the source: %v, want Forbidden naming the Secret", err)
	}

	// get on that one Secret: allowed
	grant(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: sourceNS}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"pull"}, Verbs: []string{"get"},
	}}})
	grant(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: sourceNS}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user}})
	allowed := rc(uniqueName(t, "allowed"), "pull")
	if err := tc.Create(ctx, allowed); err != nil {
		t.Fatalf("create by a user who may read the source: %v", err)
	}
	cleanup(allowed.Name)

	// pointing it at a Secret the user may not read: refused
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t, "other"), Namespace: sourceNS}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.example.com":{"auth":"dTpw"}}}`)}}
	grant(other)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &registryv1alpha1.RegistryCredential{}
		if err := tc.Get(ctx, client.ObjectKeyFromObject(allowed), cur); err != nil {
			return err
		}
		cur.Spec.SecretRef.Name = other.Name
		return tc.Update(ctx, cur)
	})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), other.Name) {
		t.Fatalf("update to a source the user may not read: %v, want Forbidden", err)
	}

	// a RegistryCredential an admin made, changed by the tenant elsewhere
	// than secretRef: not the guard's business.
	byAdmin := rc(uniqueName(t, "admin"), other.Name)
	if err := admin.Create(ctx, byAdmin); err != nil {
		t.Fatal(err)
	}
	cleanup(byAdmin.Name)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &registryv1alpha1.RegistryCredential{}
		if err := tc.Get(ctx, client.ObjectKeyFromObject(byAdmin), cur); err != nil {
			return err
		}
		cur.Spec.ServiceAccounts = []string{"default"}
		return tc.Update(ctx, cur)
	})
	if err != nil {
		t.Fatalf("update of another field: %v", err)
	}
}
