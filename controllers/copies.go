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
	"time"

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

// copyDrift says why our copy differs from what we would write; "" when
// it does not. have is the digest of the copy's data (digestOf for a cached
// copy). The caller has checked that rc controls it.
func copyDrift(s *corev1.Secret, have copyDigest, rc *registryv1alpha1.RegistryCredential, srcType corev1.SecretType, want copyDigest) string {
	switch {
	case s.Type != srcType:
		return "type"
	case s.Immutable != nil && *s.Immutable:
		return "immutable"
	case have != want:
		return "data"
	case s.Annotations[AnnotationSource] != sourceKey(rc):
		return "source annotation"
	case s.Labels[LabelManagedBy] != ManagedByValue || s.Labels[LabelCredential] != rc.Name:
		return "labels"
	}
	for k := range s.Labels {
		if isTrackingKey(k, trackingLabels) {
			return "tracking label"
		}
	}
	for k := range s.Annotations {
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
		if _, ours := out.Annotations[k]; !ours && k != annotationDataDigest && !isTrackingKey(k, trackingAnnotations) {
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
	delete(orig.Annotations, annotationDataDigest)
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
	copyInSync   copyState = iota // up to date
	copyWritten                   // created, updated or recreated
	copyConflict                  // a Secret we do not own holds the name
	copyFailed                    // an API error, or a copy we cannot write now (being deleted): retried with back-off
)

// ensureCopy makes the copy in the pair's namespace match the source. It
// only ever writes a Secret that rc controls (by UID), with the
// resourceVersion it read, and records its writes in run.
func (r *pairReconciler) ensureCopy(ctx context.Context, run *pairRun, rc *registryv1alpha1.RegistryCredential, src *source) (copyState, string, error) {
	ns, target := run.key.Namespace, rc.TargetName()
	cached := &corev1.Secret{}
	// read only; the cache holds our copies (label-selected), without data.
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: target}, cached, client.UnsafeDisableDeepCopy)
	switch {
	case err == nil && owns(rc, cached):
		return r.repairCopy(ctx, run, rc, src, cached, digestOf(cached))
	case err == nil:
		return copyConflict, foreignMessage(rc, ns, cached), nil
	case !apierrors.IsNotFound(err):
		return copyFailed, "", err
	}

	// Not cached: nothing holds the name, or a Secret the cache does not hold
	// (not labelled as ours: a foreign one, or ours with its labels changed).
	// Where a foreign Secret held the name last time, look before writing, so
	// a lasting conflict costs a read, not a failed create.
	if f, ok := r.failures.get(run.key, rc.UID); ok && f.Reason == registryv1alpha1.ReasonConflict {
		return r.takeName(ctx, run, rc, src)
	}
	want := desiredCopy(rc, src.secret, ns)
	err = r.Client.Create(ctx, want, client.FieldOwner(FieldOwner))
	r.metrics.wrote(kindSecret, verbCreate, err)
	switch {
	case err == nil:
		run.record(written{kind: writtenSecret, key: client.ObjectKeyFromObject(want), rv: want.ResourceVersion, created: time.Now()})
		return copyWritten, "created", nil
	case apierrors.IsAlreadyExists(err):
		return r.takeName(ctx, run, rc, src)
	}
	return copyFailed, "", fmt.Errorf("create copy: %w", err)
}

// takeName handles a copy's name that the cache does not show held: it
// reads the Secret holding it from the API server. None: create the copy.
// Ours (the cache does not show it because someone changed its labels):
// repair it like a cached one, which puts our labels back. Another's: a
// conflict.
func (r *pairReconciler) takeName(ctx context.Context, run *pairRun, rc *registryv1alpha1.RegistryCredential, src *source) (copyState, string, error) {
	ns, target := run.key.Namespace, rc.TargetName()
	live := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: target}, live)
	switch {
	case apierrors.IsNotFound(err):
		want := desiredCopy(rc, src.secret, ns)
		err := r.Client.Create(ctx, want, client.FieldOwner(FieldOwner))
		r.metrics.wrote(kindSecret, verbCreate, err)
		if err != nil {
			return copyFailed, "", fmt.Errorf("create copy: %w", err)
		}
		run.record(written{kind: writtenSecret, key: client.ObjectKeyFromObject(want), rv: want.ResourceVersion, created: time.Now()})
		return copyWritten, "created", nil
	case err != nil:
		return copyFailed, "", fmt.Errorf("read the Secret holding the name: %w", err)
	case !owns(rc, live):
		return copyConflict, foreignMessage(rc, ns, live), nil
	}
	return r.repairCopy(ctx, run, rc, src, live, digest(live.Type, live.Data))
}

