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
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// addedByPrefix starts the annotation that records, per RegistryCredential,
// which imagePullSecrets entry of a ServiceAccount the operator added:
// "pullsecret.registry.regcred.dev/<credential>: <secret name>". Only entries
// recorded there are ever removed, so entries others put there stay.
const addedByPrefix = "pullsecret.registry.regcred.dev/"

// AddedByAnnotation is the annotation key recording what the named
// RegistryCredential added to a ServiceAccount.
func AddedByAnnotation(credential string) string { return addedByPrefix + credential }

// addedByCredentials lists the RegistryCredentials that recorded an entry on
// the ServiceAccount (the field index behind serviceAccountIndex).
func addedByCredentials(sa *corev1.ServiceAccount) []string {
	var out []string
	for k := range sa.Annotations {
		if name, ok := strings.CutPrefix(k, addedByPrefix); ok && name != "" {
			out = append(out, name)
		}
	}
	return out
}

func hasPullSecret(sa *corev1.ServiceAccount, name string) bool {
	for _, ref := range sa.ImagePullSecrets {
		if ref.Name == name {
			return true
		}
	}
	return false
}

// planServiceAccount computes the ServiceAccount's imagePullSecrets and our
// record for credential after serving it (want: the ServiceAccount should
// list target) or withdrawing from it (!want). It returns nil when nothing
// needs to change. The input is not modified.
//
//   - want, target listed: nothing, unless we recorded an older name, which
//     we remove.
//   - want, target missing: append it (others' entries stay, in order) and
//     record it.
//   - !want: remove only the entry we recorded, then the record.
func planServiceAccount(sa *corev1.ServiceAccount, credential, target string, want bool) *corev1.ServiceAccount {
	key := AddedByAnnotation(credential)
	recorded, hasRecord := sa.Annotations[key]
	listed := hasPullSecret(sa, target)

	switch {
	case want && listed && (!hasRecord || recorded == target):
		return nil
	case !want && !hasRecord:
		return nil
	}

	out := sa.DeepCopy()
	if hasRecord && (!want || recorded != target) {
		out.ImagePullSecrets = removePullSecret(out.ImagePullSecrets, recorded)
		delete(out.Annotations, key)
	}
	if want && !hasPullSecret(out, target) {
		out.ImagePullSecrets = append(out.ImagePullSecrets, corev1.LocalObjectReference{Name: target})
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[key] = target
	}
	return out
}

func removePullSecret(refs []corev1.LocalObjectReference, name string) []corev1.LocalObjectReference {
	out := make([]corev1.LocalObjectReference, 0, len(refs))
	for _, ref := range refs {
		if ref.Name != name {
			out = append(out, ref)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// patchServiceAccount writes the change planned for a cached ServiceAccount.
// imagePullSecrets is an atomic list, so the whole list is sent, guarded by
// the resourceVersion we read: a concurrent edit makes the patch fail with a
// conflict and the reconcile is retried, instead of losing someone's entry.
func (r *RegistryCredentialReconciler) patchServiceAccount(ctx context.Context, cached, planned *corev1.ServiceAccount) error {
	body, err := serviceAccountPatch(cached, planned)
	if err != nil {
		return err
	}
	err = r.Patch(ctx, planned, client.RawPatch(types.MergePatchType, body), client.FieldOwner(FieldOwner))
	switch {
	case err == nil:
		r.expect.wrote(saKey(cached), cached.ResourceVersion)
	case apierrors.IsNotFound(err):
		return nil
	}
	return err
}

// serviceAccountPatch is the JSON merge patch from cached to planned, which
// differ only in imagePullSecrets and annotations (see planServiceAccount):
// the whole list, the annotations that changed (null: removed), and the
// resourceVersion as an optimistic lock. Written directly, it costs a
// fraction of diffing two serialised objects.
func serviceAccountPatch(cached, planned *corev1.ServiceAccount) ([]byte, error) {
	annotations := map[string]any{}
	for k, v := range planned.Annotations {
		if old, ok := cached.Annotations[k]; !ok || old != v {
			annotations[k] = v
		}
	}
	for k := range cached.Annotations {
		if _, ok := planned.Annotations[k]; !ok {
			annotations[k] = nil
		}
	}
	meta := map[string]any{"resourceVersion": cached.ResourceVersion}
	if len(annotations) > 0 {
		meta["annotations"] = annotations
	}
	var refs any // null removes the field
	if len(planned.ImagePullSecrets) > 0 {
		refs = planned.ImagePullSecrets
	}
	return json.Marshal(map[string]any{"metadata": meta, "imagePullSecrets": refs})
}

func saKey(sa *corev1.ServiceAccount) string { return "sa/" + sa.Namespace + "/" + sa.Name }
