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
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// desiredCopy is the copy of src for namespace ns.
func desiredCopy(rc *registryv1alpha1.RegistryCredential, src *corev1.Secret, ns string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      rc.TargetName(),
			Namespace: ns,
			Labels: map[string]string{
				LabelManagedBy:  ManagedByValue,
				LabelCredential: rc.Name,
			},
			Annotations: map[string]string{
				AnnotationSource: sourceKey(rc),
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         registryv1alpha1.GroupVersion.String(),
				Kind:               "RegistryCredential",
				Name:               rc.Name,
				UID:                rc.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Type: src.Type,
		Data: src.Data,
	}
}

// copyDrift says why our cached copy (data replaced by its hash, see
// transformSecret) differs from what we would write; "" when it does not.
// The caller has checked that rc controls it.
func copyDrift(cached *corev1.Secret, rc *registryv1alpha1.RegistryCredential, srcType corev1.SecretType, wantHash string) string {
	switch {
	case cached.Type != srcType:
		return "type"
	case cached.Immutable != nil && *cached.Immutable:
		return "immutable"
	case cached.Annotations[annotationObservedHash] != wantHash:
		return "data"
	case cached.Annotations[AnnotationSource] != sourceKey(rc):
		return "source annotation"
	case cached.Labels[LabelManagedBy] != ManagedByValue || cached.Labels[LabelCredential] != rc.Name:
		return "labels"
	}
	for k := range cached.Labels {
		if isTrackingKey(k, trackingLabels) {
			return "tracking label"
		}
	}
	for k := range cached.Annotations {
		if isTrackingKey(k, trackingAnnotations) {
			return "tracking annotation"
		}
	}
	return ""
}

// needsRecreate reports whether a drifted copy cannot be updated in place
// (type and immutability cannot be changed).
func needsRecreate(cached *corev1.Secret, srcType corev1.SecretType) bool {
	return cached.Type != srcType || (cached.Immutable != nil && *cached.Immutable)
}

// mergedCopy is the full object written to repair one of our copies: what we
// want, plus the labels, annotations, owners and finalizers others added,
// minus GitOps tracking metadata, at the resourceVersion we read (an
// optimistic lock).
func mergedCopy(cached, want *corev1.Secret) *corev1.Secret {
	out := want.DeepCopy()
	out.ResourceVersion = cached.ResourceVersion
	out.UID = cached.UID
	out.Finalizers = cached.Finalizers
	for k, v := range cached.Labels {
		if _, ours := out.Labels[k]; !ours && !isTrackingKey(k, trackingLabels) {
			out.Labels[k] = v
		}
	}
	for k, v := range cached.Annotations {
		if _, ours := out.Annotations[k]; !ours && k != annotationObservedHash && !isTrackingKey(k, trackingAnnotations) {
			out.Annotations[k] = v
		}
	}
	for _, ref := range cached.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			out.OwnerReferences = append(out.OwnerReferences, ref)
		}
	}
	return out
}

// orphaned is our copy detached from its RegistryCredential: without our
// ownerReference (so the garbage collector keeps it) and our labels (so it
// is an ordinary Secret from now on). orig is the cached copy without the
// cache-only hash annotation, the base of the patch.
func orphaned(cached *corev1.Secret, rc *registryv1alpha1.RegistryCredential) (orig, upd *corev1.Secret) {
	orig = cached.DeepCopy()
	delete(orig.Annotations, annotationObservedHash)
	upd = orig.DeepCopy()
	upd.Labels = maps.Clone(upd.Labels)
	delete(upd.Labels, LabelManagedBy)
	delete(upd.Labels, LabelCredential)
	var refs []metav1.OwnerReference
	for _, ref := range upd.OwnerReferences {
		if ref.UID != rc.UID {
			refs = append(refs, ref)
		}
	}
	upd.OwnerReferences = refs
	return orig, upd
}
