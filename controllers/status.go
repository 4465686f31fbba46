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
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/selection"
)

// maxEventNote is the longest note events.k8s.io/v1 accepts (1 KiB); a
// longer one is rejected and the Event lost.
const maxEventNote = 1024

// maxConditionMessage is the longest condition message the API accepts.
const maxConditionMessage = 32 * 1024

// summary is what the cache shows of a RegistryCredential's namespaces,
// together with the pair controller's failure book.
type summary struct {
	// problem, when set, is why nothing could be served; the counts are then
	// not known.
	problem                      problem
	selected, synced, patchedSAs int
	failures                     []registryv1alpha1.NamespaceFailure
	conflicts                    int
	// inFlight counts the selected namespaces neither synced nor failed:
	// work queued or written that the cache does not show yet.
	inFlight int
	// check is the credential check's outcome, when the check controller
	// has one (checked); checksOff says the operator runs without checks.
	check     checkOutcome
	checked   bool
	checksOff bool
	// pulls is status.pullFailures (nil: the operator does not trace pulls).
	pulls *registryv1alpha1.PullFailures
}

// summarize counts the selected namespaces, those in sync (an up to date
// copy we control, every selected ServiceAccount listing it), and the
// ServiceAccounts listing the copy. What the cache shows settles a
// namespace: a failure the pair controller recorded counts only for a
// namespace the cache does not show in sync (one whose item has not run
// again since, as in a back-off after an outage, is over).
func (r *credentialReconciler) summarize(ctx context.Context, rc *registryv1alpha1.RegistryCredential) (summary, error) {
	c := r.mapper.Credentials.Compile(rc)
	if c.Err != nil {
		return summary{problem: problem{registryv1alpha1.ReasonInvalidSpec, c.Err.Error()}}, nil
	}
	src, prob, fresh, err := r.sources.load(ctx, rc)
	if err != nil {
		return summary{}, err
	}
	if prob.reason != "" {
		return summary{problem: prob}, nil
	}
	if fresh {
		r.metrics.sourceSeen(rc, src.digest) // regcred_propagation_seconds: a new content starts a rollout
	}

	nss := namespaceList()
	if err := r.Client.List(ctx, nss, client.UnsafeDisableDeepCopy); err != nil {
		return summary{}, err
	}
	copies, err := r.mapper.copiesOf(ctx, rc.UID)
	if err != nil {
		return summary{}, err
	}
	target := rc.TargetName()
	copyIn := make(map[string]*corev1.Secret, len(copies))
	for i := range copies {
		if s := &copies[i]; s.Name == target {
			copyIn[s.Namespace] = s
		}
	}
	failed := r.failures.failuresOf(rc.Name, rc.UID)
	ref := credentialRef{name: rc.Name, uid: rc.UID, target: target}
	var sum summary
	for i := range nss.Items {
		ns := &nss.Items[i]
		if selection.Terminating(ns) || !c.Serves(ns.Name, ns.Labels) {
			continue
		}
		sum.selected++
		sas := &corev1.ServiceAccountList{}
		if err := r.Client.List(ctx, sas, client.InNamespace(ns.Name), client.UnsafeDisableDeepCopy); err != nil {
			return summary{}, err
		}
		inSync := true
		for j := range sas.Items {
			sa := &sas.Items[j]
			intent := intentFor(rc, sa.Name)
			if !serviceAccountSettled(sa, ref, intent) {
				inSync = false
			} else if intent == saList {
				sum.patchedSAs++
			}
		}
		if !isSourceItself(rc, ns.Name) {
			cp := copyIn[ns.Name]
			inSync = inSync && cp != nil && cp.DeletionTimestamp == nil && copyDrift(cp, digestOf(cp), rc, src.secret.Type, src.digest) == ""
		}
		f, hasFailure := failed[ns.Name]
		switch {
		case inSync:
			sum.synced++
		case hasFailure:
			sum.failures = append(sum.failures, f)
			if f.Reason == registryv1alpha1.ReasonConflict {
				sum.conflicts++
			}
		default:
			sum.inFlight++
		}
	}
	slices.SortFunc(sum.failures, func(a, b registryv1alpha1.NamespaceFailure) int { return strings.Compare(a.Namespace, b.Namespace) })
	if sum.synced == sum.selected {
		r.metrics.propagated(rc, src.digest) // regcred_propagation_seconds: every selected namespace carries src.digest
	}
	return sum, nil
}

