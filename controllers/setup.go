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
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/regcred/regcred-operator/internal/credset"
)

// Options configure the two controllers.
type Options struct {
	// SourceNamespaces are the namespaces sources may live in ("*": any).
	SourceNamespaces []string
	// PairWorkers is how many (credential, namespace) work items run at once:
	// the writes in flight during a fan-out or rotation.
	PairWorkers int
	// CredentialWorkers is how many RegistryCredentials are summarised at once.
	CredentialWorkers int
	// Credentials is the compiled snapshot of RegistryCredentials shared with
	// the Pod webhook, used here as a memo of compiled specs; nil: the
	// controllers follow one of their own.
	Credentials *credset.Set
	// ConflictRecheck is how often a namespace where a foreign Secret holds the
	// copy's name is looked at again (default one minute): foreign Secrets are
	// not cached, so their deletion cannot be watched.
	ConflictRecheck time.Duration
	// CheckCredentials turns on the credential checks against registries
	// (the CredentialsVerified condition); off, the condition says so.
	CheckCredentials bool
	// CheckWorkers is how many checks run at once (one per registry at most).
	CheckWorkers int
	// TracePullFailures watches Pods (a projection of them, see projectPod)
	// and traces failed pulls to RegistryCredentials (status.pullFailures).
	TracePullFailures bool
	// RepairEvictionsPerMinute bounds the evictions of
	// spec.repair.restartPodsNotReferenced, over all RegistryCredentials
	// (default 30).
	RepairEvictionsPerMinute int
	// PodWebhook says this process serves the Pod webhook, so a Pod made
	// again after a repair gets the copy from it.
	PodWebhook bool
}

// defaultRepairEvictionsPerMinute: see Options.RepairEvictionsPerMinute.
const defaultRepairEvictionsPerMinute = 30

// Timing of work items.
const (
	// statusSpacing is how long a RegistryCredential's status summary waits
	// after a change that concerns it: a burst of changes (a fan-out's
	// thousands of watch events) makes one summary per statusSpacing, not
	// one per change. It is also how soon a summary that found namespaces
	// still in flight looks again.
	statusSpacing = time.Second
	// conflictRetry is the first step of a failing work item's back-off, and
	// how soon a pair item that wrote looks again, to see its writes in the
	// cache (see writeBook).
	conflictRetry = 100 * time.Millisecond
	// defaultConflictRecheck: see Options.ConflictRecheck.
	defaultConflictRecheck = time.Minute
	// maxBackoff caps a failing work item's back-off, so that after an outage
	// of the API server every item is retried within it.
	maxBackoff = 4 * time.Second
)

// SetupWithManager registers the field indexes and both controllers:
//
//   - the credential controller (credential_controller.go), one work item per
//     RegistryCredential, owns the finalizer and the status;
//   - the pair controller (pair_controller.go), one work item per
//     RegistryCredential and namespace, is the only writer of copies and
//     ServiceAccount entries.
//
// Each owns its state. They pass each other work item keys only: the pair
// controller asks for a status summary when a namespace's outcome changes,
// and the credential controller asks for pair work items when its finalizer
// finds something of its own that the cache does not show. watches.go maps
// the cluster's events to both controllers' keys.
func SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	_, _, err := setupControllers(ctx, mgr, opts)
	return err
}

