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
	"context"
	"encoding/json"
	"errors"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func admissionRequest(t *testing.T, op admissionv1.Operation, ns string, p *corev1.Pod) admission.Request {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "uid",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: ns,
		Operation: op,
		Object:    runtime.RawExtension{Raw: raw},
	}}
}

// TestHandle covers the handler around Decide without a server: it never
// denies, patches only when Decide picks something, and reads a namespace
// its cache does not have yet from the API server.
func TestHandle(t *testing.T) {
	hub := rc("hub", "docker.io")
	app := namespace("app", nil)
	cached := func(objs ...client.Object) client.Reader {
		return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	}
	failing := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return errors.New("boom")
		},
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return errors.New("boom")
		},
	}).Build()

	cases := []struct {
		name      string
		injector  *PodInjector
		req       admission.Request
		wantPatch bool
	}{
		{name: "CREATE of a matching Pod is patched", injector: &PodInjector{Reader: cached(&hub, app)},
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx")), wantPatch: true},
		{name: "a namespace not in the cache yet is read from the API server", injector: &PodInjector{Reader: cached(&hub), APIReader: cached(app)},
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx")), wantPatch: true},
		{name: "no matching image: allowed, no patch", injector: &PodInjector{Reader: cached(&hub, app)},
			req: admissionRequest(t, admissionv1.Create, "app", pod("quay.io/x"))},
		{name: "UPDATE is left alone", injector: &PodInjector{Reader: cached(&hub, app)},
			req: admissionRequest(t, admissionv1.Update, "app", pod("nginx"))},
		{name: "undecodable object: allowed unchanged", injector: &PodInjector{Reader: cached(&hub, app)},
			req: func() admission.Request {
				r := admissionRequest(t, admissionv1.Create, "app", pod("nginx"))
				r.Object.Raw = []byte("{not json")
				return r
			}()},
		{name: "unknown namespace: allowed unchanged", injector: &PodInjector{Reader: cached(&hub)},
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx"))},
		{name: "cache errors: allowed unchanged", injector: &PodInjector{Reader: failing},
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx"))},
		{name: "Pod opted out: allowed unchanged without reading anything", injector: &PodInjector{Reader: failing},
			req: admissionRequest(t, admissionv1.Create, "app", podWith(pod("nginx"), func(p *corev1.Pod) { p.Labels = map[string]string{InjectLabel: "false"} }))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.injector.Handle(context.Background(), tc.req)
			if !resp.Allowed {
				t.Fatalf("denied: %+v", resp.Result)
			}
			if got := len(resp.Patches) > 0; got != tc.wantPatch {
				t.Errorf("patched = %v (%+v), want %v", got, resp.Patches, tc.wantPatch)
			}
		})
	}

	t.Run("dry runs are not counted", func(t *testing.T) {
		inj := &PodInjector{Reader: cached(&hub, app)}
		before := mutatedCount(t, "hub")
		req := admissionRequest(t, admissionv1.Create, "app", pod("nginx"))
		req.DryRun = ptr.To(true)
		if resp := inj.Handle(context.Background(), req); len(resp.Patches) == 0 {
			t.Fatal("dry run not patched")
		}
		if after := mutatedCount(t, "hub"); after != before {
			t.Errorf("counter moved from %v to %v on a dry run", before, after)
		}
		inj.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "app", pod("nginx")))
		if after := mutatedCount(t, "hub"); after != before+1 {
			t.Errorf("counter moved from %v to %v on a real admission, want +1", before, after)
		}
	})

	t.Run("a deleted credential's counter goes", func(t *testing.T) {
		gone := rc("gone", "docker.io")
		inj := &PodInjector{Reader: cached(&gone, app)}
		inj.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "app", pod("nginx")))
		if mutatedCount(t, "gone") != 1 {
			t.Fatal("counter not set")
		}
		inj.Reader = cached(app)
		inj.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "app", pod("nginx")))
		if v := mutatedCount(t, "gone"); v != 0 {
			t.Errorf("counter of a deleted credential still reports %v", v)
		}
	})
}
