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
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

// decoded returns obj as an informer gets it: decoded from the wire, so
// that no string or map is shared with obj or with another decode.
func decoded[T runtime.Object](t *testing.T, obj T) T {
	t.Helper()
	s := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	b, err := runtime.Encode(s, obj)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := s.Decode(b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out.(T)
}

func sameBytes(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

// TestSharedStringsCannotLeakAMutation: the cache transform shares equal
// strings between cached objects, and nothing else. Changing one cached
// object (its maps, slices or fields, as a careless reader of the cache
// would) leaves every other one as the API server returned it.
func TestSharedStringsCannotLeakAMutation(t *testing.T) {
	sa := func() *corev1.ServiceAccount {
		return &corev1.ServiceAccount{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{
				Name: "default", Namespace: "team-a",
				Labels:          map[string]string{"app.kubernetes.io/part-of": "shop"},
				Annotations:     map[string]string{"example.com/owner": "platform"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Namespace", Name: "team-a", UID: "6d1c"}},
				Finalizers:      []string{"example.com/keep"},
				ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
		}
	}
	want := sa()
	want.ManagedFields = nil
	a, b := decoded(t, sa()), decoded(t, sa())
	if sameBytes(a.Labels["app.kubernetes.io/part-of"], b.Labels["app.kubernetes.io/part-of"]) {
		t.Fatal("two decodes already share a string; the test would prove nothing")
	}
	for _, o := range []*corev1.ServiceAccount{a, b} {
		if _, err := stripAndShare(o); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ what, x, y string }{
		{"name", a.Name, b.Name},
		{"namespace", a.Namespace, b.Namespace},
		{"label value", a.Labels["app.kubernetes.io/part-of"], b.Labels["app.kubernetes.io/part-of"]},
		{"annotation value", a.Annotations["example.com/owner"], b.Annotations["example.com/owner"]},
		{"owner UID", string(a.OwnerReferences[0].UID), string(b.OwnerReferences[0].UID)},
		{"finalizer", a.Finalizers[0], b.Finalizers[0]},
		{"imagePullSecret", a.ImagePullSecrets[0].Name, b.ImagePullSecrets[0].Name},
	} {
		if !sameBytes(c.x, c.y) {
			t.Errorf("%s is not shared", c.what)
		}
	}
	if !equality.Semantic.DeepEqual(a, want) || !equality.Semantic.DeepEqual(b, want) {
		t.Fatalf("the transform changed more than managedFields:\n got %+v\nwant %+v", a, want)
	}

	a.Name = "changed"
	a.Labels["app.kubernetes.io/part-of"] = "changed"
	a.Labels["added"] = "x"
	delete(a.Annotations, "example.com/owner")
	a.OwnerReferences[0].UID = "changed"
	a.Finalizers[0] = "changed"
	a.ImagePullSecrets[0].Name = "changed"
	a.ImagePullSecrets = append(a.ImagePullSecrets, corev1.LocalObjectReference{Name: "more"})
	if !equality.Semantic.DeepEqual(b, want) {
		t.Fatalf("a change to one cached object showed in another:\n got %+v\nwant %+v", b, want)
	}
}

// TestSharedStringsOnSecretsAndNamespaces: copies (through digestCopies)
// and metadata-only Namespaces share their strings too, and keep their own
// maps.
func TestSharedStringsOnSecretsAndNamespaces(t *testing.T) {
	copyOf := func() *corev1.Secret {
		return &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "team-a", Labels: map[string]string{LabelManagedBy: ManagedByValue}},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)},
		}
	}
	x, y := decoded(t, copyOf()), decoded(t, copyOf())
	for _, s := range []*corev1.Secret{x, y} {
		if _, err := digestCopies(s); err != nil {
			t.Fatal(err)
		}
	}
	if !sameBytes(x.Labels[LabelManagedBy], y.Labels[LabelManagedBy]) || !sameBytes(x.Name, y.Name) {
		t.Error("copies do not share their strings")
	}
	x.Annotations[annotationDataDigest] = "changed"
	if digestOf(y) != digest(corev1.SecretTypeDockerConfigJson, copyOf().Data) {
		t.Error("a change to one copy's annotations showed in another")
	}

	ns := func(name string) *metav1.PartialObjectMetadata {
		n := namespaceObject()
		n.Name = name
		n.Labels = map[string]string{corev1.LabelMetadataName: name, "env": "prod"}
		return n
	}
	p, q := ns("team-a"), ns("team-b")
	p.Labels = map[string]string{corev1.LabelMetadataName: string([]byte("team-a")), "env": string([]byte("prod"))}
	for _, o := range []*metav1.PartialObjectMetadata{p, q} {
		if _, err := stripAndShare(o); err != nil {
			t.Fatal(err)
		}
	}
	if !sameBytes(p.Labels["env"], q.Labels["env"]) {
		t.Error("namespace label values are not shared")
	}
	if !sameBytes(p.Name, p.Labels[corev1.LabelMetadataName]) {
		t.Error("a namespace's name and its metadata.name label do not share one string")
	}
	p.Labels["env"] = "dev"
	if q.Labels["env"] != "prod" || q.Labels[corev1.LabelMetadataName] != "team-b" {
		t.Errorf("a change to one namespace's labels showed in another: %v", q.Labels)
	}
}
