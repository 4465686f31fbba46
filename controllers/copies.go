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
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// copyState is what happened to the copy in one namespace.
type copyState int

const (
	copyInSync   copyState = iota // already up to date, or the source itself
	copyCreated                   // created by this pass
	copyUpdated                   // updated (or recreated) by this pass
	copyConflict                  // a Secret we did not create holds the name
	copyPending                   // ours, but the cache has not seen it yet
	copyFailed                    // an API error; see err
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
			OwnerReferences: []metav1.OwnerReference{controllerRef(rc)},
		},
		Type: src.Type,
		Data: src.Data,
	}
}

func controllerRef(rc *registryv1alpha1.RegistryCredential) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{
		APIVersion:         registryv1alpha1.GroupVersion.String(),
		Kind:               "RegistryCredential",
		Name:               rc.Name,
		UID:                rc.UID,
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}
}

func sourceKey(rc *registryv1alpha1.RegistryCredential) string {
	return rc.Spec.SecretRef.Namespace + "/" + rc.Spec.SecretRef.Name
}

// copyDrift says why the cached copy (data replaced by its hash, see
// transformSecret) differs from what we would write; "" when it does not.
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
	if ref := metav1.GetControllerOfNoCopy(cached); ref == nil || ref.UID != rc.UID {
		return "owner"
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

// mergedCopy is the full object written to repair an existing copy: what we
// want, plus the labels, annotations, owners and finalizers others added,
// minus GitOps tracking metadata.
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

// ensureCopy makes the copy in want.Namespace match want. cached is our copy
// as the cache sees it, or nil. It never touches a Secret that is not ours.
func (r *RegistryCredentialReconciler) ensureCopy(ctx context.Context, rc *registryv1alpha1.RegistryCredential, cached, want *corev1.Secret, wantHash string) (copyState, string, error) {
	key := copyKey(want)
	cachedRV := ""
	if cached != nil {
		cachedRV = cached.ResourceVersion
	}
	if r.expect.pending(key, cachedRV) {
		return copyPending, "", nil // our last write is not in the cache yet
	}
	if cached != nil {
		drift := copyDrift(cached, rc, want.Type, wantHash)
		if drift == "" {
			return copyInSync, "", nil
		}
		if owner := cached.Labels[LabelCredential]; owner != rc.Name {
			return copyConflict, fmt.Sprintf("Secret %s/%s belongs to RegistryCredential %q", want.Namespace, want.Name, owner), nil
		}
		if cached.Type != want.Type || (cached.Immutable != nil && *cached.Immutable) {
			// type and immutability cannot be changed in place: recreate.
			pre := metav1.Preconditions{UID: &cached.UID, ResourceVersion: &cached.ResourceVersion}
			if err := r.Delete(ctx, cached.DeepCopy(), client.Preconditions(pre)); err != nil && !apierrors.IsNotFound(err) {
				return copyFailed, "", fmt.Errorf("delete copy to change its type: %w", err)
			}
			if err := r.Create(ctx, want.DeepCopy(), client.FieldOwner(FieldOwner)); err != nil {
				return copyFailed, "", fmt.Errorf("recreate copy: %w", err)
			}
			r.expect.wrote(key, cached.ResourceVersion)
			return copyUpdated, drift, nil
		}
		if err := r.Update(ctx, mergedCopy(cached, want), client.FieldOwner(FieldOwner)); err != nil {
			return copyFailed, "", fmt.Errorf("update copy: %w", err)
		}
		r.expect.wrote(key, cached.ResourceVersion)
		return copyUpdated, drift, nil
	}

	ckey := conflictKey(rc.UID, want.Namespace)
	if _, known := r.conflicts.Load(ckey); !known {
		err := r.Create(ctx, want.DeepCopy(), client.FieldOwner(FieldOwner))
		if err == nil {
			r.expect.wrote(key, "")
			return copyCreated, "", nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return copyFailed, "", fmt.Errorf("create copy: %w", err)
		}
	}
	// Something holds the name. Look at it directly: the cache only holds
	// our copies, and this one may be ours but not cached yet.
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: want.Namespace, Name: want.Name}, meta)
	switch {
	case apierrors.IsNotFound(err):
		// the foreign Secret is gone: take the name.
		r.conflicts.Delete(ckey)
		if err := r.Create(ctx, want.DeepCopy(), client.FieldOwner(FieldOwner)); err != nil {
			return copyFailed, "", fmt.Errorf("create copy: %w", err)
		}
		r.expect.wrote(key, "")
		return copyCreated, "", nil
	case err != nil:
		return copyFailed, "", fmt.Errorf("read existing Secret: %w", err)
	}
	if meta.Labels[LabelManagedBy] == ManagedByValue && meta.Labels[LabelCredential] == rc.Name {
		r.conflicts.Delete(ckey)
		return copyPending, "", nil
	}
	r.conflicts.Store(ckey, struct{}{})
	if owner := meta.Labels[LabelCredential]; meta.Labels[LabelManagedBy] == ManagedByValue && owner != "" {
		return copyConflict, fmt.Sprintf("Secret %s/%s belongs to RegistryCredential %q", want.Namespace, want.Name, owner), nil
	}
	return copyConflict, fmt.Sprintf("Secret %s/%s exists and was not created by regcred-operator; it is left alone", want.Namespace, want.Name), nil
}

func conflictKey(uid types.UID, ns string) string { return string(uid) + "/" + ns }

func copyKey(s *corev1.Secret) string { return "secret/" + s.Namespace + "/" + s.Name }

// deleteCopy removes one of our copies, only if it is still the object we saw.
func (r *RegistryCredentialReconciler) deleteCopy(ctx context.Context, cached *corev1.Secret) error {
	r.expect.forget(copyKey(cached))
	pre := metav1.Preconditions{UID: &cached.UID}
	err := r.Delete(ctx, cached.DeepCopy(), client.Preconditions(pre))
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// orphanCopy detaches a copy from the RegistryCredential: no owner reference
// (so the garbage collector keeps it) and none of our labels (so the operator
// forgets it; it becomes an ordinary Secret).
func (r *RegistryCredentialReconciler) orphanCopy(ctx context.Context, cached *corev1.Secret, rc *registryv1alpha1.RegistryCredential) error {
	orig := cached.DeepCopy()
	delete(orig.Annotations, annotationObservedHash)
	upd := orig.DeepCopy()
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
	err := r.Patch(ctx, upd, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
