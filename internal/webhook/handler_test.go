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
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/credset"
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

// cached is a fake reader holding objs (a cache, or the API server).
func cached(objs ...client.Object) client.Reader {
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

// failing is a reader whose every read fails.
var failing = fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
	Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
		return errors.New("boom")
	},
	List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
		return errors.New("boom")
	},
}).Build()

// metadataOnly is reader as the manager's cache answers: Namespaces only as
// metadata; a read of a full Namespace fails, as with
// ReaderFailOnMissingInformer.
func metadataOnly(reader client.Reader) client.Reader {
	return interceptor.NewClient(reader.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, full := obj.(*corev1.Namespace); full {
				return errors.New("no informer for *v1.Namespace: the cache holds Namespaces as metadata")
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
}

// pullSecret builds Secret ns/name, controlled by owner when given, with extra
// metadata from mods.
func pullSecret(ns, name string, owner *registryv1alpha1.RegistryCredential, mods ...func(*corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeDockerConfigJson}
	if owner != nil {
		s.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, registryv1alpha1.GroupVersion.WithKind("RegistryCredential"))}
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

// ourLabels gives a Secret the labels of the operator's copies of rc.
func ourLabels(rc string) func(*corev1.Secret) {
	return func(s *corev1.Secret) {
		s.Labels = map[string]string{"app.kubernetes.io/managed-by": "regcred-operator", "registry.regcred.dev/credential": rc}
	}
}

// TestMayInject is the ownership check on one candidate: the copy name is
// added only where it is, or will be, the credential's own Secret.
func TestMayInject(t *testing.T) {
	hub := rc("hub", "docker.io")
	other := rc("hub", "docker.io", func(r *registryv1alpha1.RegistryCredential) { r.UID = "uid-of-a-previous-hub" })
	inSource := rc("insource", "docker.io", withTarget("src")) // the source's own name
	empty := cached()

	cases := []struct {
		name  string
		rc    registryv1alpha1.RegistryCredential
		ns    string
		cache client.Reader
		api   client.Reader // nil: no APIReader
		want  bool
	}{
		{name: "the source itself, in its namespace", rc: inSource, ns: "regcred-system", cache: failing, api: failing, want: true},
		{name: "the source's name in another namespace is a copy like any", rc: inSource, ns: "app",
			cache: cached(pullSecret("app", "src", nil)), api: empty},
		{name: "cached copy controlled by the credential", rc: hub, ns: "app",
			cache: cached(pullSecret("app", "hub-pull", &hub, ourLabels("hub"))), api: failing, want: true},
		{name: "cached Secret with our labels but no ownerReference", rc: hub, ns: "app",
			cache: cached(pullSecret("app", "hub-pull", nil, ourLabels("hub"))), api: failing},
		{name: "cached Secret controlled by another UID", rc: hub, ns: "app",
			cache: cached(pullSecret("app", "hub-pull", &other, ourLabels("hub"))), api: failing},
		{name: "cached Secret owned by the credential but not as controller", rc: hub, ns: "app",
			cache: cached(pullSecret("app", "hub-pull", &hub, func(s *corev1.Secret) { s.OwnerReferences[0].Controller = nil })), api: failing},
		{name: "not cached, not on the API server: the copy is on its way", rc: hub, ns: "app", cache: empty, api: empty, want: true},
		{name: "not cached, on the API server controlled by the credential", rc: hub, ns: "app",
			cache: empty, api: cached(pullSecret("app", "hub-pull", &hub, ourLabels("hub"))), want: true},
		{name: "not cached, a foreign Secret on the API server", rc: hub, ns: "app",
			cache: empty, api: cached(pullSecret("app", "hub-pull", nil))},
		{name: "not cached, our labels without ownerReference on the API server", rc: hub, ns: "app",
			cache: empty, api: cached(pullSecret("app", "hub-pull", nil, ourLabels("hub")))},
		{name: "not cached, the API server fails", rc: hub, ns: "app", cache: empty, api: failing},
		{name: "not cached, no API reader", rc: hub, ns: "app", cache: empty},
		{name: "the cache fails", rc: hub, ns: "app", cache: failing, api: empty},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := credSet(t, tc.rc).Get(tc.rc.Name)
			p := &PodInjector{Reader: tc.cache, APIReader: tc.api}
			if got := p.mayInject(context.Background(), tc.ns, c); got != tc.want {
				t.Errorf("mayInject(%s, %s) = %v, want %v", tc.ns, c.Target, got, tc.want)
			}
		})
	}
}

