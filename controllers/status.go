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
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/credset"
	"github.com/regcred/regcred-operator/internal/selection"
)

// maxEventNote is the longest note events.k8s.io/v1 accepts (1 KiB); a
// longer one is rejected and the Event lost.
const maxEventNote = 1024

// maxConditionMessage is the longest condition message the API accepts.
const maxConditionMessage = 32 * 1024

// summary is what the cache shows of a RegistryCredential's namespaces,
// together with the failure book.
type summary struct {
	// problem, when set, is why nothing could be served; the counts are then
	// not known.
	problem                      problem
	selected, synced, patchedSAs int
	failures                     []registryv1alpha1.NamespaceFailure
	conflicts                    int
}

// summarize counts the selected namespaces, those in sync (an up to date
// copy we control, every selected ServiceAccount listing it, no failure),
// and the ServiceAccounts listing the copy.
func (o *Operator) summarize(ctx context.Context, rc *registryv1alpha1.RegistryCredential) (summary, error) {
	c := o.Credentials.Get(rc.Name)
	if c == nil || c.UID != rc.UID || c.Generation != rc.Generation {
		if c = o.refresh(ctx, rc.Name); c == nil {
			return summary{}, fmt.Errorf("RegistryCredential %s is not in the cache", rc.Name)
		}
	}
	if c.Err != nil {
		return summary{problem: problem{registryv1alpha1.ReasonInvalidSpec, c.Err.Error()}}, nil
	}
	src, prob, err := o.loadSource(ctx, rc)
	if err != nil {
		return summary{}, err
	}
	if prob.reason != "" {
		return summary{problem: prob}, nil
	}

	nss := &corev1.NamespaceList{}
	if err := o.Client.List(ctx, nss, client.UnsafeDisableDeepCopy); err != nil {
		return summary{}, err
	}
	copies, err := o.copiesOf(ctx, rc.UID)
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
	ref := credentialRef{name: rc.Name, uid: rc.UID, target: target}
	var sum summary
	selected := map[string]bool{}
	for i := range nss.Items {
		ns := &nss.Items[i]
		if selection.Terminating(ns) || !c.Serves(ns.Name, ns.Labels) {
			continue
		}
		selected[ns.Name] = true
		sum.selected++
		sas := &corev1.ServiceAccountList{}
		if err := o.Client.List(ctx, sas, client.InNamespace(ns.Name), client.UnsafeDisableDeepCopy); err != nil {
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
			inSync = inSync && cp != nil && copyDrift(cp, rc, src.secret.Type, src.hash) == ""
		}
		if inSync {
			// what the cache shows settles it: an error left by a work item
			// that has not run again since (back-off after an outage) is over.
			if f, failed := o.failures.get(rc.UID, ns.Name); failed && f.Reason == registryv1alpha1.ReasonSyncFailed {
				o.failures.set(rc.UID, registryv1alpha1.NamespaceFailure{Namespace: ns.Name})
			}
			if _, failed := o.failures.get(rc.UID, ns.Name); !failed {
				sum.synced++
			}
		}
	}
	sum.failures = o.failures.list(rc.UID, func(ns string) bool { return selected[ns] })
	for _, f := range sum.failures {
		if f.Reason == registryv1alpha1.ReasonConflict {
			sum.conflicts++
		}
	}
	if sum.synced == sum.selected {
		o.metrics.propagated(rc.UID, src.hash) // regcred_propagation_seconds: every selected namespace carries src.hash
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
	cond.Message = truncate(cond.Message, maxConditionMessage)
	apimeta.SetStatusCondition(&st.Conditions, cond)
	setHealth(&st.Conditions, cond)
	return st
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
func (o *Operator) writeStatus(ctx context.Context, rc *registryv1alpha1.RegistryCredential, sum summary) error {
	st := computeStatus(rc, sum)
	o.metrics.observe(rc.Name, &st)
	if equality.Semantic.DeepEqual(rc.Status, st) {
		return nil
	}
	oldReady := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionReady)
	newReady := apimeta.FindStatusCondition(st.Conditions, registryv1alpha1.ConditionReady)
	orig := rc.DeepCopy()
	rc.Status = st
	err := o.Client.Status().Patch(ctx, rc, client.MergeFrom(orig), client.FieldOwner(FieldOwner))
	o.metrics.wrote(kindRegistryCredential, verbPatch, err) // regcred_writes_total
	if err != nil {
		return err
	}
	// The message carries counts; a new namespace changes it but is not news.
	if oldReady == nil || oldReady.Status != newReady.Status || oldReady.Reason != newReady.Reason {
		o.recordReady(ctx, rc, newReady)
	}
	return nil
}

// recordReady records the Ready condition as an Event (reason = the
// condition's reason) and logs it.
func (o *Operator) recordReady(ctx context.Context, rc *registryv1alpha1.RegistryCredential, ready *metav1.Condition) {
	note := truncate(ready.Message, maxEventNote)
	eventType := corev1.EventTypeNormal
	if ready.Status != metav1.ConditionTrue && ready.Reason != registryv1alpha1.ReasonProgressing {
		eventType = corev1.EventTypeWarning
	}
	o.Recorder.Eventf(rc, nil, eventType, ready.Reason, "Sync", "%s", note)
	logf.FromContext(ctx).Info("ready changed", "status", ready.Status, "reason", ready.Reason, "message", note)
}

const (
	// statusCostFactor spaces a RegistryCredential's status summaries by this
	// many times what its last one took, so summaries use about
	// 1/statusCostFactor of a core at most, however many namespaces it
	// selects: a summary reads every namespace, and the ServiceAccounts of
	// each one selected. One per statusDelay was 13% of the operator's CPU in
	// a fan-out over 4,000 namespaces; at 10,000 on a busy machine one takes
	// about 0.25 s.
	statusCostFactor = 20
	// maxStatusDelay bounds that spacing: the status is at most this far
	// behind the cache.
	maxStatusDelay = 10 * time.Second
	// statusQuiet: once the changes that concern a RegistryCredential have
	// been quiet this long, the burst they made (a fan-out, a rotation) is
	// taken as over and summarised. A fan-out's watch events come every few
	// milliseconds.
	statusQuiet = 250 * time.Millisecond
	// statusProgressEvery: while changes keep coming, a summary this often
	// (or at the cost-based spacing when that is longer) shows the progress.
	statusProgressEvery = 5 * time.Second
)

// statusPace decides when a RegistryCredential's status summary runs: not
// sooner than statusDelay, or statusCostFactor times what its last one
// took, after the last one; then as soon as the changes that asked for it
// have been quiet for statusQuiet, or, while they go on, every
// statusProgressEvery. So a burst of changes is summarised once it is over
// and every few seconds while it lasts, not once a second all through it.
// One book per RegistryCredential summarised, keyed by UID and dropped when
// it goes (retain); only timing, so after a restart the first summary of
// each runs at once.
type statusPace struct {
	mu    sync.Mutex
	books map[types.UID]paceBook
}

// paceBook is what statusPace keeps of one RegistryCredential.
type paceBook struct {
	took       time.Duration // what its last summary took
	summarised time.Time     // when its last summary began (zero: none yet)
	changed    time.Time     // the last change that asked for a summary
}

// wait is how long the summary should still wait at now (0: run it).
func (b paceBook) wait(now time.Time) time.Duration {
	if b.summarised.IsZero() {
		return 0
	}
	since := now.Sub(b.summarised)
	spacing := min(max(statusCostFactor*b.took, statusDelay), maxStatusDelay)
	if since < spacing {
		return spacing - since
	}
	quiet := now.Sub(b.changed)
	progress := max(statusProgressEvery, spacing)
	if quiet < statusQuiet && since < progress {
		return min(statusQuiet-quiet, progress-since)
	}
	return 0
}

// wake records, at now, a change that asks for a summary of uid, and
// returns how long the work item waits before it looks (wait decides then).
func (p *statusPace) wake(uid types.UID, now time.Time) time.Duration {
	b := p.edit(uid, func(b *paceBook) { b.changed = now })
	return max(b.wait(now), statusQuiet)
}

// wait is how long the summary of uid should still wait at now.
func (p *statusPace) wait(uid types.UID, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.books[uid].wait(now)
}

// observe records a summary of uid that began at began and took took.
func (p *statusPace) observe(uid types.UID, began time.Time, took time.Duration) {
	p.edit(uid, func(b *paceBook) { b.summarised, b.took = began, took })
}

// edit changes uid's book (a new one when it has none) and returns it.
func (p *statusPace) edit(uid types.UID, change func(*paceBook)) paceBook {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.books == nil {
		p.books = map[types.UID]paceBook{}
	}
	b := p.books[uid]
	change(&b)
	p.books[uid] = b
	return b
}

// retain forgets the RegistryCredentials not in live.
func (p *statusPace) retain(live func(types.UID) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for uid := range p.books {
		if !live(uid) {
			delete(p.books, uid)
		}
	}
}

// len is the number of RegistryCredentials with a book.
func (p *statusPace) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.books)
}

// statusWakeFor records a change that asks for a summary of the named
// RegistryCredential and returns how long its work item waits (see
// statusPace).
func (o *Operator) statusWakeFor(name string) time.Duration {
	return o.statusWakeOf(o.Credentials.Get(name))
}

// statusWakeOf is statusWakeFor of a compiled credential (nil: not known
// yet, nothing to record).
func (o *Operator) statusWakeOf(c *credset.Credential) time.Duration {
	if c == nil {
		return statusQuiet
	}
	return o.pace.wake(c.UID, time.Now())
}
