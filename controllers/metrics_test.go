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

package controllers_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/version"
)

// regcredFamilies gathers controller-runtime's registry (what /metrics
// serves) and returns the regcred_* families by name.
func regcredFamilies(g Gomega) map[string]*dto.MetricFamily {
	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]*dto.MetricFamily{}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "regcred_") {
			out[f.GetName()] = f
		}
	}
	return out
}

// seriesOf returns the series of a metric whose labels include all of want,
// as "label=value,..." (sorted as gathered) to value (a histogram: its count).
func seriesOf(g Gomega, name string, want map[string]string) map[string]float64 {
	out := map[string]float64{}
	f := regcredFamilies(g)[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			match = match && hasLabel(m, k, v)
		}
		if !match {
			continue
		}
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Histogram != nil:
			v = float64(m.Histogram.GetSampleCount())
		}
		out[strings.Join(labels, ",")] = v
	}
	return out
}

// value is the sum of the series seriesOf returns.
func value(g Gomega, name string, want map[string]string) float64 {
	sum := 0.0
	for _, v := range seriesOf(g, name, want) {
		sum += v
	}
	return sum
}

// The operator's metrics follow a RegistryCredential: Ready with its reason
// (one series), the writes it made, a rotation's propagation time, and
// nothing left of it once it is deleted.
func TestMetrics(t *testing.T) {
	g := NewWithT(t)
	writes := func(kind, verb string) float64 {
		return value(g, "regcred_writes_total", map[string]string{"kind": kind, "verb": verb, "result": "success"})
	}
	createdBefore, updatedBefore := writes("secret", "create"), writes("secret", "update")
	rcPatchedBefore, saPatchedBefore := writes("registrycredential", "patch"), writes("serviceaccount", "patch")
	rolloutsBefore := value(g, "regcred_propagation_seconds", nil)

	src := newSource(t, uniq("src"), "private-registry.io", nil)
	group := uniq("metrics")
	nss := newNamespaces(t, group, 3, nil)
	rc := newCredential(t, group, src.Name, "private-registry.io", nil)
	byName := map[string]string{"credential": rc.Name}
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))

	g.Eventually(func() map[string]float64 { return seriesOf(g, "regcred_ready", byName) }, wait, tick).Should(Equal(map[string]float64{
		"credential=" + rc.Name + ",reason=Synced": 1,
	}))
	g.Expect(value(g, "regcred_selected_namespaces", byName)).To(Equal(3.0))
	g.Expect(value(g, "regcred_synced_namespaces", byName)).To(Equal(3.0))
	g.Expect(value(g, "regcred_failed_namespaces", byName)).To(Equal(0.0))
	g.Expect(seriesOf(g, "regcred_failed_namespaces", byName)).To(HaveLen(1), "regcred_failed_namespaces exists at 0")
	g.Eventually(func() map[string]float64 { return seriesOf(g, "regcred_pull_failures", byName) }, wait, tick).Should(
		HaveLen(6), "regcred_pull_failures exists at 0 for every reason")
	g.Expect(writes("secret", "create")).To(BeNumerically(">=", createdBefore+float64(len(nss))), "one successful create per copy")
	g.Expect(writes("registrycredential", "patch")).To(BeNumerically(">=", rcPatchedBefore+2), "the finalizer and a status")
	g.Expect(writes("serviceaccount", "patch")).To(BeNumerically(">=", saPatchedBefore+float64(len(nss))), "each namespace's default ServiceAccount")

	t.Run("promlint", func(t *testing.T) {
		g := NewWithT(t)
		// regcred_build_info is registered by main; lint it with the rest.
		var already prometheus.AlreadyRegisteredError
		if err := metrics.Registry.Register(version.NewCollector()); err != nil && !errors.As(err, &already) {
			t.Fatal(err)
		}
		families := regcredFamilies(g)
		var names []string
		var mfs []*dto.MetricFamily
		for name, f := range families {
			names = append(names, name)
			mfs = append(mfs, f)
		}
		slices.Sort(names)
		for _, want := range []string{"regcred_build_info", "regcred_ready", "regcred_failed_namespaces", "regcred_selected_namespaces",
			"regcred_synced_namespaces", "regcred_patched_serviceaccounts", "regcred_writes_total", "regcred_propagation_seconds"} {
			g.Expect(families).To(HaveKey(want))
		}
		problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
		g.Expect(err).NotTo(HaveOccurred())
		t.Logf("promlint over %d regcred_* families %v: %d problems %v", len(names), names, len(problems), problems)
		g.Expect(problems).To(BeEmpty())
	})

	// a rotation: its propagation is timed once every copy carries it.
	rotated := dockerConfig("private-registry.io", "robot", "rotated-"+password)
	g.Expect(updateSecret(sourceNS, src.Name, func(s *corev1.Secret) { s.Data[corev1.DockerConfigJsonKey] = rotated })).To(Succeed())
	for _, ns := range nss {
		g.Eventually(func() []byte {
			c, _ := getSecret(ns, src.Name)
			return c.Data[corev1.DockerConfigJsonKey]
		}, wait, tick).Should(Equal(rotated))
	}
	g.Eventually(func() float64 { return value(g, "regcred_propagation_seconds", nil) }, wait, tick).
		Should(BeNumerically(">", rolloutsBefore), "regcred_propagation_seconds_count")
	g.Expect(writes("secret", "update")).To(BeNumerically(">=", updatedBefore+float64(len(nss))), "each copy updated")

	// a new reason replaces the series of the old one.
	g.Expect(updateRC(rc.Name, func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.Server = "other-registry.io" })).To(Succeed())
	g.Eventually(func() map[string]float64 { return seriesOf(g, "regcred_ready", byName) }, wait, tick).Should(Equal(map[string]float64{
		"credential=" + rc.Name + ",reason=" + registryv1alpha1.ReasonServerNotInSource: 0,
	}))

	deleteCredential(t, rc.Name)
	for _, name := range []string{"regcred_ready", "regcred_selected_namespaces", "regcred_synced_namespaces", "regcred_patched_serviceaccounts", "regcred_failed_namespaces", "regcred_pull_failures"} {
		g.Eventually(func() map[string]float64 { return seriesOf(g, name, byName) }, wait, tick).Should(BeEmpty(), "%s of a deleted RegistryCredential", name)
	}
}
