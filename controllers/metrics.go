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

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// credentialMetrics are per-RegistryCredential gauges on controller-runtime's
// registry, removed when the RegistryCredential goes.
type credentialMetrics struct {
	selected *prometheus.GaugeVec
	synced   *prometheus.GaugeVec
	patched  *prometheus.GaugeVec
	ready    *prometheus.GaugeVec
}

var (
	defaultMetrics     *credentialMetrics
	defaultMetricsOnce sync.Once
)

// newCredentialMetrics registers the gauges once per process (tests start
// several managers).
func newCredentialMetrics() *credentialMetrics {
	defaultMetricsOnce.Do(registerCredentialMetrics)
	return defaultMetrics
}

func registerCredentialMetrics() {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "regcred", Name: name, Help: help}, []string{"credential"})
	}
	defaultMetrics = &credentialMetrics{
		selected: gauge("selected_namespaces", "Namespaces selected by the RegistryCredential."),
		synced:   gauge("synced_namespaces", "Selected namespaces holding an up to date copy with all matching ServiceAccounts patched."),
		patched:  gauge("patched_serviceaccounts", "ServiceAccounts listing the RegistryCredential's copy."),
		ready:    gauge("ready", "1 when the RegistryCredential's Ready condition is True."),
	}
	metrics.Registry.MustRegister(defaultMetrics.selected, defaultMetrics.synced, defaultMetrics.patched, defaultMetrics.ready)
}

func (m *credentialMetrics) observe(name string, st *registryv1alpha1.RegistryCredentialStatus) {
	if m == nil {
		return
	}
	m.selected.WithLabelValues(name).Set(float64(st.SelectedNamespaces))
	m.synced.WithLabelValues(name).Set(float64(st.SyncedNamespaces))
	m.patched.WithLabelValues(name).Set(float64(st.PatchedServiceAccounts))
	ready := 0.0
	for _, c := range st.Conditions {
		if c.Type == registryv1alpha1.ConditionReady && c.Status == "True" {
			ready = 1
		}
	}
	m.ready.WithLabelValues(name).Set(ready)
}

func (m *credentialMetrics) forget(name string) {
	if m == nil {
		return
	}
	for _, g := range []*prometheus.GaugeVec{m.selected, m.synced, m.patched, m.ready} {
		g.DeleteLabelValues(name)
	}
}
