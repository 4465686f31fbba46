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
	"time"

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
	if !b.set("a", conflict("ns-2")) || !b.set("a", conflict("ns-1")) || !b.set("b", conflict("ns-1")) {
		t.Fatal("a new failure is a change")
	}
	if b.set("a", conflict("ns-1")) {
		t.Fatal("the same failure again is no change")
	}
	if got := b.list("a", func(string) bool { return true }); len(got) != 2 || got[0].Namespace != "ns-1" {
		t.Fatalf("list = %v, want ns-1, ns-2 sorted", got)
	}
	// namespaces no longer selected are dropped by list
	if got := b.list("a", func(ns string) bool { return ns == "ns-2" }); len(got) != 1 || b.len() != 2 {
		t.Fatalf("list kept %v, book holds %d", got, b.len())
	}
	if !b.set("a", registryv1alpha1.NamespaceFailure{Namespace: "ns-2"}) || b.set("a", registryv1alpha1.NamespaceFailure{Namespace: "ns-2"}) {
		t.Fatal("clearing is a change once")
	}
	if _, ok := b.get("a", "ns-2"); ok {
		t.Fatal("cleared failure still there")
	}
	b.retain(func(uid types.UID) bool { return uid != "b" })
	if b.len() != 0 {
		t.Fatalf("book holds %d after its credentials went", b.len())
	}
	// bounded per credential
	for i := range maxFailuresPerCredential + 5 {
		b.set("c", conflict(fmt.Sprintf("ns-%d", i)))
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
	rc := func(uid types.UID, server string) *registryv1alpha1.RegistryCredential {
		return &registryv1alpha1.RegistryCredential{ObjectMeta: metav1.ObjectMeta{Name: string(uid), UID: uid},
			Spec: registryv1alpha1.RegistryCredentialSpec{Server: server, SecretRef: registryv1alpha1.SecretReference{Namespace: "src", Name: "regcred"}}}
	}
	cases := []struct {
		uid    types.UID
		server string
		reason string
	}{
		{"a", "r.io", ""},
		{"b", "other.io", registryv1alpha1.ReasonServerNotInSource},
		{"a", "other.io", registryv1alpha1.ReasonServerNotInSource}, // server changed: checked again
		{"a", "r.io", ""},
	}
	for _, tc := range cases {
		c := s.check(rc(tc.uid, tc.server), src)
		if c.problem.reason != tc.reason {
			t.Errorf("%s %s: reason %q, want %q", tc.uid, tc.server, c.problem.reason, tc.reason)
		}
		if tc.reason == "" && c.hash != contentHash(src.Type, src.Data) {
			t.Errorf("%s: hash not the content hash", tc.uid)
		}
	}
	if s.len() != 2 {
		t.Fatalf("%d checks kept for 2 credentials", s.len())
	}
	bad := src.DeepCopy()
	bad.ResourceVersion = "2"
	bad.Data[corev1.DockerConfigJsonKey] = []byte(`{`)
	if c := s.check(rc("a", "r.io"), bad); c.problem.reason != registryv1alpha1.ReasonSourceInvalid {
		t.Fatalf("a new source version is checked again: %v", c.problem)
	}
	s.retain(func(uid types.UID) bool { return uid == "b" })
	if s.len() != 1 {
		t.Fatalf("%d checks kept after a credential went", s.len())
	}
}

func TestStatusPaceWait(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	cases := []struct {
		name string
		book paceBook
		now  time.Duration // after t0
		want time.Duration
	}{
		{"never summarised", paceBook{changed: at(0)}, 0, 0},
		{"within statusDelay of the last", paceBook{summarised: at(0), took: time.Millisecond}, 300 * time.Millisecond, statusDelay - 300*time.Millisecond},
		{"expensive: spaced by its cost", paceBook{summarised: at(0), took: 100 * time.Millisecond}, 1500 * time.Millisecond, statusCostFactor*100*time.Millisecond - 1500*time.Millisecond},
		{"cost spacing is bounded", paceBook{summarised: at(0), took: time.Second}, 9 * time.Second, maxStatusDelay - 9*time.Second},
		{"spaced, changes quiet", paceBook{summarised: at(0), took: time.Millisecond, changed: at(900 * time.Millisecond)}, 1200 * time.Millisecond, 0},
		{"spaced, a change just now: quiet first", paceBook{summarised: at(0), took: time.Millisecond, changed: at(1200 * time.Millisecond)}, 1200 * time.Millisecond, statusQuiet},
		{"spaced, changes going on", paceBook{summarised: at(0), took: time.Millisecond, changed: at(1900 * time.Millisecond)}, 2 * time.Second, statusQuiet - 100*time.Millisecond},
		{"changes going on: progress", paceBook{summarised: at(0), took: time.Millisecond, changed: at(statusProgressEvery)}, statusProgressEvery, 0},
		{"progress due soon", paceBook{summarised: at(0), took: time.Millisecond, changed: at(4900 * time.Millisecond)}, 4900 * time.Millisecond, 100 * time.Millisecond},
		{"progress waits for a longer cost spacing", paceBook{summarised: at(0), took: 400 * time.Millisecond, changed: at(7 * time.Second)}, 7 * time.Second, time.Second},
	}
	for _, tc := range cases {
		if got := tc.book.wait(at(tc.now)); got != tc.want {
			t.Errorf("%s: wait %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestStatusPace(t *testing.T) {
	var p statusPace
	now := time.Now()
	if got := p.wait("unknown", now); got != 0 {
		t.Fatalf("wait before any summary = %s, want 0", got)
	}
	if got := p.wake("a", now); got != statusQuiet {
		t.Fatalf("wake before any summary: the item looks after %s, want statusQuiet", got)
	}
	p.observe("a", now, 100*time.Millisecond)
	if got, want := p.wake("a", now.Add(time.Second)), time.Second; got != want {
		t.Fatalf("wake 1 s after a summary that took 100 ms: after %s, want %s (cost spacing)", got, want)
	}
	if got := p.wait("a", now.Add(time.Second)); got != time.Second {
		t.Fatalf("wait = %s", got)
	}
	p.observe("b", now, time.Millisecond)
	if p.len() != 2 {
		t.Fatalf("%d books for 2 credentials", p.len())
	}
	p.retain(func(uid types.UID) bool { return uid == "b" })
	if p.len() != 1 || p.wait("a", now) != 0 {
		t.Fatalf("after a went: %d books, a waits %s", p.len(), p.wait("a", now))
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