func setupControllers(ctx context.Context, mgr ctrl.Manager, opts Options) (*pairReconciler, *credentialReconciler, error) {
	if err := setupIndexes(ctx, mgr); err != nil {
		return nil, nil, err
	}
	if opts.Credentials == nil {
		opts.Credentials = &credset.Set{Reader: mgr.GetCache()}
		if err := opts.Credentials.Follow(ctx, mgr.GetCache()); err != nil {
			return nil, nil, err
		}
	}
	if opts.ConflictRecheck <= 0 {
		opts.ConflictRecheck = defaultConflictRecheck
	}
	m := &mapper{Client: mgr.GetClient(), Credentials: opts.Credentials}
	statusKeys := newKeyPipe[reconcile.Request]()
	pairKeys := newKeyPipe[pairKey]()
	metrics := newCredentialMetrics()
	pairs := &pairReconciler{
		Client:           mgr.GetClient(),
		APIReader:        mgr.GetAPIReader(),
		SourceNamespaces: opts.SourceNamespaces,
		ConflictRecheck:  opts.ConflictRecheck,
		mapper:           m,
		metrics:          metrics,
		statusKeys:       statusKeys,
	}
	if err := pairs.setup(mgr, max(opts.PairWorkers, 1), pairKeys); err != nil {
		return nil, nil, err
	}
	checks := newCheckResults()
	if opts.CheckCredentials {
		checker := &checkReconciler{
			Client:           mgr.GetClient(),
			APIReader:        mgr.GetAPIReader(),
			Recorder:         mgr.GetEventRecorder("regcred-operator"),
			SourceNamespaces: opts.SourceNamespaces,
			results:          checks,
			gates:            newRegistryGates(),
			statusKeys:       statusKeys,
			mapper:           m,
		}
		if err := checker.setup(mgr, max(opts.CheckWorkers, 1)); err != nil {
			return nil, nil, err
		}
	}
	var pulls *pullBook
	if opts.TracePullFailures {
		perMinute := opts.RepairEvictionsPerMinute
		if perMinute <= 0 {
			perMinute = defaultRepairEvictionsPerMinute
		}
		pulls = newPullBook(maxTracedPods)
		tracer := &pullReconciler{
			Client:           mgr.GetClient(),
			APIReader:        mgr.GetAPIReader(),
			Recorder:         mgr.GetEventRecorder("regcred-operator"),
			SourceNamespaces: opts.SourceNamespaces,
			PodWebhook:       opts.PodWebhook,
			mapper:           m,
			book:             pulls,
			statusKeys:       statusKeys,
			evictions:        rate.NewLimiter(rate.Limit(float64(perMinute)/60), max(1, perMinute/10)),
			metrics:          metrics,
		}
		if err := tracer.setup(ctx, mgr); err != nil {
			return nil, nil, err
		}
	}
	creds := &credentialReconciler{
		Client:           mgr.GetClient(),
		APIReader:        mgr.GetAPIReader(),
		Recorder:         mgr.GetEventRecorder("regcred-operator"),
		SourceNamespaces: opts.SourceNamespaces,
		mapper:           m,
		failures:         &pairs.failures,
		metrics:          metrics,
		pairKeys:         pairKeys,
		checks:           checks,
		checksOff:        !opts.CheckCredentials,
		pulls:            pulls,
	}
	return pairs, creds, creds.setup(mgr, max(opts.CredentialWorkers, 1), statusKeys)
}

// rateLimiter backs off per item from 100 ms (a conflict is retried soon)
// to maxBackoff, with an overall bucket against storms.
func rateLimiter[T comparable]() workqueue.TypedRateLimiter[T] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[T](conflictRetry, maxBackoff),
		&workqueue.TypedBucketRateLimiter[T]{Limiter: rate.NewLimiter(rate.Limit(50), 300)},
	)
}

// keyPipeSize bounds the keys one controller hands the other and the other
// has not queued yet.
const keyPipeSize = 4096

// keyPipe carries work item keys from one controller to the other's queue
// (a channel source). offer never blocks: when the pipe is full it says so,
// and the caller falls back on a requeue of its own.
type keyPipe[K comparable] struct {
	ch chan event.TypedGenericEvent[K]
}

func newKeyPipe[K comparable]() *keyPipe[K] {
	return &keyPipe[K]{ch: make(chan event.TypedGenericEvent[K], keyPipeSize)}
}

// offer hands k over unless the pipe is full.
func (p *keyPipe[K]) offer(k K) bool {
	select {
	case p.ch <- event.TypedGenericEvent[K]{Object: k}:
		return true
	default:
		return false
	}
}
