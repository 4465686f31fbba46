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
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// The operator's metrics, on controller-runtime's registry (served with its
// own controller_runtime_* and workqueue_* metrics):
//
//	regcred_selected_namespaces{credential}      gauge
//	regcred_synced_namespaces{credential}        gauge
//	regcred_patched_serviceaccounts{credential}  gauge
//	regcred_failed_namespaces{credential}        gauge
//	regcred_ready{credential,reason}             gauge, 1 when Ready is True; one series per credential
//	regcred_pull_failures{credential,reason}     gauge, failed pulls under the credential's server (status.pullFailures)
//	regcred_credential_expiry_timestamp_seconds{credential} gauge, status.expiresAt as a Unix time
//	regcred_writes_total{kind,verb,result}       counter, every API write the operator makes
//	regcred_propagation_seconds                  histogram, new source content until every copy carries it
//
// The per-credential series go when the RegistryCredential goes (forget).
// regcred_build_info is registered by main (internal/version).

// Label values of regcred_writes_total.
const (
	kindSecret             = "secret"
	kindServiceAccount     = "serviceaccount"
	kindRegistryCredential = "registrycredential"
	kindPod                = "pod"

	verbCreate = "create"
	verbUpdate = "update"
	verbPatch  = "patch"
	verbDelete = "delete"
	verbEvict  = "evict"

	resultSuccess  = "success"
	resultConflict = "conflict"
	resultNotFound = "notfound"
	resultError    = "error"
)

// writeKinds are the writes the operator makes, by kind: their series exist
// (at 0) from the start, so rate() sees the first one.
var writeKinds = map[string][]string{
	kindSecret:             {verbCreate, verbUpdate, verbPatch, verbDelete},
	kindServiceAccount:     {verbPatch},
	kindRegistryCredential: {verbPatch},
	kindPod:                {verbEvict},
}

// propagationBuckets: 50 ms (one namespace, the cache a moment behind) to
// 10 min (a rotation over thousands of namespaces during an outage), 15
// buckets growing by about 2x.
var propagationBuckets = prometheus.ExponentialBucketsRange(0.05, 600, 15)

// maxRollouts bounds the rollouts timed at once. There is at most one per
// live RegistryCredential; the bound only guards against a leak. Past it, a
// new RegistryCredential's rollouts are not timed (the others still are).
const maxRollouts = 10000

// registeredMetrics are the collectors on controller-runtime's registry:
// one set per process (tests start several managers, and the registry
// refuses a second registration).
type registeredMetrics struct {
	selected, synced, patched, failed *prometheus.GaugeVec
	ready                             *prometheus.GaugeVec
	pullFailures, expiresAt           *prometheus.GaugeVec
	writes                            *prometheus.CounterVec
	propagation                       prometheus.Histogram

	// readyMu guards readyReason: the reason label of each credential's
	// regcred_ready series, so a new reason replaces the series of the old
	// one instead of adding a second.
	readyMu     sync.Mutex
	readyReason map[string]string
}

// credentialMetrics are the operator's metrics: the process's collectors
// and this operator's rollout timer.
type credentialMetrics struct {
	*registeredMetrics
	rollouts *rollouts
}

var (
	defaultMetrics     *registeredMetrics
	defaultMetricsOnce sync.Once
)

// newCredentialMetrics registers the collectors once per process and
// returns them with a rollout timer of the caller's own.
func newCredentialMetrics() *credentialMetrics {
	defaultMetricsOnce.Do(func() {
		defaultMetrics = newRegisteredMetrics()
		metrics.Registry.MustRegister(defaultMetrics.collectors()...)
	})
	return &credentialMetrics{registeredMetrics: defaultMetrics, rollouts: newRollouts(maxRollouts)}
}

