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
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// BenchmarkDecide measures the pure admission decision for a Pod with an
// init container and two containers, against 1, 10 and 100
// RegistryCredentials from a credset.Set (specs compiled once per
// generation, each with a namespace selector and exclusions, one in ten
// matching the Pod's images). The handler's ownership check on the
// candidates (cache reads) is not included.
//
//	go test -run '^$' -bench BenchmarkDecide -benchmem ./internal/webhook/
func BenchmarkDecide(b *testing.B) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36"}},
		Containers: []corev1.Container{
			{Name: "app", Image: "registry.example.com:5000/team/app@sha256:" + sha},
			{Name: "proxy", Image: "quay.io/org/proxy:v2"},
		},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "existing"}},
	}}
	ns := namespace("app", map[string]string{"env": "prod", "team": "a"})
	for _, n := range []int{1, 10, 100} {
		creds := credSet(b, benchCredentials(n)...).All()
		b.Run(fmt.Sprintf("credentials=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var got []Injection
			for b.Loop() {
				got = Decide(p, ns, creds, []string{"regcred-system"})
			}
			if len(got) == 0 {
				b.Fatal("nothing injected")
			}
		})
	}
}

// benchCredentials returns n RegistryCredentials; every tenth (and the
// first) is for a registry the benchmark Pod pulls from.
func benchCredentials(n int) []registryv1alpha1.RegistryCredential {
	servers := []string{"docker.io", "registry.example.com:5000/team", "quay.io/org"}
	out := make([]registryv1alpha1.RegistryCredential, n)
	for i := range out {
		server := fmt.Sprintf("registry-%d.example.org/path", i)
		if i%10 == 0 {
			server = servers[(i/10)%len(servers)]
		}
		out[i] = rc(fmt.Sprintf("cred-%03d", i), server, withSelector(map[string]string{"env": "prod"}),
			withReady(registryv1alpha1.ReasonSynced, 1),
			func(r *registryv1alpha1.RegistryCredential) {
				r.Spec.NamespaceSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}
			})
	}
	return out
}
