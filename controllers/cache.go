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
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions keeps the manager's memory independent of how many Secrets
// the cluster holds, and the cached objects true to what the API server
// returned:
//
//   - Secrets are cached only in the namespaces sources may live in, and
//     elsewhere only when they carry our managed-by label (the copies). A
//     copy is cached with a digest in place of its data (copyDigest).
//   - Namespaces are watched metadata-only (namespaceObject).
//   - Pods, when pulls are traced, only in phase Pending (a field selector:
//     the API server sends no other), as projectPod's projection: their
//     identity, and the images and waiting statuses of those waiting on a
//     failed pull. WatchPodsInEveryPhase drops the phase filter.
//   - managedFields are stripped from every cached object.
//   - A read of a type nobody watches fails instead of silently starting a
//     cluster-wide informer.
//
// Nothing else is removed. Equal metadata strings share their bytes
// (shareStrings); no map or slice is shared between cached objects.
//
// sourceNamespaces holding "*" allows sources anywhere; then every Secret of
// the cluster is cached (with data), which costs memory in proportion.
func CacheOptions(sourceNamespaces []string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue})
	secretNamespaces := map[string]cache.Config{}
	if AllowsAnyNamespace(sourceNamespaces) {
		secretNamespaces[cache.AllNamespaces] = cache.Config{LabelSelector: labels.Everything()}
	} else {
		secretNamespaces[cache.AllNamespaces] = cache.Config{LabelSelector: managed}
		for _, ns := range sourceNamespaces {
			secretNamespaces[ns] = cache.Config{LabelSelector: labels.Everything()}
		}
	}
	return cache.Options{
		ReaderFailOnMissingInformer: true,
		DefaultTransform:            stripAndShare,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {
				Namespaces: secretNamespaces,
				Transform:  digestCopies,
			},
			&corev1.Pod{}: {
				Field:     fields.OneTermEqualSelector("status.phase", string(corev1.PodPending)),
				Transform: projectPod,
			},
		},
	}
}

// WatchPodsInEveryPhase makes the cache of opts (from CacheOptions) watch
// Pods in every phase, so that a Running Pod whose restarted or ephemeral
// container waits on a failed pull is traced too; it costs a projected Pod
// (about 3.5 KiB of heap with Go's default GC) per Pod of the cluster.
func WatchPodsInEveryPhase(opts *cache.Options) {
	for obj, by := range opts.ByObject {
		if _, ok := obj.(*corev1.Pod); ok {
			by.Field = nil
			opts.ByObject[obj] = by
		}
	}
}

// namespaceObject is the metadata-only Namespace the cache holds (name,
// labels, deletionTimestamp: what selection reads).
func namespaceObject() *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}

// namespaceList is the metadata-only Namespace list.
func namespaceList() *metav1.PartialObjectMetadataList {
	l := &metav1.PartialObjectMetadataList{}
	l.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	return l
}

// copyDigest is the one thing the cache holds in place of what the API
// server returned: a copy's data (the credential bytes of every selected
// namespace) is replaced by the digest of its type and data, kept in the
// annotation annotationDataDigest, which is never written to the API server.
// Drift in the data is still seen (the digest changes), and the cache holds
// each credential's bytes only once, in its source.
type copyDigest string

// digestOf reads the digest a cached copy carries ("" for a Secret that is
// not a copy, or was not cached through digestCopies).
func digestOf(s *corev1.Secret) copyDigest {
	return copyDigest(s.Annotations[annotationDataDigest])
}

// digestCopies is the Secret cache's transform: managedFields are stripped
// from every Secret, and a copy (our managed-by label) has its data replaced
// by its copyDigest.
func digestCopies(obj any) (any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	_, _ = stripAndShare(s)
	if s.Labels[LabelManagedBy] != ManagedByValue {
		return s, nil
	}
	if _, done := s.Annotations[annotationDataDigest]; done && s.Data == nil {
		return s, nil // already transformed: transforms must be idempotent
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[annotationDataDigest] = string(digest(s.Type, s.Data))
	s.Data = nil
	s.StringData = nil
	return s, nil
}

// digest is a SHA-256 over a Secret's type and data, with length prefixes
// so that no two different contents collide by concatenation.
func digest(t corev1.SecretType, data map[string][]byte) copyDigest {
	h := sha256.New()
	var n [8]byte
	write := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	write([]byte(t))
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		write([]byte(k))
		write(data[k])
	}
	return copyDigest(hex.EncodeToString(h.Sum(nil)))
}

// stripAndShare is the transform of every cached type (for Secrets, within
// digestCopies): it strips managedFields and shares equal metadata strings
// (shareStrings).
func stripAndShare(obj any) (any, error) {
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if m, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			m.ManagedFields = nil
			shareStrings(m)
		}
	}
	if sa, ok := obj.(*corev1.ServiceAccount); ok {
		for i := range sa.ImagePullSecrets {
			sa.ImagePullSecrets[i].Name = share(sa.ImagePullSecrets[i].Name)
		}
	}
	return obj, nil
}

// shareStrings makes equal strings of cached metadata (names, namespaces,
// label and annotation keys and values, owner references, finalizers) share
// one backing array, through the standard library's unique package. Go
// strings are immutable, so nothing done to one object can show in another;
// every map and slice stays the object's own.
func shareStrings(m *metav1.ObjectMeta) {
	m.Name = share(m.Name)
	m.Namespace = share(m.Namespace)
	m.GenerateName = share(m.GenerateName)
	m.Labels = shareMap(m.Labels)
	m.Annotations = shareMap(m.Annotations)
	for i := range m.OwnerReferences {
		r := &m.OwnerReferences[i]
		r.APIVersion, r.Kind, r.Name, r.UID = share(r.APIVersion), share(r.Kind), share(r.Name), types.UID(share(string(r.UID)))
	}
	for i := range m.Finalizers {
		m.Finalizers[i] = share(m.Finalizers[i])
	}
}

func share(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

// shareMap returns a map of its own with shared keys and values.
func shareMap(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[share(k)] = share(v)
	}
	return out
}
