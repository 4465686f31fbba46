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
	"slices"
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

// TestTenancyGuard: a user allowed to create RegistryCredentials is refused
// one unless they may do themselves what it makes the operator do: get the
// source Secret, and create Secrets and patch ServiceAccounts wherever the
// selection can reach (cluster-wide, unless the namespaceSelector names the
// namespaces by kubernetes.io/metadata.name, then in each of those). The
// refusal names the missing permission. Every spec change is checked, not
// only a new secretRef; a change outside the spec is not.
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
	bindRole := func(namespace string, rules ...rbacv1.PolicyRule) {
		t.Helper()
		name := uniqueName(t, "role")
		if namespace == "" {
			grant(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules})
			grant(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}})
			return
		}
		grant(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Rules: rules})
		grant(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}})
	}
	createSecrets := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}}
	patchServiceAccounts := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"patch"}}
	bindRole("", rbacv1.PolicyRule{
		APIGroups: []string{registryv1alpha1.GroupVersion.Group}, Resources: []string{"registrycredentials"},
		Verbs: []string{"get", "list", "create", "update", "delete"},
	})
	var ns []string
	for range 3 {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t, "ns")}}
		grant(n)
		ns = append(ns, n.Name)
	}

	byLabel := &metav1.LabelSelector{MatchLabels: map[string]string{"tenancy": user}}
	byName := func(names ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: names},
		}}
	}
	rc := func(prefix, source string, sel *metav1.LabelSelector) *registryv1alpha1.RegistryCredential {
		return &registryv1alpha1.RegistryCredential{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t, prefix)},
			Spec: registryv1alpha1.RegistryCredentialSpec{
				Server:            "registry.example.com",
				SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: source},
				NamespaceSelector: sel,
			},
		}
	}
	create := func(c client.Client, obj *registryv1alpha1.RegistryCredential) error {
		err := c.Create(ctx, obj)
		if err == nil {
			t.Cleanup(func() { _ = admin.Delete(ctx, obj) })
		}
		return err
	}
	update := func(c client.Client, obj *registryv1alpha1.RegistryCredential, mod func(*registryv1alpha1.RegistryCredential)) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := &registryv1alpha1.RegistryCredential{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
				return err
			}
			mod(cur)
			return c.Update(ctx, cur)
		})
	}
	refused := func(err error, what string, says ...string) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Fatalf("%s: %v, want Forbidden", what, err)
		}
		for _, s := range says {
			if !strings.Contains(err.Error(), s) {
				t.Fatalf("%s: %v, want a message saying %q", what, err, s)
			}
		}
	}
	allowed := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	refused(create(tc, rc("nosource", "pull", byLabel)), "create by a user who may not read the source",
		"may not get Secret "+sourceNS+"/pull")

	// get on that one Secret, and nothing else
	bindRole(sourceNS, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"pull"}, Verbs: []string{"get"}})

	refused(create(tc, rc("anywhere", "pull", byLabel)), "a label selector, without write access anywhere",
		"may not create secrets cluster-wide")
	refused(create(tc, rc("anywhere", "pull", nil)), "no selector (every namespace), without write access anywhere",
		"may not create secrets cluster-wide")

	// write access in the first namespace only
	bindRole(ns[0], createSecrets, patchServiceAccounts)
	allowed(create(tc, rc("first", "pull", byName(ns[0]))), "a namespace named where the user may write")
	refused(create(tc, rc("two", "pull", byName(ns[0], ns[1]))), "a second namespace named where the user may not write",
		"may not create secrets in namespace "+ns[1])
	refused(create(tc, rc("anywhere", "pull", byLabel)), "write access in one namespace is not cluster-wide",
		"may not create secrets cluster-wide")
	noSA := rc("nosa", "pull", byName(ns[2]))
	noSA.Spec.ServiceAccounts = []string{}
	bindRole(ns[2], createSecrets)
	allowed(create(tc, noSA), "serviceAccounts: [] patches none: create on secrets is enough")
	withSA := rc("withsa", "pull", byName(ns[2]))
	refused(create(tc, withSA), "ServiceAccounts patched where the user may not",
		"may not patch serviceaccounts in namespace "+ns[2])
	excluded := rc("excluded", "pull", byName(ns[0], ns[1]))
	excluded.Spec.ExcludeNamespaces = []string{ns[1]}
	allowed(create(tc, excluded), "a named namespace that excludeNamespaces drops needs no access")

	// every spec change is checked, not only secretRef
	named := rc("named", "pull", byName(ns[0]))
	allowed(create(tc, named), "create")
	refused(update(tc, named, func(r *registryv1alpha1.RegistryCredential) { r.Spec.NamespaceSelector = byName(ns[0], ns[1]) }),
		"widening the selection to a namespace the user may not write", "may not create secrets in namespace "+ns[1])
	refused(update(tc, named, func(r *registryv1alpha1.RegistryCredential) { r.Spec.NamespaceSelector = byLabel }),
		"widening the selection to any namespace", "may not create secrets cluster-wide")
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t, "other"), Namespace: sourceNS}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.example.com":{"auth":"dTpw"}}}`)}}
	grant(other)
	refused(update(tc, named, func(r *registryv1alpha1.RegistryCredential) { r.Spec.SecretRef.Name = other.Name }),
		"pointing it at a Secret the user may not read", "may not get Secret "+sourceNS+"/"+other.Name)

	// A RegistryCredential an admin made: the tenant changes its spec only
	// with the access it needs; metadata is not the guard's business.
	byAdmin := rc("admin", other.Name, byName(ns[0]))
	allowed(create(admin, byAdmin), "create by an admin")
	refused(update(tc, byAdmin, func(r *registryv1alpha1.RegistryCredential) { r.Spec.Server = "registry.example.com/team" }),
		"a spec change by a user who may not read the source", "may not get Secret "+sourceNS+"/"+other.Name)
	allowed(update(tc, byAdmin, func(r *registryv1alpha1.RegistryCredential) { r.Labels = map[string]string{"team": "a"} }),
		"a change outside the spec")

	// cluster-wide write access: any selection
	bindRole("", createSecrets, patchServiceAccounts)
	allowed(create(tc, rc("anywhere", "pull", byLabel)), "a label selector with write access cluster-wide")
	allowed(update(tc, named, func(r *registryv1alpha1.RegistryCredential) { r.Spec.NamespaceSelector = byLabel }),
		"widening with write access cluster-wide")
}

