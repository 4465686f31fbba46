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
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/selection"
)

// statusDelay is how long a whole pass that only brings the status counts up
// to date waits, so a burst of changes (new namespaces, the watch echoes of
// our own writes) makes one pass over all namespaces, not one per change.
// Work that changes something in the cluster is never delayed.
const statusDelay = time.Second

// queue is the controller's work queue as the event handlers see it.
type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// wholePass is the work item of a RegistryCredential's whole pass.
func wholePass(name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}
}

// namespaceItem is the per-namespace work item (see Reconcile).
func namespaceItem(name, namespace string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}
}

// eventHandler adapts fn, which adds to the queue itself (some work right
// away, status-only passes after statusDelay), to every kind of event. For
// updates fn sees the new object, and only when changed says it matters.
func eventHandler[T client.Object](fn func(ctx context.Context, obj T, created, deleted bool, q queue), changed func(old, new T) bool) handler.TypedEventHandler[client.Object, reconcile.Request] {
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q queue) {
			if o, ok := e.Object.(T); ok {
				fn(ctx, o, true, false, q)
			}
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q queue) {
			o, okOld := e.ObjectOld.(T)
			n, okNew := e.ObjectNew.(T)
			if okOld && okNew && (changed == nil || changed(o, n)) {
				fn(ctx, n, false, false, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q queue) {
			if o, ok := e.Object.(T); ok {
				fn(ctx, o, false, true, q)
			}
		},
	}
}

// onNamespace: a namespace appeared, went, or changed labels or lifecycle.
// Every RegistryCredential may gain or lose it: its per-namespace work item
// serves it at once, or hands it to the whole pass. A namespace that is
// terminating or gone concerns only the status.
func (r *RegistryCredentialReconciler) onNamespace(ctx context.Context, ns *corev1.Namespace, created, deleted bool, q queue) {
	rcs := r.listCredentials(ctx)
	// (not the namespaces an informer lists at start)
	if created && len(rcs) > 0 && time.Since(ns.CreationTimestamp.Time) < 2*time.Second {
		r.fresh.Store(ns.Name, time.Now())
	}
	for _, rc := range rcs {
		if deleted || selection.Terminating(ns) {
			q.AddAfter(wholePass(rc.Name), statusDelay)
			continue
		}
		q.Add(namespaceItem(rc.Name, ns.Name))
	}
}

// onServiceAccount: a ServiceAccount appeared, changed its imagePullSecrets
// or our records, or went. Only a ServiceAccount that needs a write gets a
// per-namespace work item; the echo of our own patch, or an account that
// already lists the secret, changes at most the status counts.
func (r *RegistryCredentialReconciler) onServiceAccount(ctx context.Context, sa *corev1.ServiceAccount, created, deleted bool, q queue) {
	ns := &corev1.Namespace{}
	nsErr := r.Get(ctx, types.NamespacedName{Name: sa.Namespace}, ns, client.UnsafeDisableDeepCopy) // read only
	rcs := r.listCredentials(ctx)
	for i := range rcs {
		rc := &rcs[i]
		_, recorded := sa.Annotations[AddedByAnnotation(rc.Name)]
		serves := false
		if nsErr == nil {
			sel, err := r.selector(rc)
			serves = err == nil && sel.Serves(ns)
		}
		switch {
		case deleted:
			if serves || recorded || nsErr != nil {
				q.AddAfter(wholePass(rc.Name), statusDelay) // counts only
			}
		case nsErr != nil:
			q.Add(namespaceItem(rc.Name, sa.Namespace)) // let the reconcile decide
		case serves:
			want := selection.ServiceAccountSelected(&rc.Spec, sa.Name)
			if planServiceAccount(sa, rc.Name, rc.TargetName(), want) != nil {
				q.Add(namespaceItem(rc.Name, sa.Namespace))
			} else if created && want {
				q.AddAfter(wholePass(rc.Name), statusDelay)
			}
		case recorded:
			q.Add(namespaceItem(rc.Name, sa.Namespace)) // withdraw our entry
		}
	}
}

