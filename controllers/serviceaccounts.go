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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/credset"
	"github.com/regcred/regcred-operator/internal/selection"
)

// saIntent is what a RegistryCredential wants from one ServiceAccount.
type saIntent int

const (
	// saList: the ServiceAccount lists the copy, once, after others' entries.
	saList saIntent = iota
	// saWithdraw: the entry we recorded, and the record, are removed.
	saWithdraw
	// saRelease: the record is removed, the entry stays (deletionPolicy
	// Orphan: it is now the user's).
	saRelease
)

// intentFor is saList for the ServiceAccounts the credential patches,
// saWithdraw for the others.
func intentFor(rc *registryv1alpha1.RegistryCredential, saName string) saIntent {
	if selection.ServiceAccountSelected(&rc.Spec, saName) {
		return saList
	}
	return saWithdraw
}

// credentialRef is what ServiceAccount planning needs of a RegistryCredential.
type credentialRef struct {
	name   string
	uid    types.UID
	target string
}

// planServiceAccount returns the ServiceAccount as it should be for the
// intent, or nil when nothing needs to change. The input is not modified.
// Only an entry recorded with the RegistryCredential's own UID is ever
// removed; a record of another UID (a deleted namesake's, left by a crash) or
// without one is not ours and is left alone, except that adding our own entry
// replaces it under the same key.
//
//   - saList, target listed: nothing, unless we recorded an older name, which
//     we remove.
//   - saList, target missing: append it (others' entries stay, in order) and
//     record it.
//   - saWithdraw: remove only the entry we recorded, then the record.
//   - saRelease: remove only the record.
func planServiceAccount(sa *corev1.ServiceAccount, rc credentialRef, intent saIntent) *corev1.ServiceAccount {
	if serviceAccountSettled(sa, rc, intent) {
		return nil
	}
	key := RecordAnnotation(rc.name)
	recorded, uid, valid := parseRecord(sa.Annotations[key])
	ours := valid && uid == rc.uid

	out := sa.DeepCopy()
	if ours && (intent == saWithdraw || (intent == saList && recorded != rc.target)) {
		out.ImagePullSecrets = removePullSecret(out.ImagePullSecrets, recorded)
	}
	if ours {
		delete(out.Annotations, key)
	}
	if intent == saList && !credset.Lists(out.ImagePullSecrets, rc.target) {
		out.ImagePullSecrets = append(out.ImagePullSecrets, corev1.LocalObjectReference{Name: rc.target})
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[key] = FormatRecord(rc.target, rc.uid)
	}
	return out
}

// serviceAccountSettled reports whether the ServiceAccount needs no write
// for the intent: what planServiceAccount decides, without building the
// result (event handlers and the status summary ask it for every
// ServiceAccount).
func serviceAccountSettled(sa *corev1.ServiceAccount, rc credentialRef, intent saIntent) bool {
	recorded, uid, valid := parseRecord(sa.Annotations[RecordAnnotation(rc.name)])
	ours := valid && uid == rc.uid
	if intent != saList {
		return !ours
	}
	return credset.Lists(sa.ImagePullSecrets, rc.target) && (!ours || recorded == rc.target)
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
// conflict and the work item is retried, instead of losing someone's entry.
func (r *pairReconciler) patchServiceAccount(ctx context.Context, run *pairRun, cached, planned *corev1.ServiceAccount) error {
	body, err := serviceAccountPatch(cached, planned)
	if err != nil {
		return err
	}
	err = r.Client.Patch(ctx, planned, client.RawPatch(types.MergePatchType, body), client.FieldOwner(FieldOwner))
	r.metrics.wrote(kindServiceAccount, verbPatch, err)
	if err == nil {
		run.record(written{kind: writtenServiceAccount, key: client.ObjectKeyFromObject(planned), rv: planned.ResourceVersion})
	}
	return err
}

// serviceAccountPatch is the JSON merge patch from cached to planned, which
// differ only in imagePullSecrets and annotations (see planServiceAccount):
// the whole list, the annotations that changed (null: removed), and the
// resourceVersion as an optimistic lock. It is written directly rather than
// with client.MergeFromWithOptimisticLock, which serialises and diffs both
// whole objects on every patch; a unit test checks that both give the same
// result.
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