// computeStatus is the status a summary leads to. Counts are kept from the
// previous status when the namespaces could not be looked at (a problem with
// the source or spec): the copies out there are unchanged.
func computeStatus(rc *registryv1alpha1.RegistryCredential, sum summary) registryv1alpha1.RegistryCredentialStatus {
	st := *rc.Status.DeepCopy()
	st.ObservedGeneration = rc.Generation
	st.Source = sourceKey(rc)
	st.TargetSecretName = rc.TargetName()
	if sum.problem.reason == "" {
		st.SelectedNamespaces = int32(sum.selected)
		st.SyncedNamespaces = int32(sum.synced)
		st.PatchedServiceAccounts = int32(sum.patchedSAs)
		st.FailedNamespaces = int32(len(sum.failures))
		st.Failures = nil
		for i, f := range sum.failures {
			if i == registryv1alpha1.MaxFailures {
				break
			}
			st.Failures = append(st.Failures, f)
		}
	}
	st.Namespaces = fmt.Sprintf("%d/%d", st.SyncedNamespaces, st.SelectedNamespaces)

	cond := metav1.Condition{
		Type:               registryv1alpha1.ConditionReady,
		Status:             metav1.ConditionFalse,
		ObservedGeneration: rc.Generation,
	}
	failed := len(sum.failures)
	switch {
	case sum.problem.reason != "":
		cond.Reason, cond.Message = sum.problem.reason, sum.problem.message
	case sum.conflicts > 0:
		cond.Reason = registryv1alpha1.ReasonConflict
		cond.Message = fmt.Sprintf("%d namespace(s) hold a Secret named %q that this RegistryCredential does not own; they are left alone (see status.failures)", sum.conflicts, rc.TargetName())
	case failed > 0:
		cond.Reason = registryv1alpha1.ReasonSyncFailed
		cond.Message = fmt.Sprintf("%d namespace(s) could not be synced; retrying (see status.failures)", failed)
	case st.SyncedNamespaces < st.SelectedNamespaces:
		// writes made or queued that the cache has not shown yet.
		cond.Reason = registryv1alpha1.ReasonProgressing
		cond.Message = fmt.Sprintf("%d/%d selected namespaces synced", st.SyncedNamespaces, st.SelectedNamespaces)
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, registryv1alpha1.ReasonSynced
		cond.Message = fmt.Sprintf("%d/%d selected namespaces synced", st.SyncedNamespaces, st.SelectedNamespaces)
	}
	if rejected(sum) && sum.problem.reason == "" {
		cond.Status, cond.Reason = metav1.ConditionFalse, sum.check.result.Reason
		cond.Message = "the registry refuses the credential: " + sum.check.result.Message
	}
	cond.Message = truncate(cond.Message, maxConditionMessage)
	apimeta.SetStatusCondition(&st.Conditions, cond)
	setHealth(&st.Conditions, cond)
	setVerified(&st, rc, sum)
	st.PullFailures = sum.pulls
	return st
}

// rejected reports whether the registry refused the credential at its last
// check.
func rejected(sum summary) bool {
	if !sum.checked || sum.check.pending || sum.checksOff {
		return false
	}
	switch sum.check.result.Reason {
	case registryv1alpha1.ReasonUnauthorized, registryv1alpha1.ReasonForbidden:
		return true
	}
	return false
}

// setVerified sets the CredentialsVerified condition and the check's status
// fields. Without an outcome in process (after a restart, or while a changed
// credential waits for its check) the condition is kept as it is.
func setVerified(st *registryv1alpha1.RegistryCredentialStatus, rc *registryv1alpha1.RegistryCredential, sum summary) {
	cond := metav1.Condition{
		Type:               registryv1alpha1.ConditionCredentialsVerified,
		Status:             metav1.ConditionUnknown,
		Reason:             registryv1alpha1.ReasonNotChecked,
		ObservedGeneration: rc.Generation,
	}
	switch {
	case sum.checksOff:
		cond.Message = "the operator runs with --check-credentials=false"
		st.CheckBasis = ""
	case !rc.CheckEnabled():
		cond.Message = "spec.check.enabled is false"
		st.CheckBasis = ""
	case !sum.checked || sum.check.pending:
		if apimeta.FindStatusCondition(st.Conditions, cond.Type) != nil {
			return
		}
		cond.Message = "not checked yet"
	default:
		res := sum.check.result
		cond.Reason, cond.Message = res.Reason, res.Message
		switch res.Reason {
		case registryv1alpha1.ReasonVerified, registryv1alpha1.ReasonProbeNotFound:
			cond.Status = metav1.ConditionTrue
		case registryv1alpha1.ReasonUnauthorized, registryv1alpha1.ReasonForbidden:
			cond.Status = metav1.ConditionFalse
		}
		st.RateLimitRemaining = res.RateLimitRemaining
		st.CheckBasis = sum.check.basis
		if !sum.check.checkedAt.IsZero() {
			t := metav1.NewTime(sum.check.checkedAt.Truncate(time.Second))
			st.LastChecked = &t
		}
		st.ExpiresAt = nil
		if !sum.check.expiresAt.IsZero() {
			t := metav1.NewTime(sum.check.expiresAt)
			st.ExpiresAt = &t
		}
	}
	if cond.Message == "" {
		cond.Message = cond.Reason
	}
	cond.Message = truncate(cond.Message, maxConditionMessage)
	apimeta.SetStatusCondition(&st.Conditions, cond)
}

