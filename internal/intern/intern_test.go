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

package intern

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// sameMap reports whether a and b are the same map (not merely equal).
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

func sameString(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

func TestMap(t *testing.T) {
	cases := []struct {
		name  string
		first map[string]string
		then  map[string]string
		share bool
	}{
		{"equal maps share", map[string]string{"a": "1", "b": "2"}, map[string]string{"b": "2", "a": "1"}, true},
		{"other value", map[string]string{"a": "1"}, map[string]string{"a": "2"}, false},
		{"other key", map[string]string{"a": "1"}, map[string]string{"b": "1"}, false},
		{"extra entry", map[string]string{"a": "1"}, map[string]string{"a": "1", "b": ""}, false},
		{"fields do not run together", map[string]string{"ab": "c"}, map[string]string{"a": "bc"}, false},
		{"empty key and value", map[string]string{"": ""}, map[string]string{"": ""}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab := New(0)
			first := tab.Map(c.first)
			got := tab.Map(maps.Clone(c.then))
			if !maps.Equal(got, c.then) {
				t.Fatalf("Map returned %v for %v", got, c.then)
			}
			if sameMap(first, got) != c.share {
				t.Fatalf("shared = %v, want %v", !c.share, c.share)
			}
		})
	}
	if New(0).Map(map[string]string{}) != nil {
		t.Fatal("an empty map should come back nil")
	}
}

func TestString(t *testing.T) {
	tab := New(0)
	a := tab.String(strings.Clone("default"))
	b := tab.String(strings.Clone("default"))
	if a != "default" || !sameString(a, b) {
		t.Fatal("equal strings are not shared")
	}
	if c := tab.String(strings.Clone("other")); c != "other" || sameString(a, c) {
		t.Fatal("different strings must stay different")
	}
}

func TestOwnerReferences(t *testing.T) {
	ref := metav1.OwnerReference{APIVersion: "registry.regcred.dev/v1alpha1", Kind: "RegistryCredential", Name: "a", UID: "u1", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	variants := map[string]func(r *metav1.OwnerReference){
		"uid":                func(r *metav1.OwnerReference) { r.UID = "u2" },
		"name":               func(r *metav1.OwnerReference) { r.Name = "b" },
		"kind":               func(r *metav1.OwnerReference) { r.Kind = "Other" },
		"apiVersion":         func(r *metav1.OwnerReference) { r.APIVersion = "v1" },
		"controller false":   func(r *metav1.OwnerReference) { r.Controller = ptr.To(false) },
		"controller unset":   func(r *metav1.OwnerReference) { r.Controller = nil },
		"blockOwnerDeletion": func(r *metav1.OwnerReference) { r.BlockOwnerDeletion = nil },
	}
	tab := New(0)
	first := tab.OwnerReferences([]metav1.OwnerReference{ref})
	if again := tab.OwnerReferences([]metav1.OwnerReference{*ref.DeepCopy()}); &again[0] != &first[0] {
		t.Fatal("equal owner references are not shared")
	}
	for name, change := range variants {
		r := *ref.DeepCopy()
		change(&r)
		got := tab.OwnerReferences([]metav1.OwnerReference{r})
		if &got[0] == &first[0] || !reflect.DeepEqual(got[0], r) {
			t.Errorf("%s: a different owner reference was shared or changed", name)
		}
	}
	two := tab.OwnerReferences([]metav1.OwnerReference{ref, ref})
	if len(two) != 2 {
		t.Fatal("a list of two came back shortened")
	}
}

func TestLocalObjectReferences(t *testing.T) {
	tab := New(0)
	a := tab.LocalObjectReferences([]corev1.LocalObjectReference{{Name: "x"}, {Name: "y"}})
	b := tab.LocalObjectReferences([]corev1.LocalObjectReference{{Name: "x"}, {Name: "y"}})
	c := tab.LocalObjectReferences([]corev1.LocalObjectReference{{Name: "y"}, {Name: "x"}})
	if &a[0] != &b[0] {
		t.Fatal("equal lists are not shared")
	}
	if &a[0] == &c[0] || c[0].Name != "y" {
		t.Fatal("the order of imagePullSecrets matters and must be kept")
	}
}

// TestLimit: the table never holds more than its limit and keeps working
// (sharing again) after it started over.
func TestLimit(t *testing.T) {
	tab := New(10)
	for i := range 1000 {
		tab.String(fmt.Sprint("s", i))
		tab.Map(map[string]string{"k": fmt.Sprint(i)})
		if n := tab.Len(); n > 10 {
			t.Fatalf("table holds %d entries, limit 10", n)
		}
	}
	a := tab.Map(map[string]string{"k": "v"})
	if b := tab.Map(map[string]string{"k": "v"}); !sameMap(a, b) {
		t.Fatal("no sharing after the table started over")
	}
}

func TestConcurrent(t *testing.T) {
	tab := New(64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				m := map[string]string{"g": fmt.Sprint(g % 2), "i": fmt.Sprint(i % 20)}
				if got := tab.Map(maps.Clone(m)); !maps.Equal(got, m) {
					t.Errorf("Map returned %v for %v", got, m)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzMap: a shared map is always equal to the map asked for, whatever
// keys and values two maps have (the content key is unambiguous).
func FuzzMap(f *testing.F) {
	f.Add("a", "bc", "ab", "c")
	f.Add("", "", "", "")
	f.Add("k\x01", "v", "k", "\x01v")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		tab := New(0)
		m1 := map[string]string{k1: v1}
		m2 := map[string]string{k2: v2}
		tab.Map(maps.Clone(m1))
		if got := tab.Map(maps.Clone(m2)); !maps.Equal(got, m2) {
			t.Fatalf("asked for %q, got %q", m2, got)
		}
		two := map[string]string{k1: v1, k2 + "x": v2}
		if got := tab.Map(maps.Clone(two)); !maps.Equal(got, two) {
			t.Fatalf("asked for %q, got %q", two, got)
		}
	})
}
