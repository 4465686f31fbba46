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
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
		// a map of our own: a write decodes the response into the object,
		// and src is the cache's.
		Data: maps.Clone(src.Data),
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

// copyState is what ensureCopy found or did.
type copyState int

const (
	copyInSync   copyState = iota // up to date (or ours, and the cache is behind our write)
	copyWritten                   // created, updated or recreated
	copyConflict                  // a Secret we do not own holds the name
	copyRetry                     // the object changed since the cache saw it: run again soon
	copyFailed                    // an API error
)

// ensureCopy makes the copy in ns match the source. It only ever writes a
// Secret that rc controls (by UID), with the resourceVersion it read.
func (o *Operator) ensureCopy(ctx context.Context, rc *registryv1alpha1.RegistryCredential, src *source, ns string) (copyState, string, error) {
	target := rc.TargetName()
	want := desiredCopy(rc, src.secret, ns)
	cached := &corev1.Secret{}
	// read only; the cache holds our copies (label-selected), without data.
	err := o.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: target}, cached, client.UnsafeDisableDeepCopy)
	switch {
	case err == nil && owns(rc, cached):
		drift := copyDrift(cached, rc, src.secret.Type, src.hash)
		if drift == "" {
			return copyInSync, "", nil
		}
		if needsRecreate(cached, src.secret.Type) {
			// type and immutability cannot change in place: delete what we
			// read, then create.
			if err := o.deleteCopy(ctx, cached); err != nil {
				return writeState(err), "", fmt.Errorf("delete copy to change its type: %w", err)
			}
			err := o.Client.Create(ctx, want, client.FieldOwner(FieldOwner))
			o.metrics.wrote(kindSecret, verbCreate, err)
			if err != nil {
				return writeState(err), "", fmt.Errorf("recreate copy: %w", err)
			}
			return copyWritten, drift, nil
		}
		err := o.Client.Update(ctx, mergedCopy(cached, want), client.FieldOwner(FieldOwner))
		o.metrics.wrote(kindSecret, verbUpdate, err)
		if err != nil {
			return writeState(err), "", fmt.Errorf("update copy: %w", err)
		}
		return copyWritten, drift, nil
	case err == nil:
		return copyConflict, foreignMessage(rc, ns, cached), nil
	case !apierrors.IsNotFound(err):
		return copyFailed, "", err
	}

	// Not cached: nothing holds the name, or a Secret the cache does not hold
	// (not labelled as ours), or our own create the cache has not seen yet.
	// Where a foreign Secret held the name last time, look before writing, so
	// a lasting conflict costs a read, not a failed create.
	if f, ok := o.failures.get(rc.UID, ns); !ok || f.Reason != registryv1alpha1.ReasonConflict {
		return o.createCopy(ctx, rc, want)
	}
	holder, err := o.nameHolder(ctx, ns, target)
	switch {
	case err != nil:
		return copyFailed, "", err
	case holder == nil:
		return o.createCopy(ctx, rc, want)
	case owns(rc, holder):
		return copyInSync, "", nil // ours; the cache will show it
	}
	return copyConflict, foreignMessage(rc, ns, holder), nil
}

// createCopy creates the copy; when something already holds the name it
// says whose it is.
func (o *Operator) createCopy(ctx context.Context, rc *registryv1alpha1.RegistryCredential, want *corev1.Secret) (copyState, string, error) {
	err := o.Client.Create(ctx, want, client.FieldOwner(FieldOwner))
	o.metrics.wrote(kindSecret, verbCreate, err)
	switch {
	case err == nil:
		return copyWritten, "created", nil
	case !apierrors.IsAlreadyExists(err):
		return copyFailed, "", fmt.Errorf("create copy: %w", err)
	}
	holder, err := o.nameHolder(ctx, want.Namespace, want.Name)
	switch {
	case err != nil:
		return copyFailed, "", err
	case holder == nil:
		return copyRetry, "", nil // gone meanwhile: take the name on the next run
	case owns(rc, holder):
		return copyInSync, "", nil // ours; the cache will show it
	}
	return copyConflict, foreignMessage(rc, want.Namespace, holder), nil
}

// nameHolder reads the metadata of the Secret holding a name from the API
// server (it may be one the cache does not hold); nil when there is none.
func (o *Operator) nameHolder(ctx context.Context, ns, name string) (*metav1.PartialObjectMetadata, error) {
	live := &metav1.PartialObjectMetadata{}
	live.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := o.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, live)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the Secret holding the name: %w", err)
	}
	return live, nil
}

// writeState is the copyState of a failed write: a stale read is retried
// soon, anything else is an error.
func writeState(err error) copyState {
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) {
		return copyRetry
	}
	return copyFailed
}

// foreignMessage says why the Secret holding the copy's name is left alone.
func foreignMessage(rc *registryv1alpha1.RegistryCredential, ns string, s metav1.Object) string {
	if s.GetLabels()[LabelManagedBy] == ManagedByValue {
		return fmt.Sprintf("Secret %s/%s carries regcred-operator's labels but is not controlled by this RegistryCredential (its ownerReference is not UID %s); it is left alone", ns, s.GetName(), rc.UID)
	}
	return fmt.Sprintf("Secret %s/%s exists and was not created by this RegistryCredential; it is left alone", ns, s.GetName())
}

// deleteCopy deletes one of our copies, only if it is still the object we
// read (UID and resourceVersion as preconditions).
func (o *Operator) deleteCopy(ctx context.Context, cached *corev1.Secret) error {
	pre := metav1.Preconditions{UID: &cached.UID, ResourceVersion: &cached.ResourceVersion}
	err := o.Client.Delete(ctx, cached.DeepCopy(), client.Preconditions(pre))
	o.metrics.wrote(kindSecret, verbDelete, err)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
