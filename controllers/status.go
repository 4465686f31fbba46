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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// computeStatus is the status a pass of sync leads to. Counts are kept from
// the previous status when the pass could not look at the namespaces (bad
// source or spec): the copies out there are unchanged.
func computeStatus(rc *registryv1alpha1.RegistryCredential, res *result) registryv1alpha1.RegistryCredentialStatus {
	st := *rc.Status.DeepCopy()
	st.ObservedGeneration = rc.Generation
	st.Source = sourceKey(rc)
	if res.countsValid {
		st.SelectedNamespaces = int32(res.selected)
		st.SyncedNamespaces = int32(res.synced)
		st.PatchedServiceAccounts = int32(res.patchedSAs)
		st.FailedNamespaces = int32(len(res.failures))
		st.Failures = nil
		for i, f := range res.failures {
			if i == registryv1alpha1.MaxFailures {
				break
			}
			st.Failures = append(st.Failures, f)
		}
	}
	st.Namespaces = fmt.Sprintf("%d/%d", st.SyncedNamespaces, st.SelectedNamespaces)

	cond := metav1.Condition{
		Type:               registryv1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             registryv1alpha1.ReasonSynced,
		Message:            fmt.Sprintf("%d/%d selected namespaces synced", st.SyncedNamespaces, st.SelectedNamespaces),
		ObservedGeneration: rc.Generation,
	}
	if res.reason != "" {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, res.reason, truncate(res.message, 32*1024)
	} else if st.SyncedNamespaces < st.SelectedNamespaces {
		// copies or ServiceAccounts the cache has not caught up with yet.
		cond.Status, cond.Reason = metav1.ConditionFalse, registryv1alpha1.ReasonProgressing
	}
	apimeta.SetStatusCondition(&st.Conditions, cond)
	return st
}

// writeStatus writes the status once, and only when it changed; it records
// an Event when something was written or the Ready condition changed.
//
// The cache may still hold the object as it was before our last status
// write; then the status we wrote stands in for the cached one, so the same
// status is not written twice nor the same Event recorded twice.
func (r *RegistryCredentialReconciler) writeStatus(ctx context.Context, rc *registryv1alpha1.RegistryCredential, res *result) error {
	if last, ok := r.written.Load(rc.UID); ok {
		if w := last.(writtenStatus); w.before == rc.ResourceVersion {
			rc.Status = *w.status.DeepCopy()
		}
	}
	oldReady := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionReady)
	var oldCopy *metav1.Condition
	if oldReady != nil {
		c := *oldReady
		oldCopy = &c
	}
	st := computeStatus(rc, res)
	newReady := apimeta.FindStatusCondition(st.Conditions, registryv1alpha1.ConditionReady)
	r.metrics.observe(rc.Name, &st)

	// The message carries counts; a new namespace changes it but is not news.
	readyChanged := oldCopy == nil || oldCopy.Status != newReady.Status || oldCopy.Reason != newReady.Reason
	if res.changed() || readyChanged {
		r.recordEvent(rc, res, newReady)
	}
	if equality.Semantic.DeepEqual(rc.Status, st) {
		return nil
	}
	orig := rc.DeepCopy()
	rc.Status = st
	if err := r.Status().Patch(ctx, rc, client.MergeFrom(orig), client.FieldOwner(FieldOwner)); err != nil {
		return err
	}
	r.written.Store(rc.UID, writtenStatus{before: orig.ResourceVersion, status: st})
	return nil
}

// writtenStatus is the last status written for a RegistryCredential and the
// resourceVersion the object had before that write.
type writtenStatus struct {
	before string
	status registryv1alpha1.RegistryCredentialStatus
}

func (r *RegistryCredentialReconciler) recordEvent(rc *registryv1alpha1.RegistryCredential, res *result, ready *metav1.Condition) {
	if ready.Status != metav1.ConditionTrue && ready.Reason != registryv1alpha1.ReasonProgressing {
		r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, ready.Reason, "Sync", "%s", ready.Message)
		return
	}
	r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, registryv1alpha1.ReasonSynced, "Sync",
		"%s: created %d, updated %d, deleted %d copies; %d ServiceAccount writes",
		ready.Message, res.created, res.updated, res.deleted, res.saWrites)
}
