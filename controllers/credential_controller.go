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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
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

// CredentialControllerName is the name of the controller whose work item is
// one RegistryCredential (in its metrics and logs).
const CredentialControllerName = "registrycredential"

// credentialReconciler owns a RegistryCredential's finalizer and status,
// and what it keeps in process for them: its source checks and the
// propagation timers (metrics).
type credentialReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads what is left of a deleting RegistryCredential before
	// its finalizer goes.
	APIReader        client.Reader
	Recorder         events.EventRecorder
	SourceNamespaces []string

	mapper *mapper
	// failures is the pair controller's failure book, read for the status.
	failures failureReader
	metrics  *credentialMetrics
	// pairKeys asks the pair controller for work items.
	pairKeys *keyPipe[pairKey]

	sources sourceLoader
	// checks holds the check controller's outcomes, read for the status;
	// checksOff says the operator runs without checks.
	checks    *checkResults
	checksOff bool
	// pulls is the pull controller's book, read for the status (nil: pulls
	// are not traced).
	pulls *pullBook
}

func (r *credentialReconciler) setup(mgr ctrl.Manager, workers int, statusKeys *keyPipe[reconcile.Request]) error {
	r.sources = sourceLoader{reader: r.Client, namespaces: r.SourceNamespaces}
	return ctrl.NewControllerManagedBy(mgr).
		Named(CredentialControllerName).
		Watches(&registryv1alpha1.RegistryCredential{}, r.mapper.credentialsOnCredential()).
		Watches(namespaceObject(), r.mapper.credentialsOnNamespace()).
		Watches(&corev1.ServiceAccount{}, r.mapper.credentialsOnServiceAccount()).
		Watches(&corev1.Secret{}, r.mapper.credentialsOnSecret()).
		WatchesRawSource(crsource.TypedChannel(statusKeys.ch, handler.TypedFuncs[reconcile.Request, reconcile.Request]{
			GenericFunc: func(_ context.Context, e event.TypedGenericEvent[reconcile.Request], q credentialQueue) {
				summaryLater(q, e.Object.Name)
			},
		})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: workers,
			RateLimiter:             rateLimiter[reconcile.Request](),
		}).
		Complete(r)
}

// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile adds the finalizer, summarises the RegistryCredential's
// namespaces into its status, and, once it is being deleted and nothing of
// it is left, lets it go.
func (r *credentialReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rc := &registryv1alpha1.RegistryCredential{}
	if err := r.Client.Get(ctx, req.NamespacedName, rc); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
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
			return ctrl.Result{}, err // a conflict too: retried with back-off
		}
	}
	sum, err := r.summarize(ctx, rc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeStatus(ctx, rc, sum); err != nil {
		return ctrl.Result{}, err
	}
	if sum.inFlight > 0 {
		// writes made or queued that the cache has not shown yet: look again
		// (their echoes usually ask first).
		return ctrl.Result{RequeueAfter: statusSpacing}, nil
	}
	return ctrl.Result{}, nil
}

// finalize lets a deleting RegistryCredential go once nothing of it is left:
// the pair controller removes (Delete) or releases (Orphan) what it made in
// each namespace. The cache says when that is done; the API server is asked
// once more before the finalizer goes, so a write the cache has not shown
// yet, or a copy of ours the cache does not hold (its labels changed), is
// not left behind: their namespaces go to the pair controller.
func (r *credentialReconciler) finalize(ctx context.Context, rc *registryv1alpha1.RegistryCredential) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(rc, Finalizer) {
		return ctrl.Result{}, nil
	}
	held, err := r.mapper.heldNamespaces(ctx, rc.UID)
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
	if len(left) > 0 {
		for _, ns := range left {
			r.pairKeys.offer(pairKey{Credential: rc.Name, Namespace: ns})
		}
		// back off while they are handled (or the cache catches up).
		return ctrl.Result{}, fmt.Errorf("%d namespace(s) still hold a copy or ServiceAccount entry of this RegistryCredential that the cache does not show (%s); handing them to the pair controller", len(left), truncate(fmt.Sprint(left), 200))
	}
	patch := client.MergeFromWithOptions(rc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(rc, Finalizer)
	err = r.Client.Patch(ctx, rc, patch, client.FieldOwner(FieldOwner))
	r.metrics.wrote(kindRegistryCredential, verbPatch, err)
	if err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	logf.FromContext(ctx).Info("deleted", "deletionPolicy", rc.Spec.DeletionPolicy)
	r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, registryv1alpha1.ReasonDeleting, "Delete",
		"deletionPolicy %s: every copy and ServiceAccount entry handled", rc.Spec.DeletionPolicy)
	r.forget(rc.Name)
	return ctrl.Result{}, nil
}

// leftoversPage is the page size of the API server lists in leftovers.
const leftoversPage = 500

// leftovers lists, on the API server, the namespaces that hold a copy rc
// controls or a ServiceAccount with its record (metadata only, in pages).
// Copies are found by our credential label and by the copy's name (either
// can have been changed); ownership decides.
func (r *credentialReconciler) leftovers(ctx context.Context, rc *registryv1alpha1.RegistryCredential) ([]string, error) {
	found := map[string]bool{}
	list := func(kind string, match func(*metav1.PartialObjectMetadata) bool, opts ...client.ListOption) error {
		l := &metav1.PartialObjectMetadataList{}
		l.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind + "List"))
		cont := ""
		for {
			if err := r.APIReader.List(ctx, l, append(opts, client.Limit(leftoversPage), client.Continue(cont))...); err != nil {
				return err
			}
			for i := range l.Items {
				if match(&l.Items[i]) {
					found[l.Items[i].Namespace] = true
				}
			}
			if cont = l.Continue; cont == "" {
				return nil
			}
		}
	}
	ours := func(m *metav1.PartialObjectMetadata) bool { return owns(rc, m) }
	if err := list("Secret", ours, client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(labels.Set{LabelCredential: rc.Name})}); err != nil {
		return nil, err
	}
	if err := list("Secret", ours, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", rc.TargetName())}); err != nil {
		return nil, err
	}
	recorded := func(m *metav1.PartialObjectMetadata) bool {
		return slices.Contains(recordedUIDs(m.Annotations), string(rc.UID))
	}
	if err := list("ServiceAccount", recorded); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(found))
	for ns := range found {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out, nil
}

// forget drops what the controller keeps of the named RegistryCredential.
func (r *credentialReconciler) forget(name string) {
	r.sources.checks.forget(name)
	r.checks.forget(name)
	if r.pulls != nil {
		r.pulls.forgetCredential(name)
	}
	r.metrics.forget(name)
}
