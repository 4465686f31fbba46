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
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// CredentialControllerName is the name of the controller whose work item is
// one RegistryCredential (in its metrics and logs).
const CredentialControllerName = "registrycredential"

// leftoverRecheck is how soon a deleting RegistryCredential looks again when
// the API server still shows something of it that the cache does not yet.
const leftoverRecheck = time.Second

func (o *Operator) setupCredentialController(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(CredentialControllerName).
		Watches(&registryv1alpha1.RegistryCredential{}, o.credentialsOnCredential()).
		Watches(&corev1.Namespace{}, o.credentialsOnNamespace()).
		Watches(&corev1.ServiceAccount{}, o.credentialsOnServiceAccount()).
		Watches(&corev1.Secret{}, o.credentialsOnSecret()).
		WatchesRawSource(crsource.TypedChannel(o.statusWake, o.credentialsOnWake())).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(o.CredentialWorkers, 1),
			RateLimiter:             rateLimiter[reconcile.Request](),
		}).
		Complete(credentialReconciler{o})
}

// credentialReconciler owns a RegistryCredential's finalizer and status.
type credentialReconciler struct{ *Operator }

// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile adds the finalizer, summarises the RegistryCredential's
// namespaces into its status, and, once it is being deleted and nothing of
// it is left, lets it go.
func (r credentialReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rc := &registryv1alpha1.RegistryCredential{}
	if err := r.Client.Get(ctx, req.NamespacedName, rc); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(ctx, req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !rc.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, rc)
	}
	if !controllerutil.ContainsFinalizer(rc, Finalizer) {
		// The pair controller starts on this RegistryCredential once it sees
		// the finalizer, so nothing is ever made that deletion would miss.
		patch := client.MergeFromWithOptions(rc.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(rc, Finalizer)
		err := r.Client.Patch(ctx, rc, patch, client.FieldOwner(FieldOwner))
		r.metrics.wrote(kindRegistryCredential, verbPatch, err)
		if err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: conflictRetry}, nil
			}
			return ctrl.Result{}, err
		}
	}
	began := time.Now()
	// a new spec is reported at once; other changes wait for their pace.
	if wait := r.pace.wait(rc.UID, began); wait > 0 && rc.Status.ObservedGeneration == rc.Generation {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	sum, err := r.summarize(ctx, rc)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.pace.observe(rc.UID, began, time.Since(began))
	return ctrl.Result{}, r.writeStatus(ctx, rc, sum)
}

// finalize lets a deleting RegistryCredential go once nothing of it is left:
// the pair controller removes (Delete) or releases (Orphan) what it made in
// each namespace. The cache says when that is done; the API server is asked
// once more before the finalizer goes, so a write the cache has not shown
// yet is not left behind.
func (r credentialReconciler) finalize(ctx context.Context, rc *registryv1alpha1.RegistryCredential) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(rc, Finalizer) {
		return ctrl.Result{}, nil
	}
	held, err := r.heldNamespaces(ctx, rc.UID)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(held) > 0 {
		return ctrl.Result{}, nil // their changes wake this again
	}
	left, err := r.leftovers(ctx, rc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if left > 0 {
		return ctrl.Result{RequeueAfter: leftoverRecheck}, nil
	}
	patch := client.MergeFromWithOptions(rc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(rc, Finalizer)
	err = r.Client.Patch(ctx, rc, patch, client.FieldOwner(FieldOwner))
	r.metrics.wrote(kindRegistryCredential, verbPatch, err)
	if err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	logf.FromContext(ctx).Info("deleted", "deletionPolicy", rc.Spec.DeletionPolicy)
	r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, registryv1alpha1.ReasonDeleting, "Delete",
		"deletionPolicy %s: every copy and ServiceAccount entry handled", rc.Spec.DeletionPolicy)
	r.forget(ctx, rc.Name)
	return ctrl.Result{}, nil
}

// leftoversPage is the page size of the API server lists in leftovers.
const leftoversPage = 500

// leftovers counts, on the API server, the copies rc controls and the
// ServiceAccounts that hold its record (metadata only, in pages).
func (r credentialReconciler) leftovers(ctx context.Context, rc *registryv1alpha1.RegistryCredential) (int, error) {
	n := 0
	count := func(kind string, opts ...client.ListOption) error {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind + "List"))
		cont := ""
		for {
			if err := r.APIReader.List(ctx, list, append(opts, client.Limit(leftoversPage), client.Continue(cont))...); err != nil {
				return err
			}
			for i := range list.Items {
				m := &list.Items[i]
				if kind == "Secret" && owns(rc, m) {
					n++
				}
				if kind == "ServiceAccount" {
					for _, uid := range recordedUIDs(m.Annotations) {
						if types.UID(uid) == rc.UID {
							n++
						}
					}
				}
			}
			if cont = list.Continue; cont == "" {
				return nil
			}
		}
	}
	// copies carry LabelCredential; it narrows the list, ownership decides.
	if err := count("Secret", client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(labels.Set{LabelCredential: rc.Name})}); err != nil {
		return 0, err
	}
	if err := count("ServiceAccount"); err != nil {
		return 0, err
	}
	return n, nil
}

// forget drops what the process keeps about RegistryCredentials that are
// gone.
func (o *Operator) forget(ctx context.Context, name string) {
	o.metrics.forget(name)
	o.refresh(ctx, name)
	live := map[types.UID]bool{}
	for _, c := range o.Credentials.All() {
		live[c.UID] = true
	}
	isLive := func(uid types.UID) bool { return live[uid] }
	o.failures.retain(isLive)
	o.pace.retain(isLive)
	o.sources.retain(isLive)
	o.metrics.retain(isLive)
}
