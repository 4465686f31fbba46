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
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// PairControllerName is the name of the controller whose work item is one
// RegistryCredential in one namespace (in its metrics and logs).
const PairControllerName = "registrycredential-namespace"

// pairKey is the pair controller's work item: one RegistryCredential in one
// namespace. The workqueue hands one key to one worker at a time, so the
// writes to one namespace for one RegistryCredential never race each other.
type pairKey struct {
	Credential string
	Namespace  string
}

// pairReconciler serves one RegistryCredential in one namespace: the copy and
// the ServiceAccount entries there, or their removal. It is the only writer
// of copies and ServiceAccount entries, and owns what it keeps in process:
// its source checks, the failure book and the write book.
type pairReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads what the cache cannot show: the Secret holding a
	// copy's name when the cache has none there.
	APIReader        client.Reader
	SourceNamespaces []string
	ConflictRecheck  time.Duration

	mapper  *mapper
	metrics *credentialMetrics
	// statusKeys asks the credential controller for a status summary.
	statusKeys *keyPipe[reconcile.Request]

	sources  sourceLoader
	failures failureBook
	writes   writeBook
}

func (r *pairReconciler) setup(mgr ctrl.Manager, workers int, pairKeys *keyPipe[pairKey]) error {
	r.sources = sourceLoader{reader: r.Client, namespaces: r.SourceNamespaces}
	log := mgr.GetLogger().WithValues("controller", PairControllerName)
	return builder.TypedControllerManagedBy[pairKey](mgr).
		Named(PairControllerName).
		Watches(&registryv1alpha1.RegistryCredential{}, r.mapper.pairsOnCredential()).
		Watches(namespaceObject(), r.mapper.pairsOnNamespace()).
		Watches(&corev1.ServiceAccount{}, r.mapper.pairsOnServiceAccount()).
		Watches(&corev1.Secret{}, r.mapper.pairsOnSecret()).
		WatchesRawSource(crsource.TypedChannel(pairKeys.ch, handler.TypedFuncs[pairKey, pairKey]{
			GenericFunc: func(_ context.Context, e event.TypedGenericEvent[pairKey], q pairQueue) { q.Add(e.Object) },
		})).
		WithOptions(controller.TypedOptions[pairKey]{
			MaxConcurrentReconciles: workers,
			RateLimiter:             rateLimiter[pairKey](),
			LogConstructor: func(k *pairKey) logr.Logger {
				if k == nil {
					return log
				}
				return log.WithValues("credential", k.Credential, "namespace", k.Namespace)
			},
		}).
		Complete(r)
}

// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile brings the copy and the ServiceAccount entries of one
// RegistryCredential in one namespace in line with the spec: serve a
// selected namespace, withdraw from one that is not, and when the
// RegistryCredential is being deleted, remove (Delete) or release (Orphan)
// what it made there.
func (r *pairReconciler) Reconcile(ctx context.Context, key pairKey) (ctrl.Result, error) {
	rc := &registryv1alpha1.RegistryCredential{}
	// read only: the cache's object.
	if err := r.Client.Get(ctx, types.NamespacedName{Name: key.Credential}, rc, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			// gone: its copies go with the garbage collector.
			r.forget(key)
			r.sources.checks.forget(key.Credential)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	// never plan from a view older than this key's own last writes.
	if shown, err := r.writes.caughtUp(ctx, r.Client, key); err != nil || !shown {
		return ctrl.Result{RequeueAfter: cacheLagPoll}, err
	}
	ns, serving, err := r.mapper.namespace(ctx, key.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch {
	case !rc.DeletionTimestamp.IsZero():
		r.sources.checks.forget(rc.Name)
		if !controllerutil.ContainsFinalizer(rc, Finalizer) {
			r.forget(key)
			return ctrl.Result{}, nil
		}
		return r.withdraw(ctx, key, rc, rc.Spec.DeletionPolicy == registryv1alpha1.DeletionPolicyOrphan)
	case !controllerutil.ContainsFinalizer(rc, Finalizer):
		return ctrl.Result{}, nil // the credential controller adds it, then this runs again
	case !serving:
		// gone or terminating: the namespace's deletion removes everything.
		r.forget(key)
		return ctrl.Result{}, nil
	}
	c := r.mapper.Credentials.Compile(rc)
	if c.Err != nil {
		r.report(key, rc, "", "") // the status reports InvalidSpec; nothing is changed
		return ctrl.Result{}, nil
	}
	if !c.Serves(ns.Name, ns.Labels) {
		return r.withdraw(ctx, key, rc, false)
	}
	src, prob, _, err := r.sources.load(ctx, rc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if prob.reason != "" {
		r.report(key, rc, "", "") // the status reports the problem; nothing is changed
		return ctrl.Result{}, nil
	}
	return r.serve(ctx, key, rc, src)
}

// forget drops what the controller keeps of the pair.
func (r *pairReconciler) forget(key pairKey) {
	r.failures.clear(key)
	r.writes.forget(key)
}

// pairRun is what one run of a pair item met on its way: an optimistic
// lock that failed (the object changed since the cache saw it), errors,
// and whether it wrote (its writes go to the write book).
type pairRun struct {
	key    pairKey
	writes *writeBook
	errs   []error
	wrote  bool
}

func (run *pairRun) record(w written) {
	run.wrote = true
	run.writes.record(run.key, w)
}

// serve makes the namespace hold an up to date copy, listed by every
// selected ServiceAccount. A copy under an old name (targetSecretName
// changed) is removed only once the new copy is in place and every
// ServiceAccount lists it: the namespace never goes without a working pull
// secret, and while a foreign Secret holds the new name the old copy and
// entries stay.
func (r *pairReconciler) serve(ctx context.Context, key pairKey, rc *registryv1alpha1.RegistryCredential, src *source) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	target := rc.TargetName()
	run := &pairRun{key: key, writes: &r.writes}

	if !isSourceItself(rc, key.Namespace) {
		state, detail, err := r.ensureCopy(ctx, run, rc, src)
		switch state {
		case copyConflict:
			log.V(1).Info("name held by a Secret we do not own", "secret", target)
			r.report(key, rc, registryv1alpha1.ReasonConflict, detail)
			return ctrl.Result{RequeueAfter: r.ConflictRecheck}, nil
		case copyFailed:
			return r.fail(key, rc, err)
		case copyWritten:
			log.V(1).Info("wrote copy", "secret", target, "drift", detail)
		}
	}

	sas := &corev1.ServiceAccountList{}
	if err := r.Client.List(ctx, sas, client.InNamespace(key.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	ref := credentialRef{name: rc.Name, uid: rc.UID, target: target}
	r.patchServiceAccounts(ctx, run, sas.Items, ref, func(name string) saIntent { return intentFor(rc, name) })
	if len(run.errs) == 0 {
		// our copies under another name, now that the new one is listed.
		copies, err := r.mapper.copiesIn(ctx, key.Namespace, rc.UID)
		if err != nil {
			return ctrl.Result{}, err
		}
		for i := range copies {
			if s := &copies[i]; s.Name != target {
				if err := r.deleteCopy(ctx, run, s); err != nil {
					run.errs = append(run.errs, fmt.Errorf("delete copy under an old name %s: %w", s.Name, err))
					continue
				}
				log.V(1).Info("deleted copy under an old name", "secret", s.Name)
			}
		}
	}
	return r.finish(key, rc, run)
}

// patchServiceAccounts plans and patches the namespace's ServiceAccounts
// for their intent.
func (r *pairReconciler) patchServiceAccounts(ctx context.Context, run *pairRun, sas []corev1.ServiceAccount, ref credentialRef, intentOf func(name string) saIntent) {
	log := logf.FromContext(ctx)
	for i := range sas {
		sa := &sas[i]
		intent := intentOf(sa.Name)
		planned := planServiceAccount(sa, ref, intent)
		if planned == nil {
			continue
		}
		switch err := r.patchServiceAccount(ctx, run, sa, planned); {
		case apierrors.IsNotFound(err):
		case err != nil:
			// a conflict too: someone changed it since the cache saw it.
			run.errs = append(run.errs, fmt.Errorf("patch ServiceAccount %s: %w", sa.Name, err))
		default:
			log.V(1).Info("patched ServiceAccount", "serviceAccount", sa.Name, "intent", intent)
		}
	}
}

// finish reports the run's outcome: errors go to the back-off; a run that
// wrote looks once more when the cache shows its writes (so the write book
// empties); otherwise the namespace is served.
func (r *pairReconciler) finish(key pairKey, rc *registryv1alpha1.RegistryCredential, run *pairRun) (ctrl.Result, error) {
	if err := errors.Join(run.errs...); err != nil {
		return r.fail(key, rc, err)
	}
	r.report(key, rc, "", "")
	if run.wrote {
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, nil
}

// withdraw removes what rc made in the namespace: the copies it controls and
// the ServiceAccount entries it recorded. With orphan (deletionPolicy Orphan,
// on deletion) both stay: the copies lose our ownerReference and labels, the
// ServiceAccounts our records, and all are the user's from then on. A copy
// of ours under the current name that the cache does not show (its labels
// changed) is looked up on the API server.
func (r *pairReconciler) withdraw(ctx context.Context, key pairKey, rc *registryv1alpha1.RegistryCredential, orphan bool) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	run := &pairRun{key: key, writes: &r.writes}
	copies, err := r.mapper.copiesIn(ctx, key.Namespace, rc.UID)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !slices.ContainsFunc(copies, func(s corev1.Secret) bool { return s.Name == rc.TargetName() }) && !isSourceItself(rc, key.Namespace) {
		live := &corev1.Secret{}
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: rc.TargetName()}, live)
		switch {
		case err == nil && owns(rc, live):
			copies = append(copies, *live)
		case err != nil && !apierrors.IsNotFound(err):
			return ctrl.Result{}, err
		}
	}
	for i := range copies {
		s := &copies[i]
		var err error
		if orphan {
			orig, upd := orphaned(s, rc)
			err = r.Client.Patch(ctx, upd, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner))
			r.metrics.wrote(kindSecret, verbPatch, err)
			if err == nil {
				run.record(written{kind: writtenSecret, key: client.ObjectKeyFromObject(s), deleted: s.UID})
			}
			if apierrors.IsNotFound(err) {
				err = nil
			}
		} else {
			err = r.deleteCopy(ctx, run, s)
		}
		if err != nil {
			run.errs = append(run.errs, err)
			continue
		}
		log.V(1).Info("withdrew copy", "secret", s.Name, "orphan", orphan)
	}
	sas := &corev1.ServiceAccountList{}
	if err := r.Client.List(ctx, sas, client.InNamespace(key.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	sas.Items = slices.DeleteFunc(sas.Items, func(sa corev1.ServiceAccount) bool {
		return !slices.Contains(recordedUIDs(sa.Annotations), string(rc.UID))
	})
	intent := saWithdraw
	if orphan {
		intent = saRelease
	}
	ref := credentialRef{name: rc.Name, uid: rc.UID, target: rc.TargetName()}
	r.patchServiceAccounts(ctx, run, sas.Items, ref, func(string) saIntent { return intent })
	return r.finish(key, rc, run)
}

// fail records an error for the namespace and returns it, so the workqueue
// retries with back-off.
func (r *pairReconciler) fail(key pairKey, rc *registryv1alpha1.RegistryCredential, err error) (ctrl.Result, error) {
	r.report(key, rc, registryv1alpha1.ReasonSyncFailed, err.Error())
	return ctrl.Result{}, err
}

// report records the pair's outcome in the failure book (reason "": no
// failure) and, when that changed, asks the credential controller for a
// summary. When its pipe is full the summary still comes: the credential
// controller looks again while namespaces are in flight.
func (r *pairReconciler) report(key pairKey, rc *registryv1alpha1.RegistryCredential, reason, message string) {
	f := registryv1alpha1.NamespaceFailure{Namespace: key.Namespace, Reason: reason, Message: truncate(message, registryv1alpha1.MaxFailureMessage)}
	if r.failures.set(key, rc.UID, f) {
		r.statusKeys.offer(credentialRequest(rc.Name))
	}
}