// TestRequiredAccess: what the guard asks about for a spec. The selection
// is bounded to named namespaces only by kubernetes.io/metadata.name
// (matchLabels or In); anything else can reach any namespace.
func TestRequiredAccess(t *testing.T) {
	const src = "get Secret regcred-system/src"
	cluster := []string{src, "create secrets cluster-wide", "patch serviceaccounts cluster-wide"}
	in := func(names ...string) []string {
		out := []string{src}
		for _, n := range names {
			out = append(out, "create secrets in namespace "+n, "patch serviceaccounts in namespace "+n)
		}
		return out
	}
	nameIn := func(values ...string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: values}
	}
	cases := []struct {
		name string
		mod  func(*registryv1alpha1.RegistryCredential)
		want []string
	}{
		{name: "no selector: every namespace", want: cluster},
		{name: "a label selector", mod: withSelector(map[string]string{"team": "a"}), want: cluster},
		{name: "metadata.name NotIn is not a list", mod: func(r *registryv1alpha1.RegistryCredential) {
			r.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"a"}},
			}}
		}, want: cluster},
		{name: "metadata.name In", mod: func(r *registryv1alpha1.RegistryCredential) {
			r.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{nameIn("b", "a", "b")}}
		}, want: in("a", "b")},
		{name: "metadata.name in matchLabels, with other labels", mod: func(r *registryv1alpha1.RegistryCredential) {
			r.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "a", "team": "x"}}
		}, want: in("a")},
		{name: "two requirements: the names both allow", mod: func(r *registryv1alpha1.RegistryCredential) {
			r.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{nameIn("a", "b", "c"), nameIn("c", "b", "d")}}
		}, want: in("b", "c")},
		{name: "no name both allow: no namespace, only the source", mod: func(r *registryv1alpha1.RegistryCredential) {
			r.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "a"},
				MatchExpressions: []metav1.LabelSelectorRequirement{nameIn("b")}}
		}, want: in()},
		{name: "excluded names are not asked about", mod: func(r *registryv1alpha1.RegistryCredential) {
			r.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{nameIn("kube-system", "app-1", "app-2", "web")}}
			r.Spec.ExcludeNamespaces = []string{"kube-*", "app-?"}
		}, want: in("web")},
		{name: "serviceAccounts: [] patches none", mod: func(r *registryv1alpha1.RegistryCredential) {
			r.Spec.ServiceAccounts = []string{}
		}, want: []string{src, "create secrets cluster-wide"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mods []func(*registryv1alpha1.RegistryCredential)
			if tc.mod != nil {
				mods = append(mods, tc.mod)
			}
			r := rc("t", "docker.io", mods...)
			var got []string
			for _, a := range requiredAccess(&r.Spec) {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("requiredAccess() = %q, want %q", got, tc.want)
			}
		})
	}
}
