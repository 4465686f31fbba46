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

package controllers

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

func TestFailureBook(t *testing.T) {
	var b failureBook
	conflict := func(ns string) registryv1alpha1.NamespaceFailure {
		return registryv1alpha1.NamespaceFailure{Namespace: ns, Reason: registryv1alpha1.ReasonConflict, Message: "m"}
	}
	key := func(c, ns string) pairKey { return pairKey{Credential: c, Namespace: ns} }
	if !b.set(key("a", "ns-2"), "ua", conflict("ns-2")) || !b.set(key("a", "ns-1"), "ua", conflict("ns-1")) || !b.set(key("b", "ns-1"), "ub", conflict("ns-1")) {
		t.Fatal("a new failure is a change")
	}
	if b.set(key("a", "ns-1"), "ua", conflict("ns-1")) {
		t.Fatal("the same failure again is no change")
	}
	if b.set(key("a", "ns-1"), "ua2", conflict("ns-1")) != true {
		t.Fatal("the same failure of a namesake (another UID) is a change")
	}
	if got := b.failuresOf("a", "ua"); len(got) != 1 || got["ns-2"].Reason != registryv1alpha1.ReasonConflict {
		t.Fatalf("failuresOf(a, ua) = %v, want ns-2 only (ns-1 is the namesake's)", got)
	}
	if got := b.failuresOf("a", "ua2"); len(got) != 1 {
		t.Fatalf("failuresOf(a, ua2) = %v", got)
	}
	// the reader's map is its own.
	got := b.failuresOf("b", "ub")
	delete(got, "ns-1")
	if _, ok := b.get(key("b", "ns-1"), "ub"); !ok {
		t.Fatal("a reader's change reached the book")
	}
	if _, ok := b.get(key("b", "ns-1"), "other"); ok {
		t.Fatal("get answered for another UID")
	}
	if !b.clear(key("a", "ns-2")) || b.clear(key("a", "ns-2")) {
		t.Fatal("clearing is a change once")
	}
	b.clear(key("a", "ns-1"))
	b.clear(key("b", "ns-1"))
	if b.len() != 0 || len(b.m) != 0 {
		t.Fatalf("book holds %d entries, %d credentials after every pair cleared", b.len(), len(b.m))
	}
	// bounded per credential
	for i := range maxFailuresPerCredential + 5 {
		ns := fmt.Sprintf("ns-%d", i)
		b.set(key("c", ns), "uc", conflict(ns))
	}
	if b.len() != maxFailuresPerCredential {
		t.Fatalf("book holds %d, bound %d", b.len(), maxFailuresPerCredential)
	}
}

func TestSourceChecks(t *testing.T) {
	var s sourceChecks
	src := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "src", UID: "s1", ResourceVersion: "1"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"r.io":{"auth":"dTpw"}}}`)},
	}
	rc := func(name string, uid types.UID, server string) *registryv1alpha1.RegistryCredential {
		return &registryv1alpha1.RegistryCredential{ObjectMeta: metav1.ObjectMeta{Name: name, UID: uid},
			Spec: registryv1alpha1.RegistryCredentialSpec{Server: server, SecretRef: registryv1alpha1.SecretReference{Namespace: "src", Name: "regcred"}}}
	}
	cases := []struct {
		name   string
		uid    types.UID
		server string
		reason string
		fresh  bool
	}{
		{"a", "ua", "r.io", "", true},
		{"a", "ua", "r.io", "", false}, // remembered
		{"b", "ub", "other.io", registryv1alpha1.ReasonServerNotInSource, true},
		{"a", "ua", "other.io", registryv1alpha1.ReasonServerNotInSource, true}, // server changed: checked again
		{"a", "ua", "r.io", "", true},
		{"a", "ua2", "r.io", "", true}, // a namesake: checked again
	}
	for _, tc := range cases {
		c, fresh := s.checkFresh(rc(tc.name, tc.uid, tc.server), src)
		if c.problem.reason != tc.reason || fresh != tc.fresh {
			t.Errorf("%s %s %s: reason %q fresh %v, want %q %v", tc.name, tc.uid, tc.server, c.problem.reason, fresh, tc.reason, tc.fresh)
		}
		if tc.reason == "" && c.digest != digest(src.Type, src.Data) {
			t.Errorf("%s: not the content digest", tc.name)
		}
	}
	if s.len() != 2 {
		t.Fatalf("%d checks kept for 2 credentials", s.len())
	}
	bad := src.DeepCopy()
	bad.ResourceVersion = "2"
	bad.Data[corev1.DockerConfigJsonKey] = []byte(`{`)
	if c, _ := s.checkFresh(rc("a", "ua2", "r.io"), bad); c.problem.reason != registryv1alpha1.ReasonSourceInvalid {
		t.Fatalf("a new source version is checked again: %v", c.problem)
	}
	s.forget("a")
	if s.len() != 1 {
		t.Fatalf("%d checks kept after a credential went", s.len())
	}
}

func TestWriteBook(t *testing.T) {
	var b writeBook
	k := pairKey{Credential: "a", Namespace: "ns"}
	for i := range maxWritesPerPair + 3 {
		b.record(k, written{kind: writtenServiceAccount, key: types.NamespacedName{Namespace: "ns", Name: fmt.Sprint(i)}, rv: "5"})
	}
	if n := len(b.pending(k)); n != maxWritesPerPair {
		t.Fatalf("%d writes kept for one pair, bound %d", n, maxWritesPerPair)
	}
	b.keep(k, b.pending(k)[:1])
	if n := len(b.pending(k)); n != 1 || b.len() != 1 {
		t.Fatalf("keep left %d writes, %d pairs", n, b.len())
	}
	b.keep(k, nil)
	if b.len() != 0 {
		t.Fatal("a pair whose writes were all shown is still in the book")
	}
	b.record(k, written{kind: writtenSecret, key: types.NamespacedName{Namespace: "ns", Name: "x"}, deleted: "u"})
	b.forget(k)
	if b.len() != 0 {
		t.Fatal("forget left the pair")
	}
}

func TestRecords(t *testing.T) {
	cases := []struct {
		value  string
		secret string
		uid    types.UID
		ok     bool
	}{
		{FormatRecord("regcred", "0b9c-11"), "regcred", "0b9c-11", true},
		{"regcred", "", "", false}, // older format: nobody's
		{"@uid", "", "", false},
		{"regcred@", "", "", false},
	}
	for _, tc := range cases {
		secret, uid, ok := parseRecord(tc.value)
		if secret != tc.secret || uid != tc.uid || ok != tc.ok {
			t.Errorf("parseRecord(%q) = %q %q %v", tc.value, secret, uid, ok)
		}
	}
	got := recordedUIDs(map[string]string{RecordAnnotation("a"): FormatRecord("x", "u1"), RecordAnnotation("b"): "legacy", "other": "x@u3"})
	if len(got) != 1 || got[0] != "u1" {
		t.Fatalf("recordedUIDs = %v", got)
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add("regcred@0b9c-11")
	f.Add("@")
	f.Add("a@b@c")
	f.Fuzz(func(t *testing.T, v string) {
		secret, uid, ok := parseRecord(v)
		if !ok {
			return
		}
		if secret == "" || uid == "" {
			t.Fatalf("ok with an empty part: %q", v)
		}
		if s2, u2, ok2 := parseRecord(FormatRecord(secret, uid)); !ok2 || s2 != secret || u2 != uid {
			t.Fatalf("round trip of %q: %q %q %v", v, s2, u2, ok2)
		}
	})
}