func newRegisteredMetrics() *registeredMetrics {
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "regcred", Name: name, Help: help}, labels)
	}
	m := &registeredMetrics{
		selected: gauge("selected_namespaces", "Namespaces selected by the RegistryCredential.", "credential"),
		synced:   gauge("synced_namespaces", "Selected namespaces holding an up to date copy with all matching ServiceAccounts patched.", "credential"),
		patched:  gauge("patched_serviceaccounts", "ServiceAccounts listing the RegistryCredential's copy.", "credential"),
		failed:   gauge("failed_namespaces", "Selected namespaces the RegistryCredential could not be synced to (status.failedNamespaces: conflicts and API errors).", "credential"),
		ready: gauge("ready", "1 when the RegistryCredential's Ready condition is True, else 0; the reason label is the condition's reason.",
			"credential", "reason"),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "regcred", Name: "writes_total",
			Help: "API writes made by the operator, by kind of object (secret, serviceaccount, registrycredential, pod: evictions of the repair), verb and result (success, conflict, notfound, error).",
		}, []string{"kind", "verb", "result"}),
		propagation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "regcred", Name: "propagation_seconds",
			Help:    "Time from the operator seeing a new source content for a RegistryCredential until a status summary found every selected namespace's copy carrying it.",
			Buckets: propagationBuckets,
		}),
		pullFailures: gauge("pull_failures", "Failed pulls (Pod, image) of images under the RegistryCredential's server in the namespaces it selects, by reason (status.pullFailures): NotReferenced, SecretMissing, Unauthorized, Forbidden, NotFound, Other.",
			"credential", "reason"),
		expiresAt: gauge("credential_expiry_timestamp_seconds", "When the RegistryCredential's credential expires (status.expiresAt), as a Unix time; absent when the credential does not say.",
			"credential"),
		readyReason: map[string]string{},
	}
	for kind, verbs := range writeKinds {
		for _, verb := range verbs {
			for _, result := range []string{resultSuccess, resultConflict, resultNotFound, resultError} {
				m.writes.WithLabelValues(kind, verb, result)
			}
		}
	}
	return m
}

func (m *registeredMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.selected, m.synced, m.patched, m.failed, m.ready, m.pullFailures, m.expiresAt, m.writes, m.propagation}
}

// observe sets the credential's gauges from the status about to be written.
func (m *credentialMetrics) observe(name string, st *registryv1alpha1.RegistryCredentialStatus) {
	if m == nil {
		return
	}
	m.selected.WithLabelValues(name).Set(float64(st.SelectedNamespaces))
	m.synced.WithLabelValues(name).Set(float64(st.SyncedNamespaces))
	m.patched.WithLabelValues(name).Set(float64(st.PatchedServiceAccounts))
	m.failed.WithLabelValues(name).Set(float64(st.FailedNamespaces))
	if pf := st.PullFailures; pf != nil {
		for _, reason := range pullReasons {
			n := 0
			for _, c := range pf.Reasons {
				if c.Reason == reason {
					n = int(c.Count)
				}
			}
			m.pullFailures.WithLabelValues(name, reason).Set(float64(n))
		}
	} else {
		m.pullFailures.DeletePartialMatch(prometheus.Labels{"credential": name})
	}
	if st.ExpiresAt != nil {
		m.expiresAt.WithLabelValues(name).Set(float64(st.ExpiresAt.Unix()))
	} else {
		m.expiresAt.DeleteLabelValues(name)
	}
	ready, reason := 0.0, ""
	if c := apimeta.FindStatusCondition(st.Conditions, registryv1alpha1.ConditionReady); c != nil {
		reason = c.Reason
		if c.Status == metav1.ConditionTrue {
			ready = 1
		}
	}
	m.readyMu.Lock()
	defer m.readyMu.Unlock()
	if old, ok := m.readyReason[name]; ok && old != reason {
		m.ready.DeleteLabelValues(name, old)
	}
	m.readyReason[name] = reason
	m.ready.WithLabelValues(name, reason).Set(ready)
}

