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

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

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

func (o *Operator) setupPairController(mgr ctrl.Manager) error {
	log := mgr.GetLogger().WithValues("controller", PairControllerName)
	return builder.TypedControllerManagedBy[pairKey](mgr).
		Named(PairControllerName).
		Watches(&registryv1alpha1.RegistryCredential{}, o.pairsOnCredential()).
		Watches(&corev1.Namespace{}, o.pairsOnNamespace()).
		Watches(&corev1.ServiceAccount{}, o.pairsOnServiceAccount()).
		Watches(&corev1.Secret{}, o.pairsOnSecret()).
		WithOptions(controller.TypedOptions[pairKey]{
			MaxConcurrentReconciles: max(o.PairWorkers, 1),
			RateLimiter:             rateLimiter[pairKey](),
			LogConstructor: func(k *pairKey) logr.Logger {
				if k == nil {
					return log
				}
				return log.WithValues("credential", k.Credential, "namespace", k.Namespace)
			},
		}).
		Complete(pairReconciler{o})
}

// pairReconciler serves one RegistryCredential in one namespace: the copy and
// the ServiceAccount entries there, or their removal.
type pairReconciler struct{ *Operator }

// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile brings the copy and the ServiceAccount entries of one
// RegistryCredential in one namespace in line with the spec: serve a
// selected namespace, withdraw from one that is not, and when the
// RegistryCredential is being deleted, remove (Delete) or release (Orphan)
// what it made there.
func (r pairReconciler) Reconcile(ctx context.Context, key pairKey) (ctrl.Result, error) {
	rc := &registryv1alpha1.RegistryCredential{}
	// read only: the cache's object.
	if err := r.Client.Get(ctx, types.NamespacedName{Name: key.Credential}, rc, client.UnsafeDisableDeepCopy); err != nil {
		// gone: its copies go with the garbage collector.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ns, ok := r.namespaceFor(ctx, key.Namespace)
	switch {
	case !rc.DeletionTimestamp.IsZero():
		if !controllerutil.ContainsFinalizer(rc, Finalizer) {
			return ctrl.Result{}, nil
		}
		return r.withdraw(ctx, rc, key.Namespace, rc.Spec.DeletionPolicy == registryv1alpha1.DeletionPolicyOrphan)
	case !controllerutil.ContainsFinalizer(rc, Finalizer):
		return ctrl.Result{}, nil // the credential controller adds it, then this runs again
	case !ok:
		// gone or terminating: the namespace's deletion removes everything.
		r.report(ctx, rc, key.Namespace, "", "")
		return ctrl.Result{}, nil
	}
	c := r.Credentials.Get(rc.Name)
	if c == nil || c.UID != rc.UID || c.Generation != rc.Generation {
		if c = r.refresh(ctx, rc.Name); c == nil {
			return ctrl.Result{}, nil
		}
	}
	if c.Err != nil {
		return ctrl.Result{}, nil // the status reports InvalidSpec; nothing is changed
	}
	if !c.Serves(ns.Name, ns.Labels) {
		return r.withdraw(ctx, rc, ns.Name, false)
	}
	src, prob, err := r.loadSource(ctx, rc)
	if err != nil || prob.reason != "" {
		return ctrl.Result{}, err // the status reports the problem; nothing is changed
	}
	return r.serve(ctx, rc, src, ns.Name)
}

// serve makes the namespace hold an up to date copy, listed by every
// selected ServiceAccount.
func (r pairReconciler) serve(ctx context.Context, rc *registryv1alpha1.RegistryCredential, src *source, ns string) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	target := rc.TargetName()
	run := &pairRun{}
	defer func() { run.wrote.await(ctx) }()

	// our copies under another name (targetSecretName changed).
	copies, err := r.copiesIn(ctx, ns, rc.UID)
	if err != nil {
		return ctrl.Result{}, err
	}
	for i := range copies {
		if s := &copies[i]; s.Name != target {
			switch err := r.deleteCopy(ctx, s); {
			case apierrors.IsConflict(err):
				run.retry = true
			case err != nil:
				return r.fail(ctx, rc, ns, err)
			default:
				log.V(1).Info("deleted copy under an old name", "secret", s.Name)
				run.wrote = append(run.wrote, r.copyEcho(rc, src, client.ObjectKeyFromObject(s), false))
			}
		}
	}

	if !isSourceItself(rc, ns) {
		state, detail, err := r.ensureCopy(ctx, rc, src, ns)
		switch state {
		case copyConflict:
			log.V(1).Info("name held by a Secret we do not own", "secret", target)
			r.report(ctx, rc, ns, registryv1alpha1.ReasonConflict, detail)
			return ctrl.Result{RequeueAfter: r.ConflictRecheck}, nil
		case copyRetry:
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		case copyFailed:
			return r.fail(ctx, rc, ns, err)
		case copyWritten:
			log.V(1).Info("wrote copy", "secret", target, "drift", detail)
			run.wrote = append(run.wrote, r.copyEcho(rc, src, types.NamespacedName{Namespace: ns, Name: target}, true))
		}
	}

	sas := &corev1.ServiceAccountList{}
	if err := r.Client.List(ctx, sas, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	ref := credentialRef{name: rc.Name, uid: rc.UID, target: target}
	r.patchServiceAccounts(ctx, run, sas.Items, ref, func(name string) saIntent { return intentFor(rc, name) })
	return r.finish(ctx, rc, ns, run)
}

// pairRun is what one run of a pair item met on its way: an optimistic
// lock that failed (run again soon), errors, and its own writes to see in
// the cache before it ends.
type pairRun struct {
	retry bool
	errs  []error
	wrote echoes
}

// patchServiceAccounts plans and patches the namespace's ServiceAccounts
// for their intent.
func (r pairReconciler) patchServiceAccounts(ctx context.Context, run *pairRun, sas []corev1.ServiceAccount, ref credentialRef, intentOf func(name string) saIntent) {
	log := logf.FromContext(ctx)
	for i := range sas {
		sa := &sas[i]
		intent := intentOf(sa.Name)
		planned := planServiceAccount(sa, ref, intent)
		if planned == nil {
			continue
		}
		switch err := r.patchServiceAccount(ctx, sa, planned); {
		case apierrors.IsConflict(err):
			run.retry = true // someone changed it since the cache saw it
		case apierrors.IsNotFound(err):
		case err != nil:
			run.errs = append(run.errs, fmt.Errorf("patch ServiceAccount %s: %w", sa.Name, err))
		default:
			log.V(1).Info("patched ServiceAccount", "serviceAccount", sa.Name, "intent", intent)
			run.wrote = append(run.wrote, r.serviceAccountEcho(client.ObjectKeyFromObject(sa), ref, intent))
		}
	}
}

// finish reports the run's outcome: errors for the back-off, a failed
// optimistic lock for a run soon, otherwise the namespace is served.
func (r pairReconciler) finish(ctx context.Context, rc *registryv1alpha1.RegistryCredential, ns string, run *pairRun) (ctrl.Result, error) {
	if err := errors.Join(run.errs...); err != nil {
		return r.fail(ctx, rc, ns, err)
	}
	r.report(ctx, rc, ns, "", "")
	if run.retry {
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, nil
}

// withdraw removes what rc made in the namespace: the copies it controls and
// the ServiceAccount entries it recorded. With orphan (deletionPolicy Orphan,
// on deletion) both stay: the copies lose our ownerReference and labels, the
// ServiceAccounts our records, and all are the user's from then on.
func (r pairReconciler) withdraw(ctx context.Context, rc *registryv1alpha1.RegistryCredential, ns string, orphan bool) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	run := &pairRun{}
	defer func() { run.wrote.await(ctx) }()
	copies, err := r.copiesIn(ctx, ns, rc.UID)
	if err != nil {
		return ctrl.Result{}, err
	}
	for i := range copies {
		s := &copies[i]
		var err error
		if orphan {
			orig, upd := orphaned(s, rc)
			err = r.Client.Patch(ctx, upd, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner))
			r.metrics.wrote(kindSecret, verbPatch, err)
			if apierrors.IsNotFound(err) {
				err = nil
			}
		} else {
			err = r.deleteCopy(ctx, s)
		}
		switch {
		case apierrors.IsConflict(err):
			run.retry = true
		case err != nil:
			run.errs = append(run.errs, err)
		default:
			log.V(1).Info("withdrew copy", "secret", s.Name, "orphan", orphan)
			run.wrote = append(run.wrote, r.copyEcho(rc, nil, client.ObjectKeyFromObject(s), false))
		}
	}
	sas := &corev1.ServiceAccountList{}
	if err := r.Client.List(ctx, sas, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
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
	return r.finish(ctx, rc, ns, run)
}

// fail records an API error for the namespace and returns it, so the
// workqueue retries with back-off.
func (r pairReconciler) fail(ctx context.Context, rc *registryv1alpha1.RegistryCredential, ns string, err error) (ctrl.Result, error) {
	r.report(ctx, rc, ns, registryv1alpha1.ReasonSyncFailed, err.Error())
	return ctrl.Result{}, err
}

// report records the namespace's outcome in the failure book (reason "":
// served) and wakes the status summary when that changed.
func (r pairReconciler) report(ctx context.Context, rc *registryv1alpha1.RegistryCredential, ns, reason, message string) {
	f := registryv1alpha1.NamespaceFailure{Namespace: ns, Reason: reason, Message: truncate(message, registryv1alpha1.MaxFailureMessage)}
	if r.failures.set(rc.UID, f) {
		r.wakeStatus(ctx, rc.Name)
	}
}
