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

package kubeclient

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/regcred/regcred-operator/internal/testenv"
)

// TestRESTMapperAgreesWithDiscovery: every kind the mapper answers itself
// gets the answer the API server's discovery gives (resource, kind and
// scope), and every other question goes to the dynamic mapper.
func TestRESTMapperAgreesWithDiscovery(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	httpClient, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := NewRESTMapper(env.Config, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	discovery, err := apiutil.NewDynamicRESTMapper(env.Config, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	same := func(gk schema.GroupKind, versions ...string) {
		t.Helper()
		got, gotErr := ours.RESTMapping(gk, versions...)
		want, wantErr := discovery.RESTMapping(gk, versions...)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%v %v: error %v, discovery's %v", gk, versions, gotErr, wantErr)
		}
		if wantErr != nil {
			return
		}
		if got.Resource != want.Resource || got.GroupVersionKind != want.GroupVersionKind || got.Scope.Name() != want.Scope.Name() {
			t.Fatalf("%v %v: %+v (scope %s), discovery says %+v (scope %s)", gk, versions, got, got.Scope.Name(), want, want.Scope.Name())
		}
	}
	for kind := range coreMappings {
		same(schema.GroupKind{Kind: kind}, "v1")
		same(schema.GroupKind{Kind: kind})
		ns, err := apiutil.IsGVKNamespaced(schema.GroupVersionKind{Version: "v1", Kind: kind}, ours)
		if err != nil || ns != (coreMappings[kind].scope.Name() == meta.RESTScopeNameNamespace) {
			t.Fatalf("IsGVKNamespaced(%s) = %v, %v", kind, ns, err)
		}
	}
	same(schema.GroupKind{Kind: "ConfigMap"}, "v1")
	same(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "v1")
	same(schema.GroupKind{Group: "registry.regcred.dev", Kind: "RegistryCredential"}, "v1alpha1")
	same(schema.GroupKind{Kind: "Secret"}, "v2") // no such version: discovery's error
	if _, err := ours.RESTMapping(schema.GroupKind{Group: "example.com", Kind: "Secret"}, "v1"); !meta.IsNoMatchError(err) {
		t.Fatalf("a Secret kind of another group must go to discovery (no match), got %v", err)
	}
	if !reflect.DeepEqual(coreMappings["Namespace"].scope, meta.RESTScopeRoot) {
		t.Fatal("Namespace must be cluster-scoped")
	}
}

// unreachableMapper fails every question: what coreMapper answers itself
// never reaches it.
type unreachableMapper struct{ meta.RESTMapper }

func (unreachableMapper) RESTMapping(gk schema.GroupKind, _ ...string) (*meta.RESTMapping, error) {
	return nil, &meta.NoKindMatchError{GroupKind: gk}
}

// TestCacheQuestionsAnsweredLocally: the questions controller-runtime's
// cache asks on every Get and List of our core kinds (is the object, or the
// list, namespaced?) are answered without the dynamic mapper, which
// allocates a fresh answer each time.
func TestCacheQuestionsAnsweredLocally(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	m := coreMapper{RESTMapper: unreachableMapper{}}
	for _, tc := range []struct {
		obj        runtime.Object
		namespaced bool
	}{
		{&corev1.Secret{}, true},
		{&corev1.SecretList{}, true},
		{&corev1.ServiceAccount{}, true},
		{&corev1.ServiceAccountList{}, true},
		{&corev1.Namespace{}, false},
		{&corev1.NamespaceList{}, false},
	} {
		got, err := apiutil.IsObjectNamespaced(tc.obj, scheme, m)
		if err != nil || got != tc.namespaced {
			t.Errorf("IsObjectNamespaced(%T) = %v, %v; want %v", tc.obj, got, err, tc.namespaced)
		}
	}
	if _, err := apiutil.IsObjectNamespaced(&corev1.ConfigMapList{}, scheme, m); err == nil {
		t.Error("a ConfigMapList must go to the dynamic mapper")
	}
}
