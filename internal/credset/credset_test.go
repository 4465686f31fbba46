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

package credset

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

func rc(name, uid, team string) *registryv1alpha1.RegistryCredential {
	return &registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + uid), Generation: 1},
		Spec: registryv1alpha1.RegistryCredentialSpec{
			Server:            "r.example.com",
			SecretRef:         registryv1alpha1.SecretReference{Namespace: "src", Name: "regcred"},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}},
		},
	}
}

func names(cs []*Credential) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// TestSet drives Refresh by hand over a fake reader through creates, a spec
// change, a bad spec and a deletion. The fake is what lets a spec the
// compiler refuses exist at all (the API server's validation rejects it);
// TestFollow runs the same Set on a real API server through an informer.
func TestSet(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := registryv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	s := &Set{Reader: c}
	for _, obj := range []*registryv1alpha1.RegistryCredential{rc("b", "1", "x"), rc("a", "2", "x"), rc("c", "3", "y")} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Refresh(ctx, obj.Name); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(s.All()); len(got) != 3 || got[0] != "a" || got[2] != "c" {
		t.Fatalf("All = %v, want sorted a b c", got)
	}
	if got := names(s.Selecting("ns", map[string]string{"team": "x"})); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("Selecting team=x = %v", got)
	}
	first := s.Get("a")

	// a refresh of an unchanged object publishes nothing new
	if again, _ := s.Refresh(ctx, "a"); again != first {
		t.Fatal("unchanged object compiled again")
	}

	// a bad selector: kept, with its error, and selects nothing
	cur := &registryv1alpha1.RegistryCredential{}
	if err := c.Get(ctx, client.ObjectKey{Name: "a"}, cur); err != nil {
		t.Fatal(err)
	}
	cur.Generation = 2
	cur.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Bogus"}}}
	if err := c.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	got, err := s.Refresh(ctx, "a")
	if err != nil || got.Err == nil || got.Serves("ns", map[string]string{"team": "x"}) {
		t.Fatalf("bad selector: %+v, %v", got, err)
	}
	if first.Err != nil {
		t.Fatal("a published credential was modified")
	}

	if err := c.Delete(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Refresh(ctx, "a"); got != nil || s.Get("a") != nil || s.Len() != 2 {
		t.Fatalf("deleted credential still there: %v, len %d", got, s.Len())
	}
}