// setHealth sets the kstatus conditions from Ready: Stalled (True) when only
// a person can unblock it, Reconciling (True) while the operator is still
// working, neither once Ready is True.
func setHealth(conds *[]metav1.Condition, ready metav1.Condition) {
	stalled := ready.Status != metav1.ConditionTrue && registryv1alpha1.StalledReason(ready.Reason)
	reconciling := ready.Status != metav1.ConditionTrue && !stalled
	for _, c := range []struct {
		typ string
		on  bool
	}{{registryv1alpha1.ConditionStalled, stalled}, {registryv1alpha1.ConditionReconciling, reconciling}} {
		if !c.on {
			apimeta.RemoveStatusCondition(conds, c.typ)
			continue
		}
		apimeta.SetStatusCondition(conds, metav1.Condition{
			Type: c.typ, Status: metav1.ConditionTrue, ObservedGeneration: ready.ObservedGeneration,
			Reason: ready.Reason, Message: ready.Message,
		})
	}
}

// writeStatus writes the status when it changed, in one patch, and records
// an Event when the Ready condition's status or reason changed.
func (r *credentialReconciler) writeStatus(ctx context.Context, rc *registryv1alpha1.RegistryCredential, sum summary) error {
	sum.check, sum.checked = r.checks.outcomeFor(rc.Name)
	sum.checksOff = r.checksOff
	if r.pulls != nil {
		sum.pulls = r.pulls.summary(rc.Name)
	}
	st := computeStatus(rc, sum)
	r.metrics.observe(rc.Name, &st)
	if equality.Semantic.DeepEqual(rc.Status, st) {
		return nil
	}
	oldReady := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionReady)
	newReady := apimeta.FindStatusCondition(st.Conditions, registryv1alpha1.ConditionReady)
	oldVerified := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionCredentialsVerified)
	newVerified := apimeta.FindStatusCondition(st.Conditions, registryv1alpha1.ConditionCredentialsVerified)
	orig := rc.DeepCopy()
	rc.Status = st
	err := r.Client.Status().Patch(ctx, rc, client.MergeFrom(orig), client.FieldOwner(FieldOwner))
	r.metrics.wrote(kindRegistryCredential, verbPatch, err) // regcred_writes_total
	if err != nil {
		return err
	}
	// The message carries counts; a new namespace changes it but is not news.
	if oldReady == nil || oldReady.Status != newReady.Status || oldReady.Reason != newReady.Reason {
		r.recordReady(ctx, rc, newReady)
	}
	if newVerified != nil && newVerified.Reason != registryv1alpha1.ReasonNotChecked &&
		(oldVerified == nil || oldVerified.Reason != newVerified.Reason) {
		r.recordVerified(ctx, rc, newVerified)
	}
	return nil
}

// recordVerified records a new CredentialsVerified reason as an Event and
// logs it.
func (r *credentialReconciler) recordVerified(ctx context.Context, rc *registryv1alpha1.RegistryCredential, c *metav1.Condition) {
	note := truncate(c.Message, maxEventNote)
	eventType := corev1.EventTypeNormal
	if c.Status != metav1.ConditionTrue {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(rc, nil, eventType, c.Reason, "Check", "%s", note)
	logf.FromContext(ctx).Info("credential check changed", "status", c.Status, "reason", c.Reason, "message", note)
}

// recordReady records the Ready condition as an Event (reason = the
// condition's reason) and logs it.
func (r *credentialReconciler) recordReady(ctx context.Context, rc *registryv1alpha1.RegistryCredential, ready *metav1.Condition) {
	note := truncate(ready.Message, maxEventNote)
	eventType := corev1.EventTypeNormal
	if ready.Status != metav1.ConditionTrue && ready.Reason != registryv1alpha1.ReasonProgressing {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(rc, nil, eventType, ready.Reason, "Sync", "%s", note)
	logf.FromContext(ctx).Info("ready changed", "status", ready.Status, "reason", ready.Reason, "message", note)
}
