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
	"maps"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/selection"
)

// Field indexes.
const (
	// sourceIndex indexes RegistryCredentials by "namespace/name" of their source.
	sourceIndex = "spec.secretRef"
	// targetIndex indexes RegistryCredentials by the name of their copies.
	targetIndex = "spec.targetSecretName"
	// serviceAccountIndex indexes ServiceAccounts by the RegistryCredentials
	// that recorded an entry on them.
	serviceAccountIndex = "regcred.addedBy"
)

// ConfigureRESTClient sets the operator's client-side rate limit and user
// agent, and protobuf for built-in types (Secrets, ServiceAccounts,
// Namespaces): less CPU on both sides than JSON; controller-runtime falls
// back to JSON for the RegistryCredential CRD. A negative qps turns the
// client-side limit off.
func ConfigureRESTClient(cfg *rest.Config, qps float64, burst int) {
	cfg.QPS = float32(qps)
	cfg.Burst = burst
	cfg.UserAgent = "regcred-operator"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
}

// Options tune the controller.
type Options struct {
	// MaxConcurrentReconciles is how many RegistryCredentials are reconciled at once.
	MaxConcurrentReconciles int
}

// SetupIndexes registers the field indexes the controller and the webhook use.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &registryv1alpha1.RegistryCredential{}, sourceIndex, func(o client.Object) []string {
		return []string{sourceKey(o.(*registryv1alpha1.RegistryCredential))}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &registryv1alpha1.RegistryCredential{}, targetIndex, func(o client.Object) []string {
		return []string{o.(*registryv1alpha1.RegistryCredential).TargetName()}
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &corev1.ServiceAccount{}, serviceAccountIndex, func(o client.Object) []string {
		return addedByCredentials(o.(*corev1.ServiceAccount))
	})
}

// SetupWithManager wires the controller: RegistryCredentials themselves
// (spec changes and deletion only, so status writes do not wake it), and
// Namespaces, ServiceAccounts, sources and copies mapped to the
// RegistryCredentials they concern.
func (r *RegistryCredentialReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if err := SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	r.metrics = newCredentialMetrics()
	r.wake = make(chan event.TypedGenericEvent[client.Object], 1024)
	return ctrl.NewControllerManagedBy(mgr).
		Named("registrycredential").
		For(&registryv1alpha1.RegistryCredential{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, deletionPredicate()),
		)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.mapNamespace),
			builder.WithPredicates(namespacePredicate())).
		Watches(&corev1.ServiceAccount{}, handler.EnqueueRequestsFromMapFunc(r.mapServiceAccount),
			builder.WithPredicates(serviceAccountPredicate())).
		// a ServiceAccount that went changes only the status counts.
		Watches(&corev1.ServiceAccount{}, handler.EnqueueRequestsFromMapFunc(r.mapServiceAccountDeleted),
			builder.WithPredicates(deletedOnly())).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.mapSecret),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(opts.MaxConcurrentReconciles, 1),
			RateLimiter:             rateLimiter(),
		}).
		Complete(r)
}

// rateLimiter backs off per item from 100 ms (a conflict is retried soon)
// to 5 minutes, with an overall bucket against storms.
func rateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](100*time.Millisecond, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(50), 300)},
	)
}

func deletionPredicate() predicate.Funcs {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !e.ObjectNew.GetDeletionTimestamp().IsZero()
		},
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// namespacePredicate passes creations, deletions and changes of labels or
// lifecycle.
func namespacePredicate() predicate.Funcs {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.(*corev1.Namespace), e.ObjectNew.(*corev1.Namespace)
			return !maps.Equal(o.Labels, n.Labels) || selection.Terminating(o) != selection.Terminating(n)
		},
	}
}