// TestHandle covers the handler around Decide without a server: it never
// denies, patches only when Decide picks something and the name is free or
// the credential's, and reads a namespace its cache does not have yet from
// the API server.
func TestHandle(t *testing.T) {
	hub := rc("hub", "docker.io")
	creds := credSet(t, hub)
	app := namespace("app", nil)
	api := cached(app)
	injector := func(cache client.Reader) *PodInjector {
		return &PodInjector{Reader: cache, APIReader: api, Credentials: creds}
	}

	cases := []struct {
		name      string
		injector  *PodInjector
		req       admission.Request
		wantPatch bool
	}{
		{name: "CREATE of a matching Pod is patched", injector: injector(cached(app)),
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx")), wantPatch: true},
		{name: "Namespaces are read as metadata, as the cache holds them", injector: &PodInjector{Reader: metadataOnly(cached(app)), APIReader: metadataOnly(api), Credentials: creds},
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx")), wantPatch: true},
		{name: "the credential's copy in the cache: patched", injector: injector(cached(app, pullSecret("app", "hub-pull", &hub))),
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx")), wantPatch: true},
		{name: "a Secret the credential does not control holds the name: allowed, no patch",
			injector: injector(cached(app, pullSecret("app", "hub-pull", nil, ourLabels("hub")))),
			req:      admissionRequest(t, admissionv1.Create, "app", pod("nginx"))},
		{name: "a namespace not in the cache yet is read from the API server", injector: injector(cached()),
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx")), wantPatch: true},
		{name: "no matching image: allowed, no patch", injector: injector(cached(app)),
			req: admissionRequest(t, admissionv1.Create, "app", pod("quay.io/x"))},
		{name: "no credentials: allowed, no patch", injector: &PodInjector{Reader: cached(app), APIReader: api, Credentials: &credset.Set{}},
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx"))},
		{name: "UPDATE is left alone", injector: injector(cached(app)),
			req: admissionRequest(t, admissionv1.Update, "app", pod("nginx"))},
		{name: "undecodable object: allowed unchanged", injector: injector(cached(app)),
			req: func() admission.Request {
				r := admissionRequest(t, admissionv1.Create, "app", pod("nginx"))
				r.Object.Raw = []byte("{not json")
				return r
			}()},
		{name: "unknown namespace: allowed unchanged", injector: &PodInjector{Reader: cached(), Credentials: creds},
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx"))},
		{name: "cache errors: allowed unchanged", injector: &PodInjector{Reader: failing, APIReader: failing, Credentials: creds},
			req: admissionRequest(t, admissionv1.Create, "app", pod("nginx"))},
		{name: "mirror Pod: allowed unchanged without reading anything", injector: &PodInjector{Reader: failing, APIReader: failing, Credentials: creds},
			req: admissionRequest(t, admissionv1.Create, "app", podWith(pod("nginx"), func(p *corev1.Pod) {
				p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
			}))},
		{name: "Pod opted out: allowed unchanged without reading anything", injector: &PodInjector{Reader: failing, APIReader: failing, Credentials: creds},
			req: admissionRequest(t, admissionv1.Create, "app", podWith(pod("nginx"), func(p *corev1.Pod) { p.Labels = map[string]string{credset.InjectLabel: "false"} }))},
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
		inj := injector(cached(app))
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
}

// TestForget: the RegistryCredential informer's delete handler removes the
// deleted credential's counter series, also when the informer only has a
// tombstone.
func TestForget(t *testing.T) {
	m := getMetrics()
	for _, name := range []string{"gone", "gone-tombstone"} {
		gone := rc(name, "docker.io")
		inj := &PodInjector{Reader: cached(namespace("app", nil)), APIReader: cached(), Credentials: credSet(t, gone)}
		inj.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "app", pod("nginx")))
		if mutatedCount(t, name) != 1 {
			t.Fatalf("counter of %s not set", name)
		}
	}
	gone, tomb := rc("gone", "docker.io"), rc("gone-tombstone", "docker.io")
	m.forget(&gone)
	m.forget(toolscache.DeletedFinalStateUnknown{Key: tomb.Name, Obj: &tomb})
	for _, name := range []string{"gone", "gone-tombstone"} {
		if v := mutatedCount(t, name); v != 0 {
			t.Errorf("counter of deleted credential %s still reports %v", name, v)
		}
	}
}