// forget removes the series of a RegistryCredential that is gone.
func (m *credentialMetrics) forget(name string) {
	if m == nil {
		return
	}
	for _, g := range []*prometheus.GaugeVec{m.selected, m.synced, m.patched, m.failed, m.expiresAt} {
		g.DeleteLabelValues(name)
	}
	m.pullFailures.DeletePartialMatch(prometheus.Labels{"credential": name})
	m.rollouts.forget(name)
	m.readyMu.Lock()
	defer m.readyMu.Unlock()
	delete(m.readyReason, name)
	m.ready.DeletePartialMatch(prometheus.Labels{"credential": name})
}

// wrote counts one API write and its result.
func (m *credentialMetrics) wrote(kind, verb string, err error) {
	if m == nil {
		return
	}
	m.writes.WithLabelValues(kind, verb, writeResult(err)).Inc()
}

// writeResult is the result label of a write's error: a stale read
// (resourceVersion or UID precondition failed, the name already taken) is a
// conflict, an object gone is notfound.
func writeResult(err error) string {
	switch {
	case err == nil:
		return resultSuccess
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return resultConflict
	case apierrors.IsNotFound(err):
		return resultNotFound
	}
	return resultError
}

// sourceSeen tells the rollout timer the content hash a RegistryCredential's
// source has now. Only a change is timed, plus the first content of a
// RegistryCredential that is not Ready (a new one): after a restart the
// operator sees every content for the first time, and a Ready credential's
// copies already carry it.
func (m *credentialMetrics) sourceSeen(rc *registryv1alpha1.RegistryCredential, hash copyDigest) {
	if m == nil {
		return
	}
	ready := apimeta.IsStatusConditionTrue(rc.Status.Conditions, registryv1alpha1.ConditionReady)
	m.rollouts.seen(rc.Name, rc.UID, hash, !ready)
}

// propagated tells the rollout timer that a summary found every selected
// namespace synced with the content hash; a rollout of that content ends.
func (m *credentialMetrics) propagated(rc *registryv1alpha1.RegistryCredential, hash copyDigest) {
	if m == nil {
		return
	}
	if d, ok := m.rollouts.done(rc.Name, rc.UID, hash); ok {
		m.propagation.Observe(d.Seconds())
	}
}

// rollouts times the propagation of source contents, per RegistryCredential
// name: the content digest seen last and, until a summary finds every
// selected namespace carrying it, when it was first seen. It holds at most
// one entry per RegistryCredential and at most max entries; the entry of a
// RegistryCredential that is gone is dropped by forget.
type rollouts struct {
	mu  sync.Mutex
	max int
	m   map[string]rollout
	now func() time.Time
}

type rollout struct {
	uid   types.UID
	hash  copyDigest
	since time.Time // zero: not in progress
}

func newRollouts(maxEntries int) *rollouts {
	return &rollouts{max: maxEntries, m: map[string]rollout{}, now: time.Now}
}

// seen records the content digest the credential's source has. A digest
// other than the one known starts a rollout; for a credential not known
// yet, one starts only when startFirst is set.
func (r *rollouts) seen(name string, uid types.UID, hash copyDigest, startFirst bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, known := r.m[name]
	known = known && old.uid == uid
	switch {
	case known && old.hash == hash:
		return
	case !known && len(r.m) >= r.max:
		return // bound reached: not timed
	}
	ro := rollout{uid: uid, hash: hash}
	if known || startFirst {
		ro.since = r.now()
	}
	r.m[name] = ro
}

// done ends the credential's rollout of hash and says how long it took;
// false when no rollout of that digest was in progress.
func (r *rollouts) done(name string, uid types.UID, hash copyDigest) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ro, ok := r.m[name]
	if !ok || ro.uid != uid || ro.hash != hash || ro.since.IsZero() {
		return 0, false
	}
	r.m[name] = rollout{uid: uid, hash: hash}
	return r.now().Sub(ro.since), true
}

// forget drops the named credential's entry.
func (r *rollouts) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, name)
}

func (r *rollouts) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
