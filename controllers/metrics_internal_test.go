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
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

func TestRollouts(t *testing.T) {
	clock := time.Unix(1000, 0)
	r := newRollouts(3)
	r.now = func() time.Time { return clock }
	tick := func(d time.Duration) { clock = clock.Add(d) }

	// a credential first seen Ready (a restart over a synced world): not timed.
	r.seen("a", "uid-a", "h1", false)
	if _, ok := r.done("a", "uid-a", "h1"); ok {
		t.Fatal("a content already everywhere was timed")
	}
	// its source changes: timed from the first sight of the new content.
	r.seen("a", "uid-a", "h2", false)
	tick(3 * time.Second)
	r.seen("a", "uid-a", "h2", false) // seen again: the start stays
	tick(2 * time.Second)
	if _, ok := r.done("a", "uid-a", "h1"); ok {
		t.Fatal("a summary of the old content ended the rollout of the new one")
	}
	if d, ok := r.done("a", "uid-a", "h2"); !ok || d != 5*time.Second {
		t.Fatalf("done = %v %v, want 5s true", d, ok)
	}
	if _, ok := r.done("a", "uid-a", "h2"); ok {
		t.Fatal("one rollout observed twice")
	}

	// a new credential (not Ready): its first content is timed.
	r.seen("b", "uid-b", "h1", true)
	tick(time.Second)
	if d, ok := r.done("b", "uid-b", "h1"); !ok || d != time.Second {
		t.Fatalf("first content of a new credential: %v %v", d, ok)
	}

	// a rotation overtaken by another: timed from the first change.
	r.seen("b", "uid-b", "h2", false)
	tick(time.Second)
	r.seen("b", "uid-b", "h3", false)
	tick(time.Second)
	if d, ok := r.done("b", "uid-b", "h3"); !ok || d != time.Second {
		t.Fatalf("overtaken rollout: %v %v", d, ok)
	}

	// bounded: a fourth credential is not tracked, the known ones still are.
	r.seen("c", "uid-c", "h1", true)
	r.seen("d", "uid-d", "h1", true)
	if r.len() != 3 {
		t.Fatalf("%d entries, bound 3", r.len())
	}
	if _, ok := r.done("d", "uid-d", "h1"); ok {
		t.Fatal("a credential past the bound was timed")
	}
	r.seen("a", "uid-a", "h9", false)
	if _, ok := r.done("a", "uid-a", "h9"); !ok {
		t.Fatal("a known credential not timed at the bound")
	}

	// forgotten with the credential.
	r.forget("a")
	r.forget("b")
	if r.len() != 1 {
		t.Fatalf("%d entries after two credentials went", r.len())
	}
	if _, ok := r.done("a", "uid-a", "h9"); ok {
		t.Fatal("a forgotten credential's rollout ended")
	}
	// a namesake (new UID) starts afresh: its first content is not taken
	// for the old credential's.
	r.seen("c", "uid-c2", "h1", false)
	if _, ok := r.done("c", "uid-c2", "h1"); ok {
		t.Fatal("a namesake's first content, seen Ready, was timed")
	}
}

func TestReadyOneSeriesPerCredential(t *testing.T) {
	m := &credentialMetrics{registeredMetrics: newRegisteredMetrics(), rollouts: newRollouts(10)}
	status := func(s metav1.ConditionStatus, reason string, failed int32) *registryv1alpha1.RegistryCredentialStatus {
		return &registryv1alpha1.RegistryCredentialStatus{FailedNamespaces: failed, Conditions: []metav1.Condition{
			{Type: registryv1alpha1.ConditionReady, Status: s, Reason: reason}}}
	}
	expect := func(want string) {
		t.Helper()
		if err := testutil.CollectAndCompare(m.ready, strings.NewReader(want), "regcred_ready"); err != nil {
			t.Fatal(err)
		}
	}
	const head = "# HELP regcred_ready 1 when the RegistryCredential's Ready condition is True, else 0; the reason label is the condition's reason.\n# TYPE regcred_ready gauge\n"
	m.observe("a", status(metav1.ConditionFalse, registryv1alpha1.ReasonProgressing, 0))
	m.observe("b", status(metav1.ConditionFalse, registryv1alpha1.ReasonConflict, 2))
	m.observe("a", status(metav1.ConditionTrue, registryv1alpha1.ReasonSynced, 0))
	expect(head + `regcred_ready{credential="a",reason="Synced"} 1
regcred_ready{credential="b",reason="Conflict"} 0
`)
	if v := testutil.ToFloat64(m.failed.WithLabelValues("b")); v != 2 {
		t.Fatalf("regcred_failed_namespaces{credential=b} = %v", v)
	}
	m.forget("a")
	expect(head + `regcred_ready{credential="b",reason="Conflict"} 0
`)
	if n := testutil.CollectAndCount(m.failed); n != 1 {
		t.Fatalf("%d regcred_failed_namespaces series after forget, want 1", n)
	}
}

func TestWriteResult(t *testing.T) {
	gr := schema.GroupResource{Resource: "secrets"}
	cases := map[string]struct {
		err  error
		want string
	}{
		"nil":            {nil, resultSuccess},
		"conflict":       {apierrors.NewConflict(gr, "x", errors.New("the object has been modified")), resultConflict},
		"already exists": {apierrors.NewAlreadyExists(gr, "x"), resultConflict},
		"not found":      {apierrors.NewNotFound(gr, "x"), resultNotFound},
		"wrapped":        {fmt.Errorf("update copy: %w", apierrors.NewNotFound(gr, "x")), resultNotFound},
		"server error":   {apierrors.NewInternalError(errors.New("etcd")), resultError},
		"transport":      {errors.New("connection refused"), resultError},
	}
	for name, tc := range cases {
		if got := writeResult(tc.err); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
	m := &credentialMetrics{registeredMetrics: newRegisteredMetrics(), rollouts: newRollouts(10)}
	// every write's series exists from the start, at 0.
	if n := testutil.CollectAndCount(m.writes); n != 7*4 {
		t.Fatalf("%d regcred_writes_total series, want 28", n)
	}
	m.wrote(kindSecret, verbDelete, apierrors.NewNotFound(gr, "x"))
	if v := testutil.ToFloat64(m.writes.WithLabelValues(kindSecret, verbDelete, resultNotFound)); v != 1 {
		t.Fatalf("regcred_writes_total{secret,delete,notfound} = %v", v)
	}
}

func TestPropagationObserved(t *testing.T) {
	m := &credentialMetrics{registeredMetrics: newRegisteredMetrics(), rollouts: newRollouts(10)}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.propagation)
	rc := &registryv1alpha1.RegistryCredential{ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "u1"}}
	m.sourceSeen(rc, "h1") // a new credential, not Ready: timed
	m.propagated(rc, "h1")
	m.propagated(rc, "h1") // the next summary: nothing more
	ready := rc.DeepCopy()
	ready.Name, ready.UID = "b", "u2"
	ready.Status.Conditions = []metav1.Condition{{Type: registryv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: registryv1alpha1.ReasonSynced}}
	m.sourceSeen(ready, "h1") // first seen Ready (a restart): not timed
	m.propagated(ready, "h1")

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || len(families[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v", families)
	}
	h := families[0].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 1 {
		t.Fatalf("regcred_propagation_seconds_count = %d, want 1", h.GetSampleCount())
	}
	b := h.GetBucket()
	if len(b) != 15 || b[0].GetUpperBound() != 0.05 || math.Abs(b[len(b)-1].GetUpperBound()-600) > 1e-9 {
		t.Fatalf("buckets %v, want 15 from 0.05 s to 600 s", b)
	}
}
