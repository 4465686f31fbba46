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
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/regcred/regcred-operator/internal/intern"
)

// CacheOptions keeps the manager's memory independent of how many Secrets
// the cluster holds: Secrets are cached only in the namespaces sources may
// live in, and elsewhere only when they carry our managed-by label (the
// copies). Copies are cached without their data: a hash of it stands in its
// place. managedFields are stripped from every cached object, and a read of
// a type nobody watches fails instead of silently starting a cluster-wide
// informer. Namespaces and ServiceAccounts, of which a cluster has
// thousands, are cached with only what the operator and the webhook read
// (see transformNamespace, transformServiceAccount).
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
	shared := intern.New(intern.DefaultLimit)
	return cache.Options{
		ReaderFailOnMissingInformer: true,
		DefaultTransform:            cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {
				Namespaces: secretNamespaces,
				Transform:  sharing(shared, transformSecret),
			},
			&corev1.Namespace{}:      {Transform: sharing(shared, transformNamespace)},
			&corev1.ServiceAccount{}: {Transform: sharing(shared, transformServiceAccount)},
		},
	}
}

// sharing runs a transform and then lets the object share equal values with
// the other cached objects (see internal/intern): the names, labels,
// annotations and ownerReferences of our copies, the names, record
// annotations and imagePullSecrets of ServiceAccounts, the labels of
// namespaces. At 10,000 namespaces this is about a third of the cache's
// memory. Source Secrets (few) are left as they are.
func sharing(t *intern.Table, transform func(any) (any, error)) func(any) (any, error) {
	return func(obj any) (any, error) {
		out, err := transform(obj)
		if err != nil {
			return out, err
		}
		switch o := out.(type) {
		case *corev1.Secret:
			if o.Labels[LabelManagedBy] != ManagedByValue {
				break
			}
			o.Name = t.String(o.Name)
			o.Labels = t.Map(o.Labels)
			o.Annotations = t.Map(o.Annotations)
			o.OwnerReferences = t.OwnerReferences(o.OwnerReferences)
		case *corev1.ServiceAccount:
			o.Name = t.String(o.Name)
			o.Annotations = t.Map(o.Annotations)
			o.ImagePullSecrets = t.LocalObjectReferences(o.ImagePullSecrets)
		case *corev1.Namespace:
			o.Labels = t.Map(o.Labels)
			o.Status.Phase = corev1.NamespacePhase(t.String(string(o.Status.Phase)))
		}
		return out, nil
	}
}

// transformSecret strips managedFields and, for our copies, replaces the data
// by a hash of it, so that edits to a copy's data are still seen.
func transformSecret(obj any) (any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	s.ManagedFields = nil
	if s.Labels[LabelManagedBy] == ManagedByValue {
		if _, done := s.Annotations[annotationObservedHash]; done && s.Data == nil {
			return s, nil // already transformed: transforms must be idempotent
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[annotationObservedHash] = contentHash(s.Type, s.Data)
		s.Data = nil
		s.StringData = nil
	}
	return s, nil
}

// transformNamespace keeps what selection reads: name, labels, lifecycle
// (deletion timestamp, phase) and creation time. The label
// kubernetes.io/metadata.name, which the API server sets to the name on
// every namespace, is dropped (selection answers it from the name, see
// internal/selection), so that namespaces with equal other labels share one
// map.
func transformNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	if v, ok := ns.Labels[corev1.LabelMetadataName]; ok && v == ns.Name {
		// a new map: the one given may already be shared (transforms can
		// run again on a cached object).
		ns.Labels = maps.Clone(ns.Labels)
		delete(ns.Labels, corev1.LabelMetadataName)
	}
	ns.ManagedFields = nil
	ns.UID = "" // nothing reads it
	ns.Annotations = nil
	ns.OwnerReferences = nil
	ns.Finalizers = nil
	ns.Spec = corev1.NamespaceSpec{}
	ns.Status.Conditions = nil
	return ns, nil
}

// transformServiceAccount keeps what ServiceAccount planning reads: name,
// namespace, resourceVersion, the imagePullSecrets and our record
// annotations (patches are computed against those; other annotations are
// never sent, so they stay as they are on the API server).
func transformServiceAccount(obj any) (any, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return obj, nil
	}
	sa.ManagedFields = nil
	sa.UID = "" // patches are guarded by the resourceVersion, which a recreated ServiceAccount never repeats
	sa.Labels = nil
	sa.OwnerReferences = nil
	sa.Secrets = nil
	for k := range sa.Annotations {
		if !strings.HasPrefix(k, recordPrefix) {
			delete(sa.Annotations, k)
		}
	}
	if len(sa.Annotations) == 0 {
		sa.Annotations = nil
	}
	return sa, nil
}

// contentHash is a SHA-256 over a Secret's type and data, with length
// prefixes so that no two different contents collide by concatenation.
func contentHash(t corev1.SecretType, data map[string][]byte) string {
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
	return hex.EncodeToString(h.Sum(nil))
}
