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
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/controllers"
)

// metricSum adds up a metric's samples whose label has the value.
func metricSum(g Gomega, name, label, value string) float64 {
	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabel(m, label, value) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// 100 RegistryCredentials over 1,000 namespaces, each selecting 10: a restart
// over the synced world queues at most one work item per selected pair (not
// one per credential and namespace: 100,000) and writes nothing.
func TestRestartQueuesOnlySelectedPairs(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,000 namespaces")
	}
	const credentials, perCredential = 100, 10
	g := NewWithT(t)
	src := newSource(t, uniq("src"), "private-registry.io", nil)
	run := uniq("scale")
	var nss []string
	for i := range credentials * perCredential {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   fmt.Sprintf("%s-%04d", run, i),
			Labels: map[string]string{"scale": run, "group": fmt.Sprintf("g%02d", i/perCredential)},
		}}
		g.Expect(k8s.Create(ctx, ns)).To(Succeed())
		nss = append(nss, ns.Name)
	}
	for _, ns := range nss {
		waitDefaultSA(t, ns)
	}
	var names []string
	for i := range credentials {
		rc := &registryv1alpha1.RegistryCredential{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-rc-%02d", run, i)},
			Spec: registryv1alpha1.RegistryCredentialSpec{
				Server:            "private-registry.io",
				SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: src.Name},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"scale": run, "group": fmt.Sprintf("g%02d", i)}},
			},
		}
		g.Expect(k8s.Create(ctx, rc)).To(Succeed())
		names = append(names, rc.Name)
	}
	synced := func() int {
		list := &registryv1alpha1.RegistryCredentialList{}
		g.Expect(k8s.List(ctx, list)).To(Succeed())
		n := 0
		for _, rc := range list.Items {
			c := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionReady)
			if rc.Status.Namespaces == fmt.Sprintf("%d/%d", perCredential, perCredential) && c != nil && c.Status == metav1.ConditionTrue {
				n++
			}
		}
		return n
	}
	g.Eventually(synced, 5*time.Minute, time.Second).Should(BeNumerically(">=", credentials))
	mgr.writes.waitQuiet(g, time.Second)

	mgr.stop()
	addsBefore := metricSum(g, "workqueue_adds_total", "name", controllers.PairControllerName)
	doneBefore := metricSum(g, "controller_runtime_reconcile_total", "controller", controllers.PairControllerName)
	var err error
	mgr, err = startManager()
	g.Expect(err).NotTo(HaveOccurred())
	pairs := float64(credentials * perCredential)
	// every selected pair is looked at once after the restart...
	g.Eventually(func() float64 {
		return metricSum(g, "controller_runtime_reconcile_total", "controller", controllers.PairControllerName) - doneBefore
	}, 2*time.Minute, 100*time.Millisecond).Should(BeNumerically(">=", pairs))
	g.Eventually(func() float64 { return metricSum(g, "workqueue_depth", "name", controllers.PairControllerName) }, wait, tick).Should(BeZero())
	adds := metricSum(g, "workqueue_adds_total", "name", controllers.PairControllerName) - addsBefore
	t.Logf("restart over %d credentials x %d namespaces (%d selected pairs): %.0f work items queued", credentials, len(nss), int(pairs), adds)
	// ...and queued no more than once.
	g.Expect(adds).To(BeNumerically("<=", pairs))
	mgr.writes.waitQuiet(g, 2*time.Second)
	g.Expect(mgr.writes.about(run)()).To(BeEmpty(), "writes after a restart over a synced world")

	// Leave the world as the other tests expect it.
	for _, name := range names {
		g.Expect(k8s.Delete(ctx, &registryv1alpha1.RegistryCredential{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	}
	g.Eventually(func() int {
		list := &registryv1alpha1.RegistryCredentialList{}
		g.Expect(k8s.List(ctx, list)).To(Succeed())
		n := 0
		for _, rc := range list.Items {
			if len(rc.Name) > len(run) && rc.Name[:len(run)] == run {
				n++
			}
		}
		return n
	}, 3*time.Minute, time.Second).Should(BeZero())
}
