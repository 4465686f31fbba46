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

package selection

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

func TestMatchGlob(t *testing.T) {
	cases := map[string]struct {
		patterns []string
		name     string
		want     bool
	}{
		"exact":                {[]string{"default"}, "default", true},
		"exact miss":           {[]string{"default"}, "defaults", false},
		"star all":             {[]string{"*"}, "anything", true},
		"star matches empty":   {[]string{"kube-*"}, "kube-", true},
		"prefix":               {[]string{"kube-*"}, "kube-system", true},
		"prefix miss":          {[]string{"kube-*"}, "kubesystem", false},
		"suffix":               {[]string{"*-bot"}, "ci-bot", true},
		"question one char":    {[]string{"ns-?"}, "ns-1", true},
		"question not two":     {[]string{"ns-?"}, "ns-12", false},
		"second pattern":       {[]string{"a", "b*"}, "bee", true},
		"no patterns":          {nil, "x", false},
		"empty list":           {[]string{}, "x", false},
		"class":                {[]string{"team-[ab]"}, "team-b", true},
		"class miss":           {[]string{"team-[ab]"}, "team-c", false},
		"malformed is skipped": {[]string{"[", "x"}, "x", true},
		"malformed only":       {[]string{"["}, "[", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := MatchGlob(tc.patterns, tc.name); got != tc.want {
				t.Errorf("MatchGlob(%q, %q) = %v, want %v", tc.patterns, tc.name, got, tc.want)
			}
		})
	}
}

func TestSelector(t *testing.T) {
	defaults := []string{"kube-system", "kube-public", "kube-node-lease"}
	now := metav1.Now()
	// as the API server returns a namespace: with the label
	// kubernetes.io/metadata.name holding its name.
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		l := map[string]string{corev1.LabelMetadataName: name}
		for k, v := range labels {
			l[k] = v
		}
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	}
	cases := map[string]struct {
		spec registryv1alpha1.RegistryCredentialSpec
		ns   *corev1.Namespace
		want bool
	}{
		"nil selector selects all": {
			spec: registryv1alpha1.RegistryCredentialSpec{ExcludeNamespaces: defaults},
			ns:   ns("team-a", nil), want: true,
		},
		"empty selector selects all": {
			spec: registryv1alpha1.RegistryCredentialSpec{NamespaceSelector: &metav1.LabelSelector{}, ExcludeNamespaces: defaults},
			ns:   ns("team-a", nil), want: true,
		},
		"default exclusions": {
			spec: registryv1alpha1.RegistryCredentialSpec{ExcludeNamespaces: defaults},
			ns:   ns("kube-system", nil), want: false,
		},
		"explicit empty exclusions serve kube-system": {
			spec: registryv1alpha1.RegistryCredentialSpec{ExcludeNamespaces: []string{}},
			ns:   ns("kube-system", nil), want: true,
		},
		"label match": {
			spec: registryv1alpha1.RegistryCredentialSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}}},
			ns:   ns("a", map[string]string{"env": "dev"}), want: true,
		},
		"label miss": {
			spec: registryv1alpha1.RegistryCredentialSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}}},
			ns:   ns("a", map[string]string{"env": "prod"}), want: false,
		},
		"expression NotIn": {
			spec: registryv1alpha1.RegistryCredentialSpec{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"prod"}},
			}}},
			ns: ns("a", map[string]string{"env": "dev"}), want: true,
		},
		"selected but excluded by glob": {
			spec: registryv1alpha1.RegistryCredentialSpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}},
				ExcludeNamespaces: []string{"team-*"},
			},
			ns: ns("team-a", map[string]string{"env": "dev"}), want: false,
		},
		// the cache drops kubernetes.io/metadata.name (always the name):
		// selectors on it still match from the name.
		"metadata.name label answered from the name": {
			spec: registryv1alpha1.RegistryCredentialSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "team-a"}}},
			ns:   ns("team-a", map[string]string{"env": "dev"}), want: true,
		},
		"metadata.name label of another namespace": {
			spec: registryv1alpha1.RegistryCredentialSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "team-b"}}},
			ns:   ns("team-a", nil), want: false,
		},
		"metadata.name In": {
			spec: registryv1alpha1.RegistryCredentialSpec{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: []string{"x", "team-a"}},
			}}},
			ns: ns("team-a", nil), want: true,
		},
		"metadata.name DoesNotExist does not hold on a namespace from the API server": {
			spec: registryv1alpha1.RegistryCredentialSpec{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpDoesNotExist},
			}}},
			ns: ns("team-a", nil), want: false,
		},
		"terminating by timestamp": {
			spec: registryv1alpha1.RegistryCredentialSpec{},
			ns:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", DeletionTimestamp: &now}}, want: false,
		},
		"metadata only: the labels as they are, nothing answered from the name": {
			spec: registryv1alpha1.RegistryCredentialSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "a"}}},
			ns:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, want: false,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			sel, err := New(&tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.Serves(tc.ns); got != tc.want {
				t.Errorf("Serves(%s) = %v, want %v", tc.ns.Name, got, tc.want)
			}
		})
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	cases := map[string]registryv1alpha1.RegistryCredentialSpec{
		"bad operator": {NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}},
		"bad label":    {NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a b": "c"}}},
		"bad exclude":  {ExcludeNamespaces: []string{"["}},
		"bad sa glob":  {ServiceAccounts: []string{"a[", "b"}},
	}
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := New(&spec); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestServiceAccountSelected(t *testing.T) {
	spec := &registryv1alpha1.RegistryCredentialSpec{ServiceAccounts: []string{"default", "ci-*"}}
	for name, want := range map[string]bool{"default": true, "ci-runner": true, "app": false} {
		if got := ServiceAccountSelected(spec, name); got != want {
			t.Errorf("ServiceAccountSelected(%q) = %v, want %v", name, got, want)
		}
	}
	if ServiceAccountSelected(&registryv1alpha1.RegistryCredentialSpec{ServiceAccounts: []string{}}, "default") {
		t.Error("an empty serviceAccounts list patches none")
	}
}

// FuzzMatchGlob: never panics; "*" matches everything; a name matches itself
// when it has no glob characters; a pattern list that validates behaves
// like path.Match.
func FuzzMatchGlob(f *testing.F) {
	for _, s := range [][2]string{{"kube-*", "kube-system"}, {"*", ""}, {"[", "["}, {"a?c", "abc"}, {"[a-", "b"}, {"\\", "x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := MatchGlob([]string{pattern}, name)
		if !MatchGlob([]string{"*"}, name) && !containsSlash(name) {
			t.Fatalf("* did not match %q", name)
		}
		if !hasMeta(name) && !MatchGlob([]string{name}, name) {
			t.Fatalf("%q did not match itself", name)
		}
		if ValidateGlobs("x", []string{pattern}) != nil && got {
			t.Fatalf("malformed pattern %q matched %q", pattern, name)
		}
	})
}

func containsSlash(s string) bool {
	for i := range len(s) {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

func hasMeta(s string) bool {
	for i := range len(s) {
		switch s[i] {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}
