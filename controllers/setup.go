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

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/credset"
)

// Operator is the RegistryCredential operator: two controllers that share
// the manager's cache, the compiled credentials and the failure book.
//
//   - The credential controller (credential_controller.go), one work item per
//     RegistryCredential, owns the finalizer and the status.
//   - The pair controller (pair_controller.go), one work item per
//     RegistryCredential and namespace, is the only writer of copies and
//     ServiceAccount entries.
//
// watches.go decides which events queue which work items.
type Operator struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server directly: a Secret that holds a
	// copy's name but is not cached, and what is left before the finalizer
	// goes.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Credentials is the compiled snapshot of RegistryCredentials shared with
	// the Pod webhook; nil: the operator keeps its own.
	Credentials *credset.Set
	// SourceNamespaces are the namespaces sources may live in ("*": any).
	SourceNamespaces []string
	// PairWorkers is how many (credential, namespace) work items run at once:
	// the writes in flight during a fan-out or rotation.
	PairWorkers int
	// CredentialWorkers is how many RegistryCredentials are summarised at once.
	CredentialWorkers int
	// ConflictRecheck is how often a namespace where a foreign Secret holds the
	// copy's name is looked at again (default one minute): foreign Secrets are
	// not cached, so their deletion cannot be watched.
	ConflictRecheck time.Duration

	sources  sourceChecks
	failures failureBook
	pace     statusPace
	metrics  *credentialMetrics
	// statusWake carries the names of RegistryCredentials whose failure book
	// entries changed, from the pair controller to the credential
	// controller's queue.
	statusWake chan event.TypedGenericEvent[string]
}

// Timing of work items.
const (
	// statusDelay is the least time between two status summaries of one
	// RegistryCredential, so a burst of changes (a fan-out's thousands of
	// watch events) makes a few summaries, not one per change; longer for a
	// RegistryCredential whose summaries are expensive (statusPace).
	statusDelay = time.Second
	// conflictRetry is how soon a work item whose optimistic lock failed (the
	// cache was behind the object) runs again, as cluster-api does.
	conflictRetry = 100 * time.Millisecond
	// defaultConflictRecheck: see Operator.ConflictRecheck.
	defaultConflictRecheck = time.Minute
	// freshNamespaceHold delays the first work item of a namespace created a
	// moment ago. kube-apiserver's NamespaceLifecycle admission holds a create
	// in a namespace its own informer has not seen yet for 50 ms
	// (missingNamespaceWait in k8s.io/apiserver's lifecycle plugin); our watch
	// can be a millisecond or two ahead of that informer, and a copy created
	// then waits the whole 50 ms. The bench's new-namespace row measures it.
	freshNamespaceHold = 5 * time.Millisecond
	// freshNamespaceAge is how recently a namespace must have been created
	// (its creationTimestamp, whole seconds) for freshNamespaceHold to apply.
	freshNamespaceAge = 2 * time.Second
)

// SetupWithManager registers the field indexes and both controllers.
func (o *Operator) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := o.setupIndexes(ctx, mgr); err != nil {
		return err
	}
	// Every informer the event handlers read exists before any handler runs
	// (the cache refuses reads of a type it has no informer for; reads of one
	// it has wait until it has synced).
	for _, obj := range []client.Object{&registryv1alpha1.RegistryCredential{}, &corev1.Namespace{}, &corev1.ServiceAccount{}, &corev1.Secret{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
			return err
		}
	}
	if o.Credentials == nil {
		o.Credentials = &credset.Set{Reader: mgr.GetCache()}
		if err := o.Credentials.Follow(ctx, mgr.GetCache()); err != nil {
			return err
		}
	}
	if o.ConflictRecheck <= 0 {
		o.ConflictRecheck = defaultConflictRecheck
	}
	o.metrics = newCredentialMetrics()
	o.statusWake = make(chan event.TypedGenericEvent[string])
	if err := o.setupPairController(mgr); err != nil {
		return err
	}
	return o.setupCredentialController(mgr)
}

// maxBackoff caps a failing work item's back-off, so that after an outage of
// the API server every item is retried within it.
const maxBackoff = 30 * time.Second

// rateLimiter backs off per item from 100 ms (a conflict is retried soon)
// to maxBackoff, with an overall bucket against storms.
func rateLimiter[T comparable]() workqueue.TypedRateLimiter[T] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[T](100*time.Millisecond, maxBackoff),
		&workqueue.TypedBucketRateLimiter[T]{Limiter: rate.NewLimiter(rate.Limit(50), 300)},
	)
}

// wakeStatus asks the credential controller for a status summary of the
// named RegistryCredential, unless ctx ends first.
func (o *Operator) wakeStatus(ctx context.Context, name string) {
	select {
	case o.statusWake <- event.TypedGenericEvent[string]{Object: name}:
	case <-ctx.Done():
	}
}