// repairCopy brings one of our copies (have: the digest of its data) in
// line with the source.
func (r *pairReconciler) repairCopy(ctx context.Context, run *pairRun, rc *registryv1alpha1.RegistryCredential, src *source, s *corev1.Secret, have copyDigest) (copyState, string, error) {
	if s.DeletionTimestamp != nil {
		// kept by someone's finalizer: nothing can be written until it goes
		// (its deletion queues this pair again); back off meanwhile.
		return copyFailed, "", fmt.Errorf("copy %s/%s is being deleted and held by finalizers %v; it is written again once it is gone", s.Namespace, s.Name, s.Finalizers)
	}
	drift := copyDrift(s, have, rc, src.secret.Type, src.digest)
	if drift == "" {
		return copyInSync, "", nil
	}
	want := desiredCopy(rc, src.secret, s.Namespace)
	if needsRecreate(s, src.secret.Type) {
		// type and immutability cannot change in place: delete what we
		// read, then create.
		if err := r.deleteCopy(ctx, run, s); err != nil {
			return copyFailed, "", fmt.Errorf("delete copy to change its type: %w", err)
		}
		err := r.Client.Create(ctx, want, client.FieldOwner(FieldOwner))
		r.metrics.wrote(kindSecret, verbCreate, err)
		if err != nil {
			return copyFailed, "", fmt.Errorf("recreate copy: %w", err)
		}
		run.record(written{kind: writtenSecret, key: client.ObjectKeyFromObject(want), rv: want.ResourceVersion, created: time.Now()})
		return copyWritten, drift, nil
	}
	upd := mergedCopy(s, want)
	err := r.Client.Update(ctx, upd, client.FieldOwner(FieldOwner))
	r.metrics.wrote(kindSecret, verbUpdate, err)
	if err != nil {
		return copyFailed, "", fmt.Errorf("update copy: %w", err)
	}
	run.record(written{kind: writtenSecret, key: client.ObjectKeyFromObject(upd), rv: upd.ResourceVersion})
	return copyWritten, drift, nil
}

// foreignMessage says why the Secret holding the copy's name is left alone.
func foreignMessage(rc *registryv1alpha1.RegistryCredential, ns string, s metav1.Object) string {
	if s.GetLabels()[LabelManagedBy] == ManagedByValue {
		return fmt.Sprintf("Secret %s/%s carries regcred-operator's labels but is not controlled by this RegistryCredential (its ownerReference is not UID %s); it is left alone", ns, s.GetName(), rc.UID)
	}
	return fmt.Sprintf("Secret %s/%s exists and was not created by this RegistryCredential; it is left alone", ns, s.GetName())
}

// deleteCopy deletes one of our copies, only if it is still the object we
// read (UID and resourceVersion as preconditions), unless it is being
// deleted already.
func (r *pairReconciler) deleteCopy(ctx context.Context, run *pairRun, s *corev1.Secret) error {
	if s.DeletionTimestamp != nil {
		return nil // being deleted already (someone's finalizer holds it)
	}
	pre := metav1.Preconditions{UID: &s.UID, ResourceVersion: &s.ResourceVersion}
	err := r.Client.Delete(ctx, s.DeepCopy(), client.Preconditions(pre))
	r.metrics.wrote(kindSecret, verbDelete, err)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		run.record(written{kind: writtenSecret, key: client.ObjectKeyFromObject(s), deleted: s.UID})
	}
	return err
}