// serviceAccountPredicate passes creations, deletions and changes of
// imagePullSecrets or of our records.
func serviceAccountPredicate() predicate.Funcs {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.(*corev1.ServiceAccount), e.ObjectNew.(*corev1.ServiceAccount)
			if len(o.ImagePullSecrets) != len(n.ImagePullSecrets) || !maps.Equal(o.Annotations, n.Annotations) {
				return true
			}
			for i := range o.ImagePullSecrets {
				if o.ImagePullSecrets[i] != n.ImagePullSecrets[i] {
					return true
				}
			}
			return false
		},
	}
}

func (r *RegistryCredentialReconciler) listCredentials(ctx context.Context, opts ...client.ListOption) []registryv1alpha1.RegistryCredential {
	list := &registryv1alpha1.RegistryCredentialList{}
	if err := r.List(ctx, list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		logf.FromContext(ctx).Error(err, "listing RegistryCredentials for an event failed; the event is dropped")
		return nil
	}
	return list.Items
}

func requestsFor(items []registryv1alpha1.RegistryCredential, keep func(*registryv1alpha1.RegistryCredential) bool) []reconcile.Request {
	var out []reconcile.Request
	for i := range items {
		if keep == nil || keep(&items[i]) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: items[i].Name}})
		}
	}
	return out
}

// namespaceRequests are per-namespace work items (see Reconcile).
func namespaceRequests(items []registryv1alpha1.RegistryCredential, ns string, keep func(*registryv1alpha1.RegistryCredential) bool) []reconcile.Request {
	reqs := requestsFor(items, keep)
	for i := range reqs {
		reqs[i].Namespace = ns
	}
	return reqs
}

// mapNamespace: a namespace appeared, went, or changed labels. Every
// RegistryCredential may gain or lose it: its per-namespace work item serves
// it at once, or hands it to the whole pass. A namespace that went concerns
// only the status.
func (r *RegistryCredentialReconciler) mapNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	ns := o.(*corev1.Namespace)
	items := r.listCredentials(ctx)
	if selection.Terminating(ns) {
		return requestsFor(items, nil)
	}
	return namespaceRequests(items, ns.Name, nil)
}

// mapServiceAccount: the RegistryCredentials that serve the namespace, and
// those that recorded an entry on this ServiceAccount.
func (r *RegistryCredentialReconciler) mapServiceAccount(ctx context.Context, o client.Object) []reconcile.Request {
	sa := o.(*corev1.ServiceAccount)
	ns := &corev1.Namespace{}
	nsErr := r.Get(ctx, types.NamespacedName{Name: sa.Namespace}, ns)
	recorded := addedByCredentials(sa)
	return namespaceRequests(r.listCredentials(ctx), sa.Namespace, func(rc *registryv1alpha1.RegistryCredential) bool {
		for _, name := range recorded {
			if name == rc.Name {
				return true
			}
		}
		if nsErr != nil {
			return true // be safe: let the reconcile decide
		}
		sel, err := selection.New(&rc.Spec)
		return err != nil || sel.Serves(ns)
	})
}

// mapServiceAccountDeleted: the RegistryCredentials that serve the
// namespace or recorded an entry, as whole passes.
func (r *RegistryCredentialReconciler) mapServiceAccountDeleted(ctx context.Context, o client.Object) []reconcile.Request {
	reqs := r.mapServiceAccount(ctx, o)
	for i := range reqs {
		reqs[i].Namespace = ""
	}
	return reqs
}

func deletedOnly() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// mapSecret: a copy concerns the RegistryCredential named in its label and,
// when it goes, any other that wants the same name (it may have been in
// conflict); a source concerns the RegistryCredentials that reference it.
func (r *RegistryCredentialReconciler) mapSecret(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetLabels()[LabelManagedBy] == ManagedByValue {
		reqs := requestsFor(r.listCredentials(ctx, client.MatchingFields{targetIndex: o.GetName()}), nil)
		if owner := o.GetLabels()[LabelCredential]; owner != "" {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: owner}})
		}
		return reqs
	}
	return requestsFor(r.listCredentials(ctx, client.MatchingFields{sourceIndex: o.GetNamespace() + "/" + o.GetName()}), nil)
}
