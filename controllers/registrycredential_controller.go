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
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/registry"
	"github.com/regcred/regcred-operator/internal/selection"
)

// conflictRecheck is how often namespaces with a foreign Secret in the way are
// looked at again. Such Secrets are not cached (only our copies are), so
// their deletion cannot be watched.
const conflictRecheck = time.Minute

// namespaceSAParallel is how many ServiceAccounts of one namespace a
// per-namespace work item patches at once (a whole pass works on many
// namespaces at once instead, each one's ServiceAccounts in turn).
const namespaceSAParallel = 8

// RegistryCredentialReconciler copies a RegistryCredential's source Secret
// into every selected namespace and adds it to the ServiceAccounts there.
type RegistryCredentialReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	client.Client
	// APIReader reads from the API server directly; used only to look at a
	// Secret that holds a copy's name but is not in the cache.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// SourceNamespaces are the namespaces sources may live in ("*": any).
	SourceNamespaces []string
	// ParallelWrites bounds the namespaces worked on at once in one reconcile.
	ParallelWrites int
	// ConflictRecheck is how often namespaces where a foreign Secret holds
	// the name are looked at again (default one minute).
	ConflictRecheck time.Duration

	// conflicts remembers namespaces where a foreign Secret holds the name, so
	// a steady conflict makes no write attempts.
	conflicts sync.Map
	// written remembers the last status written per RegistryCredential UID
	// (see writeStatus).
	written sync.Map
	// requeueSoon marks RegistryCredentials whose pass met an optimistic
	// lock conflict (a stale cache): retried after 100 ms, not reported.
	requeueSoon sync.Map
	// queue is the controller's work queue, taken when it starts, so work
	// items can queue whole passes (see wakeCredential).
	queue   atomic.Pointer[queue]
	expect  expectations
	nsLocks namespaceLocks
	// verdicts remembers checkSource results, hashes sourceHash results,
	// selectors compiled namespace selections.
	verdicts     sync.Map
	verdictCount atomic.Int64
	hashes       sync.Map
	hashCount    atomic.Int64
	selectors    sync.Map
	// fresh: when namespaces created since the start were first seen.
	fresh   sync.Map
	metrics *credentialMetrics
}

// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one RegistryCredential's copies and ServiceAccount entries
// in line with its spec and the cluster, and reports the result in status.
//
// Work items come in two kinds. A request with only a name is the whole
// RegistryCredential: every namespace, stale copies, status. A request that
// also has a namespace (the RegistryCredential is cluster-scoped, so the field
// is free) serves that one namespace right away, without a status write; it
// is what a new namespace or ServiceAccount triggers, so their latency does
// not depend on how many namespaces the RegistryCredential serves. The whole
// pass follows to bring the status up to date.
func (r *RegistryCredentialReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if req.Namespace != "" {
		return r.reconcileNamespace(ctx, req.Name, req.Namespace)
	}
	rc := &registryv1alpha1.RegistryCredential{}
	if err := r.Get(ctx, req.NamespacedName, rc); err != nil {
		if apierrors.IsNotFound(err) {
			r.metrics.forget(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !rc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, rc)
	}
	if !controllerutil.ContainsFinalizer(rc, Finalizer) {
		patch := client.MergeFromWithOptions(rc.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(rc, Finalizer)
		if err := r.Patch(ctx, rc, patch, client.FieldOwner(FieldOwner)); err != nil {
			if apierrors.IsConflict(err) {
				// the cache is behind the object; try again shortly.
				return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
			}
			return ctrl.Result{}, err
		}
	}

	res := r.sync(ctx, rc)
	if err := r.writeStatus(ctx, rc, res); err != nil {
		return ctrl.Result{}, errors.Join(res.err, err)
	}
	if res.err != nil {
		return ctrl.Result{}, res.err
	}
	if _, soon := r.requeueSoon.LoadAndDelete(rc.UID); soon {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	if res.conflicts > 0 {
		if r.ConflictRecheck > 0 {
			return ctrl.Result{RequeueAfter: r.ConflictRecheck}, nil
		}
		return ctrl.Result{RequeueAfter: conflictRecheck}, nil
	}
	return ctrl.Result{}, nil
}

// result is what one pass of sync found and did.
type result struct {
	// reason and message of the Ready condition when it is not Synced.
	reason, message string
	// counts are only meaningful when countsValid.
	countsValid                         bool
	selected, synced, patchedSAs        int
	failures                            []registryv1alpha1.NamespaceFailure
	conflicts                           int
	created, updated, deleted, saWrites int
	err                                 error
}

func (res *result) changed() bool {
	return res.created+res.updated+res.deleted+res.saWrites > 0
}

// source fetches and checks the source Secret. A nil Secret comes with the
// reason and message to report. The Secret is the cache's own object: read
// it, never modify it (copies are built with DeepCopy before any write).
func (r *RegistryCredentialReconciler) source(ctx context.Context, rc *registryv1alpha1.RegistryCredential) (*corev1.Secret, string, string, error) {
	ref := rc.Spec.SecretRef
	if !AllowsAnyNamespace(r.SourceNamespaces) && !slices.Contains(r.SourceNamespaces, ref.Namespace) {
		return nil, registryv1alpha1.ReasonSourceNotAllowed,
			fmt.Sprintf("source namespace %q is not one the operator accepts sources from (%v); see --source-namespaces", ref.Namespace, r.SourceNamespaces), nil
	}
	src := &corev1.Secret{}
	// the cache's own object, not a copy: every copy event asks for the
	// source, and nothing here modifies it.
	if err := r.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, src, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, registryv1alpha1.ReasonSourceNotFound,
				fmt.Sprintf("source Secret %s/%s not found; existing copies are kept", ref.Namespace, ref.Name), nil
		}
		return nil, "", "", err
	}
	if src.Labels[LabelManagedBy] == ManagedByValue {
		return nil, registryv1alpha1.ReasonSourceInvalid,
			fmt.Sprintf("source Secret %s/%s is a copy made by regcred-operator; point secretRef at the original", ref.Namespace, ref.Name), nil
	}
	v := r.checkSource(rc, src)
	if v.reason != "" {
		return nil, v.reason, v.message, nil
	}
	return src, "", "", nil
}

// sourceVerdict is what checking a source version against a server found.
type sourceVerdict struct{ reason, message string }

// checkSource parses the source's docker config and checks that it covers
// spec.server. The verdict is remembered per source version and server:
// per-namespace work items ask for it on every ServiceAccount event.
func (r *RegistryCredentialReconciler) checkSource(rc *registryv1alpha1.RegistryCredential, src *corev1.Secret) sourceVerdict {
	key := string(src.UID) + "/" + src.ResourceVersion + "/" + rc.Spec.Server
	if v, ok := r.verdicts.Load(key); ok {
		return v.(sourceVerdict)
	}
	v := verifySource(rc, src)
	if n := r.verdictCount.Add(1); n > 1024 { // bounded: start over
		r.verdicts.Clear()
		r.verdictCount.Store(0)
	}
	r.verdicts.Store(key, v)
	return v
}

func verifySource(rc *registryv1alpha1.RegistryCredential, src *corev1.Secret) sourceVerdict {
	ref := rc.Spec.SecretRef
	cfg, err := registry.ParseSecret(string(src.Type), src.Data)
	if err != nil {
		// ParseError messages never contain data bytes.
		return sourceVerdict{registryv1alpha1.ReasonSourceInvalid, fmt.Sprintf("source Secret %s/%s: %v", ref.Namespace, ref.Name, err)}
	}
	server, err := registry.ParseServer(rc.Spec.Server)
	if err != nil {
		return sourceVerdict{registryv1alpha1.ReasonInvalidSpec, fmt.Sprintf("spec.server: %v", err)}
	}
	if !cfg.Covers(server) {
		names := make([]string, 0, len(cfg.Servers))
		for _, s := range cfg.Servers {
			names = append(names, s.String())
		}
		return sourceVerdict{registryv1alpha1.ReasonServerNotInSource,
			fmt.Sprintf("no entry of source Secret %s/%s covers server %q (entries: %v)", ref.Namespace, ref.Name, server.String(), names)}
	}
	return sourceVerdict{}
}

// reconcileNamespace serves one namespace for one RegistryCredential (see
// Reconcile). Anything it cannot decide alone (the namespace is no longer
// served, the source is not usable, the finalizer is missing) is left to
// the whole pass, which it wakes.
func (r *RegistryCredentialReconciler) reconcileNamespace(ctx context.Context, name, namespace string) (ctrl.Result, error) {
	if wait := r.freshHold(namespace); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	rc := &registryv1alpha1.RegistryCredential{}
	if err := r.Get(ctx, types.NamespacedName{Name: name}, rc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rc.DeletionTimestamp.IsZero() || !controllerutil.ContainsFinalizer(rc, Finalizer) {
		r.wakeCredential(rc, 0)
		return ctrl.Result{}, nil
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	sel, err := r.selector(rc)
	if err != nil {
		r.wakeCredential(rc, statusDelay) // the whole pass reports it
		return ctrl.Result{}, nil
	}
	if !sel.Serves(ns) {
		if r.holdsSomething(ctx, rc, namespace) {
			r.wakeCredential(rc, 0) // the whole pass withdraws what is ours there
		}
		return ctrl.Result{}, nil
	}
	src, _, _, err := r.source(ctx, rc)
	if err != nil || src == nil {
		r.wakeCredential(rc, statusDelay) // the whole pass reports it
		return ctrl.Result{}, err
	}
	nr := r.syncNamespace(ctx, rc, src, r.sourceHash(src), namespace, nil, namespaceSAParallel)
	if nr.copy != copyInSync || nr.saWrites > 0 || nr.saPending || nr.err != nil {
		r.wakeCredential(rc, statusDelay) // status counts changed
	}
	if nr.err != nil {
		return ctrl.Result{}, nr.err
	}
	if _, soon := r.requeueSoon.LoadAndDelete(rc.UID); soon {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	return ctrl.Result{}, nil
}

// holdsSomething reports whether the RegistryCredential has a copy or a
// ServiceAccount entry in the namespace (from the cache; true on error).
func (r *RegistryCredentialReconciler) holdsSomething(ctx context.Context, rc *registryv1alpha1.RegistryCredential, namespace string) bool {
	copies := &corev1.SecretList{}
	if err := r.List(ctx, copies, client.InNamespace(namespace), client.MatchingLabels{LabelCredential: rc.Name, LabelManagedBy: ManagedByValue}, client.UnsafeDisableDeepCopy); err != nil || len(copies.Items) > 0 {
		return true
	}
	sas := &corev1.ServiceAccountList{}
	if err := r.List(ctx, sas, client.InNamespace(namespace), client.MatchingFields{serviceAccountIndex: rc.Name}, client.UnsafeDisableDeepCopy); err != nil || len(sas.Items) > 0 {
		return true
	}
	return false
}

// wakeCredential queues the whole pass of a RegistryCredential after delay
// (0: now). Passes asked for within the delay are one pass.
func (r *RegistryCredentialReconciler) wakeCredential(rc *registryv1alpha1.RegistryCredential, delay time.Duration) {
	q := r.queue.Load()
	if q == nil {
		return // not started; the start lists everything anyway
	}
	if delay > 0 {
		(*q).AddAfter(wholePass(rc.Name), delay)
		return
	}
	(*q).Add(wholePass(rc.Name))
}

// nsResult is the outcome for one namespace.
type nsResult struct {
	namespace  string
	copy       copyState
	detail     string
	saWrites   int
	patchedSAs int
	saPending  bool
	err        error
}

func (r *RegistryCredentialReconciler) sync(ctx context.Context, rc *registryv1alpha1.RegistryCredential) *result {
	log := logf.FromContext(ctx)
	res := &result{}

	sel, err := r.selector(rc)
	if err != nil {
		res.reason, res.message = registryv1alpha1.ReasonInvalidSpec, err.Error()
		return res
	}
	src, reason, msg, err := r.source(ctx, rc)
	if err != nil {
		res.reason, res.message, res.err = registryv1alpha1.ReasonSyncFailed, "reading the source Secret failed", err
		return res
	}
	if src == nil {
		res.reason, res.message = reason, msg
		return res
	}
	wantHash := r.sourceHash(src)
	target := rc.TargetName()

	nsList := &corev1.NamespaceList{}
	if err := r.List(ctx, nsList, client.UnsafeDisableDeepCopy); err != nil {
		res.reason, res.message, res.err = registryv1alpha1.ReasonSyncFailed, "listing namespaces failed", err
		return res
	}
	copies := &corev1.SecretList{}
	if err := r.List(ctx, copies, client.MatchingLabels{LabelCredential: rc.Name, LabelManagedBy: ManagedByValue}, client.UnsafeDisableDeepCopy); err != nil {
		res.reason, res.message, res.err = registryv1alpha1.ReasonSyncFailed, "listing copies failed", err
		return res
	}

	// known: namespaces the cache holds. A namespace created a moment ago may
	// not be there yet while its per-namespace item has already served it:
	// what lies in a namespace we do not know is left alone, never withdrawn.
	known := make(map[string]bool, len(nsList.Items))
	served := map[string]bool{}
	terminating := map[string]bool{}
	var work []string
	for i := range nsList.Items {
		ns := &nsList.Items[i]
		known[ns.Name] = true
		if selection.Terminating(ns) {
			terminating[ns.Name] = true
			continue
		}
		if sel.Serves(ns) {
			served[ns.Name] = true
			work = append(work, ns.Name)
		}
	}
	slices.Sort(work)

	// our copies by namespace, so a namespace in sync costs no lookup.
	have := make(map[string]*corev1.Secret, len(copies.Items))
	for i := range copies.Items {
		if c := &copies.Items[i]; c.Name == target {
			have[c.Namespace] = c
		}
	}
	results := make([]nsResult, len(work))
	var toSync []int
	for i, ns := range work {
		if n, ok := r.inSync(ctx, rc, src, wantHash, ns, have[ns]); ok {
			results[i] = nsResult{namespace: ns, copy: copyInSync, patchedSAs: n}
			continue
		}
		toSync = append(toSync, i)
	}
	r.parallel(len(toSync), func(j int) {
		// namespaces in parallel, each one's ServiceAccounts in turn.
		i := toSync[j]
		results[i] = r.syncNamespace(ctx, rc, src, wantHash, work[i], have[work[i]], 1)
	})

	// Copies we own that are no longer wanted: another name, or a namespace
	// that is not served any more. Terminating namespaces clean themselves.
	var stale []*corev1.Secret
	for i := range copies.Items {
		c := &copies.Items[i]
		if !known[c.Namespace] || terminating[c.Namespace] || (served[c.Namespace] && c.Name == target) {
			continue
		}
		stale = append(stale, c)
	}
	staleErrs := make([]error, len(stale))
	r.parallel(len(stale), func(i int) {
		staleErrs[i] = r.deleteCopy(ctx, stale[i])
		if staleErrs[i] == nil {
			log.V(1).Info("deleted copy", "namespace", stale[i].Namespace, "secret", stale[i].Name)
		}
	})
	res.deleted = len(stale)
	for _, err := range staleErrs {
		if err != nil {
			res.deleted--
			res.err = errors.Join(res.err, err)
		}
	}

	// ServiceAccounts outside the served namespaces that still list our entry.
	saWrites, err := r.withdrawServiceAccounts(ctx, rc, func(ns string) bool { return known[ns] && !served[ns] && !terminating[ns] })
	res.saWrites += saWrites
	res.err = errors.Join(res.err, err)

	res.countsValid = true
	res.selected = len(work)
	var failed []registryv1alpha1.NamespaceFailure
	for _, nr := range results {
		res.saWrites += nr.saWrites
		res.patchedSAs += nr.patchedSAs
		switch nr.copy {
		case copyCreated:
			res.created++
		case copyUpdated:
			res.updated++
		}
		switch {
		case nr.err != nil:
			res.err = errors.Join(res.err, fmt.Errorf("namespace %s: %w", nr.namespace, nr.err))
			failed = append(failed, registryv1alpha1.NamespaceFailure{Namespace: nr.namespace, Reason: registryv1alpha1.ReasonSyncFailed, Message: truncate(nr.err.Error(), 1024)})
		case nr.copy == copyConflict:
			res.conflicts++
			failed = append(failed, registryv1alpha1.NamespaceFailure{Namespace: nr.namespace, Reason: registryv1alpha1.ReasonConflict, Message: nr.detail})
		case nr.copy == copyPending || nr.saPending:
		default:
			res.synced++
		}
	}
	res.failures = failed

	switch {
	case res.conflicts > 0:
		res.reason = registryv1alpha1.ReasonConflict
		res.message = fmt.Sprintf("%d namespace(s) hold a Secret named %q that regcred-operator did not create; they are left alone (see status.failures)", res.conflicts, target)
	case res.err != nil:
		res.reason = registryv1alpha1.ReasonSyncFailed
		res.message = fmt.Sprintf("%d namespace(s) could not be synced; retrying (see status.failures)", len(failed))
	}
	if res.changed() {
		log.Info("synced", "created", res.created, "updated", res.updated, "deleted", res.deleted, "serviceAccountWrites", res.saWrites, "selected", res.selected)
	}
	return res
}

// inSync reports whether namespace ns needs nothing (the copy, as listed,
// matches and no write of ours to it is pending; every ServiceAccount is as
// planned) and how many ServiceAccounts list the secret there. It is what
// syncNamespace would find, without its lock or a goroutine, so that the
// status passes that follow every change cost little; anything else goes to
// syncNamespace.
func (r *RegistryCredentialReconciler) inSync(ctx context.Context, rc *registryv1alpha1.RegistryCredential, src *corev1.Secret, wantHash, ns string, listed *corev1.Secret) (int, bool) {
	if !(ns == src.Namespace && rc.TargetName() == src.Name) {
		if listed == nil || r.expect.pending(copyKey(listed), listed.ResourceVersion) || copyDrift(listed, rc, src.Type, wantHash) != "" {
			return 0, false
		}
	}
	sas := &corev1.ServiceAccountList{}
	if err := r.List(ctx, sas, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return 0, false
	}
	listing, plans := planServiceAccounts(rc, sas.Items)
	return listing, len(plans) == 0
}

// saWrite is a ServiceAccount as cached and as it should be.
type saWrite struct {
	cached, planned *corev1.ServiceAccount
	want            bool // whether it should list the secret
}

// planServiceAccounts splits one namespace's ServiceAccounts (as cached, not
// to be modified) into the number that list the secret as they should and
// those that need a write.
func planServiceAccounts(rc *registryv1alpha1.RegistryCredential, sas []corev1.ServiceAccount) (listing int, writes []saWrite) {
	target := rc.TargetName()
	for i := range sas {
		sa := &sas[i]
		want := selection.ServiceAccountSelected(&rc.Spec, sa.Name)
		switch planned := planServiceAccount(sa, rc.Name, target, want); {
		case planned != nil:
			writes = append(writes, saWrite{cached: sa, planned: planned, want: want})
		case want:
			listing++
		}
	}
	return listing, writes
}

// syncNamespace serves one namespace: the copy first, then the
// ServiceAccounts, saParallel of them at once. listed is our copy there as a
// List of the cache showed it (not to be modified), or nil: then the cache
// is asked.
func (r *RegistryCredentialReconciler) syncNamespace(ctx context.Context, rc *registryv1alpha1.RegistryCredential, src *corev1.Secret, wantHash, ns string, listed *corev1.Secret, saParallel int) nsResult {
	log := logf.FromContext(ctx).WithValues("namespace", ns)
	out := nsResult{namespace: ns, copy: copyInSync}
	target := rc.TargetName()
	defer r.nsLocks.lock(string(rc.UID), ns)()

	if !(ns == src.Namespace && target == src.Name) {
		cached := listed
		if cached == nil {
			c := &corev1.Secret{}
			err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: target}, c)
			switch {
			case err == nil && c.Labels[LabelManagedBy] == ManagedByValue:
				cached = c
			case err == nil:
				// a source namespace Secret that is not ours holds the name.
				out.copy = copyConflict
				out.detail = fmt.Sprintf("Secret %s/%s exists and was not created by regcred-operator; it is left alone", ns, target)
				return out
			case !apierrors.IsNotFound(err):
				out.copy, out.err = copyFailed, err
				return out
			}
		}
		out.copy, out.detail, out.err = r.ensureCopy(ctx, rc, cached, desiredCopy(rc, src, ns), wantHash)
		switch out.copy {
		case copyPending:
			r.requeueSoon.Store(rc.UID, true)
		case copyCreated, copyUpdated:
			log.V(1).Info("wrote copy", "secret", target, "created", out.copy == copyCreated, "drift", out.detail)
		case copyConflict:
			log.V(1).Info("name held by another Secret", "secret", target)
			return out
		case copyFailed:
			if apierrors.IsConflict(out.err) {
				// the copy changed since the cache saw it; its event brings us back.
				out.copy, out.err = copyPending, nil
				r.requeueSoon.Store(rc.UID, true)
			}
			return out
		}
	}

	sas := &corev1.ServiceAccountList{}
	if err := r.List(ctx, sas, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		out.err = err
		return out
	}
	listing, plans := planServiceAccounts(rc, sas.Items)
	out.patchedSAs += listing
	var todo []saWrite
	for _, w := range plans {
		if r.expect.pending(saKey(w.cached), w.cached.ResourceVersion) {
			out.saPending = true // our last patch is not in the cache yet
			r.requeueSoon.Store(rc.UID, true)
			continue
		}
		todo = append(todo, w)
	}
	errs := make([]error, len(todo))
	parallelN(len(todo), saParallel, func(i int) {
		errs[i] = r.patchServiceAccount(ctx, todo[i].cached, todo[i].planned)
	})
	for i, w := range todo {
		if err := errs[i]; err != nil {
			out.saPending = true
			if apierrors.IsConflict(err) {
				// someone changed it since the cache saw it; retry soon.
				r.requeueSoon.Store(rc.UID, true)
			} else {
				out.err = errors.Join(out.err, fmt.Errorf("patch ServiceAccount %s: %w", w.cached.Name, err))
			}
			continue
		}
		out.saWrites++
		log.V(1).Info("patched ServiceAccount", "serviceAccount", w.cached.Name, "listed", w.want)
		if w.want {
			out.patchedSAs++
		}
	}
	return out
}

// withdrawServiceAccounts removes the entries this RegistryCredential added to
// ServiceAccounts in the namespaces for which drop returns true.
func (r *RegistryCredentialReconciler) withdrawServiceAccounts(ctx context.Context, rc *registryv1alpha1.RegistryCredential, drop func(ns string) bool) (int, error) {
	sas := &corev1.ServiceAccountList{}
	if err := r.List(ctx, sas, client.MatchingFields{serviceAccountIndex: rc.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, err
	}
	var todo []*corev1.ServiceAccount
	for i := range sas.Items {
		if drop(sas.Items[i].Namespace) {
			todo = append(todo, &sas.Items[i])
		}
	}
	errs := make([]error, len(todo))
	r.parallel(len(todo), func(i int) {
		if planned := planServiceAccount(todo[i], rc.Name, rc.TargetName(), false); planned != nil {
			errs[i] = r.patchServiceAccount(ctx, todo[i], planned)
		}
	})
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// finalize runs when the RegistryCredential is being deleted: with the Delete
// policy it removes every copy and ServiceAccount entry it made, with Orphan
// it detaches the copies; then it lets the object go.
func (r *RegistryCredentialReconciler) finalize(ctx context.Context, rc *registryv1alpha1.RegistryCredential) error {
	log := logf.FromContext(ctx)
	if !controllerutil.ContainsFinalizer(rc, Finalizer) {
		return nil
	}
	copies := &corev1.SecretList{}
	if err := r.List(ctx, copies, client.MatchingLabels{LabelCredential: rc.Name, LabelManagedBy: ManagedByValue}, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	errs := make([]error, len(copies.Items))
	var saWrites int
	if rc.Spec.DeletionPolicy == registryv1alpha1.DeletionPolicyOrphan {
		r.parallel(len(copies.Items), func(i int) { errs[i] = r.orphanCopy(ctx, &copies.Items[i], rc) })
	} else {
		var err error
		saWrites, err = r.withdrawServiceAccounts(ctx, rc, func(string) bool { return true })
		if err != nil {
			return err
		}
		r.parallel(len(copies.Items), func(i int) { errs[i] = r.deleteCopy(ctx, &copies.Items[i]) })
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("cleaned up", "policy", rc.Spec.DeletionPolicy, "copies", len(copies.Items), "serviceAccountWrites", saWrites)
	r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, registryv1alpha1.ReasonDeleting, "Delete",
		"deletionPolicy %s: %d copies handled, %d ServiceAccount entries removed", rc.Spec.DeletionPolicy, len(copies.Items), saWrites)

	patch := client.MergeFromWithOptions(rc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(rc, Finalizer)
	if err := r.Patch(ctx, rc, patch, client.FieldOwner(FieldOwner)); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	r.forgetConflicts(rc.UID)
	r.selectors.Delete(rc.UID)
	r.written.Delete(rc.UID)
	r.requeueSoon.Delete(rc.UID)
	r.metrics.forget(rc.Name)
	return nil
}

func (r *RegistryCredentialReconciler) forgetConflicts(uid types.UID) {
	prefix := string(uid) + "/"
	r.conflicts.Range(func(k, _ any) bool {
		if s, _ := k.(string); strings.HasPrefix(s, prefix) {
			r.conflicts.Delete(k)
		}
		return true
	})
}

// parallel runs fn(0..n-1) with at most ParallelWrites at once.
func (r *RegistryCredentialReconciler) parallel(n int, fn func(i int)) {
	parallelN(n, r.ParallelWrites, fn)
}

// parallelN runs fn(0..n-1) with at most limit at once.
func parallelN(n, limit int, fn func(i int)) {
	limit = max(limit, 1)
	if n <= 1 || limit == 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
