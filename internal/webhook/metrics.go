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

package webhook

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// webhookMetrics live on controller-runtime's registry, next to its own
// controller_runtime_webhook_* metrics.
type webhookMetrics struct {
	// mutated counts Pods that got a RegistryCredential's pull secret. Dry
	// runs are not counted. The series of a RegistryCredential is removed
	// when it is deleted.
	mutated *prometheus.CounterVec
	// duration is the time the handler takes per admission request.
	duration prometheus.Histogram
}

var (
	defaultMetrics     *webhookMetrics
	defaultMetricsOnce sync.Once
)

// getMetrics registers the metrics once per process (tests start several
// managers).
func getMetrics() *webhookMetrics {
	defaultMetricsOnce.Do(func() {
		defaultMetrics = &webhookMetrics{
			mutated: prometheus.NewCounterVec(prometheus.CounterOpts{
				Namespace: "regcred",
				Subsystem: "webhook",
				Name:      "pods_mutated_total",
				Help:      "Pods admitted with a RegistryCredential's pull secret added, per RegistryCredential.",
			}, []string{"credential"}),
			duration: prometheus.NewHistogram(prometheus.HistogramOpts{
				Namespace: "regcred",
				Subsystem: "webhook",
				Name:      "admission_duration_seconds",
				Help:      "Time the Pod admission handler takes per request, from decoding to response.",
				// 25µs to 1s: the handler works from caches and usually
				// answers in well under a millisecond.
				Buckets: prometheus.ExponentialBucketsRange(25e-6, 1, 16),
			}),
		}
		metrics.Registry.MustRegister(defaultMetrics.mutated, defaultMetrics.duration)
	})
	return defaultMetrics
}

// forget removes the counter series of a deleted RegistryCredential. It is
// the delete handler of the RegistryCredential informer.
func (m *webhookMetrics) forget(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if rc, ok := obj.(*registryv1alpha1.RegistryCredential); ok {
		m.mutated.DeleteLabelValues(rc.Name)
	}
}
