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
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
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
	return ctrl.NewControllerManagedBy(mgr).
		Named("registrycredential").
		For(&registryv1alpha1.RegistryCredential{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, deletionPredicate()),
		)).
		Watches(&corev1.Namespace{}, eventHandler(r.onNamespace, namespaceChanged)).
		Watches(&corev1.ServiceAccount{}, eventHandler(r.onServiceAccount, serviceAccountChanged)).
		Watches(&corev1.Secret{}, eventHandler(r.onSecret, func(o, n *corev1.Secret) bool {
			return o.ResourceVersion != n.ResourceVersion
		})).
		// the queue, for work items that queue whole passes.
		WatchesRawSource(source.Func(func(_ context.Context, q queue) error {
			r.queue.Store(&q)
			return nil
		})).
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

// namespaceChanged: labels or lifecycle changed.
func namespaceChanged(o, n *corev1.Namespace) bool {
	return !maps.Equal(o.Labels, n.Labels) || selection.Terminating(o) != selection.Terminating(n)
}

// serviceAccountChanged: imagePullSecrets or our records changed.
func serviceAccountChanged(o, n *corev1.ServiceAccount) bool {
	if len(o.ImagePullSecrets) != len(n.ImagePullSecrets) || !maps.Equal(o.Annotations, n.Annotations) {
		return true
	}
	for i := range o.ImagePullSecrets {
		if o.ImagePullSecrets[i] != n.ImagePullSecrets[i] {
			return true
		}
	}
	return false
}
