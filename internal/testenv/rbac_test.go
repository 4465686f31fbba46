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

package testenv

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestRolesHaveNoWildcards: the roles config/default installs name every API
// group, resource, verb and URL they grant; a "*" anywhere fails.
func TestRolesHaveNoWildcards(t *testing.T) {
	objs, err := RBACObjects()
	if err != nil {
		t.Skipf("config/default cannot be rendered here (%v); run `make envtest-assets`", err)
	}
	roles := 0
	for _, u := range objs {
		var rules []rbacv1.PolicyRule
		switch u.GetKind() {
		case "ClusterRole":
			r := &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, r); err != nil {
				t.Fatal(err)
			}
			if r.AggregationRule != nil {
				t.Errorf("ClusterRole %s aggregates other roles", r.Name)
			}
			rules = r.Rules
		case "Role":
			r := &rbacv1.Role{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, r); err != nil {
				t.Fatal(err)
			}
			rules = r.Rules
		default:
			continue
		}
		roles++
		for i, rule := range rules {
			for field, values := range map[string][]string{
				"apiGroups": rule.APIGroups, "resources": rule.Resources, "verbs": rule.Verbs,
				"resourceNames": rule.ResourceNames, "nonResourceURLs": rule.NonResourceURLs,
			} {
				if slices.Contains(values, "*") {
					t.Errorf("%s %s rule %d grants %s \"*\"", u.GetKind(), u.GetName(), i, field)
				}
			}
		}
	}
	if roles < 3 {
		t.Fatalf("found %d roles in config/default; the rendering looks wrong", roles)
	}
}