// onSecret: a source concerns the RegistryCredentials that reference it, at
// once (rotation). A copy concerns the RegistryCredential named in its label:
// one that drifted or went is repaired by its per-namespace work item, the
// echo of our own write changes at most the status; and, when it goes, every
// RegistryCredential that wants the same name there (it may have been in
// conflict).
func (r *RegistryCredentialReconciler) onSecret(ctx context.Context, s *corev1.Secret, _, deleted bool, q queue) {
	if s.Labels[LabelManagedBy] != ManagedByValue {
		for _, rc := range r.listCredentials(ctx, client.MatchingFields{sourceIndex: s.Namespace + "/" + s.Name}) {
			q.Add(wholePass(rc.Name))
		}
		return
	}
	owner := s.Labels[LabelCredential]
	for _, rc := range r.listCredentials(ctx, client.MatchingFields{targetIndex: s.Name}) {
		switch {
		case rc.Name == owner:
		case deleted:
			q.Add(namespaceItem(rc.Name, s.Namespace))
		default:
			q.AddAfter(wholePass(rc.Name), statusDelay) // it may be in conflict there now
		}
	}
	if owner == "" {
		return
	}
	if deleted || r.copyNeedsWork(ctx, s, owner) {
		q.Add(namespaceItem(owner, s.Namespace))
		return
	}
	q.AddAfter(wholePass(owner), statusDelay)
}

// copyNeedsWork reports whether the copy (as the cache holds it) differs from
// what its RegistryCredential would write now; true when that cannot be told.
func (r *RegistryCredentialReconciler) copyNeedsWork(ctx context.Context, s *corev1.Secret, owner string) bool {
	rc := &registryv1alpha1.RegistryCredential{}
	if err := r.Get(ctx, types.NamespacedName{Name: owner}, rc, client.UnsafeDisableDeepCopy); err != nil { // read only
		return true
	}
	if s.Name != rc.TargetName() {
		return true // a stale name: the whole pass removes it
	}
	src, _, _, err := r.source(ctx, rc)
	switch {
	case err != nil:
		return true
	case src == nil:
		return false // an unusable source leaves the copies alone; the status says why
	}
	return copyDrift(s, rc, src.Type, r.sourceHash(src)) != ""
}

// freshNamespaceHold is how long after its creation event a namespace waits
// for its copy. kube-apiserver's NamespaceLifecycle admission holds any
// create for 50 ms when its own namespace informer has not seen the
// namespace yet; our watch can be a millisecond or two ahead of it.
const freshNamespaceHold = 5 * time.Millisecond

// freshHold is how much longer the namespace's work items should wait (see
// freshNamespaceHold); 0 once it is old enough, and it is then forgotten.
func (r *RegistryCredentialReconciler) freshHold(namespace string) time.Duration {
	v, ok := r.fresh.Load(namespace)
	if !ok {
		return 0
	}
	if d := freshNamespaceHold - time.Since(v.(time.Time)); d > 0 {
		return d
	}
	r.fresh.Delete(namespace)
	return 0
}

// selector is the compiled namespace selection of rc, remembered per
// RegistryCredential and generation.
func (r *RegistryCredentialReconciler) selector(rc *registryv1alpha1.RegistryCredential) (*selection.Selector, error) {
	if v, ok := r.selectors.Load(rc.UID); ok {
		if c := v.(compiledSelector); c.generation == rc.Generation {
			return c.sel, c.err
		}
	}
	sel, err := selection.New(&rc.Spec)
	r.selectors.Store(rc.UID, compiledSelector{generation: rc.Generation, sel: sel, err: err})
	return sel, err
}

type compiledSelector struct {
	generation int64
	sel        *selection.Selector
	err        error
}

// sourceHash is contentHash of the source, remembered for its current
// version: every copy event and work item asks for it.
func (r *RegistryCredentialReconciler) sourceHash(src *corev1.Secret) string {
	key := string(src.UID) + "/" + src.ResourceVersion
	if v, ok := r.hashes.Load(key); ok {
		return v.(string)
	}
	h := contentHash(src.Type, src.Data)
	if n := r.hashCount.Add(1); n > 1024 { // bounded: start over
		r.hashes.Clear()
		r.hashCount.Store(0)
	}
	r.hashes.Store(key, h)
	return h
}

func (r *RegistryCredentialReconciler) listCredentials(ctx context.Context, opts ...client.ListOption) []registryv1alpha1.RegistryCredential {
	list := &registryv1alpha1.RegistryCredentialList{}
	if err := r.List(ctx, list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		logf.FromContext(ctx).Error(err, "listing RegistryCredentials for an event failed; the event is dropped")
		return nil
	}
	return list.Items
}
