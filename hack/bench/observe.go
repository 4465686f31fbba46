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

package main

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// observer timestamps, from watches, when copies and ServiceAccount entries
// appear. It costs the API server one watch per type, and the bench nothing
// but a map update per event, so it is never what a measurement waits for.
type observer struct {
	target string   // the copy's name
	sas    []string // ServiceAccounts every namespace must have patched

	mu      sync.Mutex
	ns      map[string]*nsState
	waiters map[*waiter]struct{}
	stop    chan struct{}
}

type nsState struct {
	copies    map[string]string              // Secret name -> .dockerconfigjson (our copies only)
	pulls     map[string]map[string]struct{} // ServiceAccount name -> its imagePullSecrets names
	copyAt    time.Time                      // first time a copy named target was seen
	defaultAt time.Time                      // first time the "default" ServiceAccount was seen
	saAt      map[string]time.Time           // ServiceAccount name -> first seen
	entryAt   map[string]time.Time           // ServiceAccount name -> first seen listing target
}

// lists reports whether ServiceAccount sa lists secret.
func (st *nsState) lists(sa, secret string) bool {
	_, ok := st.pulls[sa][secret]
	return ok
}

// waiter waits until pred holds for every namespace in pending, and
// remembers when it first held for each.
type waiter struct {
	pred    func(*nsState) bool
	pending map[string]struct{}
	at      map[string]time.Time
	last    time.Time
	done    chan struct{}
}

func newObserver(target string, sas []string) *observer {
	return &observer{target: target, sas: sas, ns: map[string]*nsState{}, waiters: map[*waiter]struct{}{}, stop: make(chan struct{})}
}

// start runs the informers and waits for their first List.
func (o *observer) start(ctx context.Context, cs kubernetes.Interface) error {
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0)
	// The operator's copies, and the baseline's Secrets too: the API server
	// then streams every Secret write of either to a watcher here, so the
	// baseline pays for the same watch the operator's writes are timed by.
	copies := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
		lo.LabelSelector = labelManagedBy + " in (" + managedByValue + "," + baselineValue + ")"
	}))
	saInf := f.Core().V1().ServiceAccounts().Informer()
	secInf := copies.Core().V1().Secrets().Informer()
	if _, err := saInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.onServiceAccount(obj, false) },
		UpdateFunc: func(_, obj any) { o.onServiceAccount(obj, false) },
		DeleteFunc: func(obj any) { o.onServiceAccount(obj, true) },
	}); err != nil {
		return err
	}
	if _, err := secInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.onSecret(obj, false) },
		UpdateFunc: func(_, obj any) { o.onSecret(obj, false) },
		DeleteFunc: func(obj any) { o.onSecret(obj, true) },
	}); err != nil {
		return err
	}
	f.Start(o.stop)
	copies.Start(o.stop)
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), saInf.HasSynced, secInf.HasSynced) {
		return fmt.Errorf("observer informers did not sync")
	}
	return nil
}

func (o *observer) close() { close(o.stop) }

func unwrap(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func (o *observer) state(ns string) *nsState {
	st := o.ns[ns]
	if st == nil {
		st = &nsState{copies: map[string]string{}, pulls: map[string]map[string]struct{}{}, saAt: map[string]time.Time{}, entryAt: map[string]time.Time{}}
		o.ns[ns] = st
	}
	return st
}

func (o *observer) onServiceAccount(obj any, deleted bool) {
	now := time.Now()
	sa, ok := unwrap(obj).(*corev1.ServiceAccount)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.state(sa.Namespace)
	if deleted {
		delete(st.pulls, sa.Name)
	} else {
		names := make(map[string]struct{}, len(sa.ImagePullSecrets))
		for _, ref := range sa.ImagePullSecrets {
			names[ref.Name] = struct{}{}
		}
		st.pulls[sa.Name] = names
		if sa.Name == "default" && st.defaultAt.IsZero() {
			st.defaultAt = now
		}
		if _, seen := st.saAt[sa.Name]; !seen {
			st.saAt[sa.Name] = now
		}
		if _, listed := names[o.target]; listed {
			if _, seen := st.entryAt[sa.Name]; !seen {
				st.entryAt[sa.Name] = now
			}
		}
	}
	o.changed(sa.Namespace, st, now)
}

func (o *observer) onSecret(obj any, deleted bool) {
	now := time.Now()
	s, ok := unwrap(obj).(*corev1.Secret)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.state(s.Namespace)
	if deleted {
		delete(st.copies, s.Name)
	} else {
		st.copies[s.Name] = string(s.Data[corev1.DockerConfigJsonKey])
		if s.Name == o.target && st.copyAt.IsZero() {
			st.copyAt = now
		}
	}
	o.changed(s.Namespace, st, now)
}

// changed runs with o.mu held.
func (o *observer) changed(ns string, st *nsState, now time.Time) {
	for w := range o.waiters {
		if _, ok := w.pending[ns]; ok && w.pred(st) {
			w.hit(ns, now)
		}
	}
}

func (w *waiter) hit(ns string, now time.Time) {
	delete(w.pending, ns)
	w.at[ns] = now
	if now.After(w.last) {
		w.last = now
	}
	if len(w.pending) == 0 {
		close(w.done)
	}
}

// watch registers a waiter for namespaces; namespaces where pred already
// holds count as done now.
func (o *observer) watch(namespaces []string, pred func(*nsState) bool) *waiter {
	w := &waiter{pred: pred, pending: map[string]struct{}{}, at: map[string]time.Time{}, done: make(chan struct{})}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, ns := range namespaces {
		w.pending[ns] = struct{}{}
	}
	if len(w.pending) == 0 {
		close(w.done)
		return w
	}
	for _, ns := range namespaces {
		if st := o.ns[ns]; st != nil && pred(st) {
			w.hit(ns, now)
		}
	}
	if len(w.pending) > 0 {
		o.waiters[w] = struct{}{}
	}
	return w
}

// wait blocks until the waiter is done (returns when the last namespace got
// there) or timeout; on timeout it says how many are missing.
func (o *observer) wait(ctx context.Context, w *waiter, timeout time.Duration) (time.Time, error) {
	return o.waitLogged(ctx, w, timeout, "")
}

// waitLogged is wait that, for a waiter on more than a thousand namespaces,
// logs every 15 s how many of them are what (e.g. "namespaces synced").
func (o *observer) waitLogged(ctx context.Context, w *waiter, timeout time.Duration, what string) (time.Time, error) {
	defer func() {
		o.mu.Lock()
		delete(o.waiters, w)
		o.mu.Unlock()
	}()
	o.mu.Lock()
	total := len(w.pending) + len(w.at)
	o.mu.Unlock()
	var progress <-chan time.Time
	if what != "" && total > 1000 {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		progress = t.C
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-w.done:
			o.mu.Lock()
			defer o.mu.Unlock()
			return w.last, nil
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-progress:
			o.mu.Lock()
			pending := len(w.pending)
			o.mu.Unlock()
			logf("  %d of %d %s", total-pending, total, what)
		case <-timer.C:
			o.mu.Lock()
			defer o.mu.Unlock()
			var example string
			for ns := range w.pending {
				example = ns
				break
			}
			return time.Time{}, fmt.Errorf("timed out after %s: %d namespace(s) not there yet (e.g. %s: %s)", timeout, len(w.pending), example, o.describe(example))
		}
	}
}

func (o *observer) describe(ns string) string {
	st := o.ns[ns]
	if st == nil {
		return "nothing observed"
	}
	_, hasCopy := st.copies[o.target]
	return fmt.Sprintf("copy=%v serviceAccounts=%v", hasCopy, st.pulls)
}

// synced: the copy exists and every expected ServiceAccount lists it.
func (o *observer) synced(st *nsState) bool { return o.syncedFor(o.target)(st) }

// syncedFor: a copy named secret exists and every expected ServiceAccount
// lists it.
func (o *observer) syncedFor(secret string) func(*nsState) bool {
	return func(st *nsState) bool {
		if _, ok := st.copies[secret]; !ok {
			return false
		}
		for _, sa := range o.sas {
			if !st.lists(sa, secret) {
				return false
			}
		}
		return true
	}
}

// copyHolds: the copy carries data.
func (o *observer) copyHolds(data string) func(*nsState) bool {
	return func(st *nsState) bool {
		d, ok := st.copies[o.target]
		return ok && d == data
	}
}

// restored: the copy named secret, having been seen without data (changed
// or deleted) since the waiter was registered, carries data again. The
// waiter is registered before the change is made, so the change itself is
// always seen first.
func (o *observer) restored(secret, data string) func(*nsState) bool {
	away := false // runs with o.mu held, as every predicate
	return func(st *nsState) bool {
		if d, ok := st.copies[secret]; !ok || d != data {
			away = true
			return false
		}
		return away
	}
}

// hasServiceAccounts: every expected ServiceAccount exists.
func (o *observer) hasServiceAccounts(st *nsState) bool {
	for _, sa := range o.sas {
		if _, ok := st.pulls[sa]; !ok {
			return false
		}
	}
	return true
}

// firstSeen are an nsState's first-seen times.
type firstSeen struct {
	copyAt, defaultAt time.Time
	saAt, entryAt     map[string]time.Time
}

// timesOf returns the first-seen times for ns.
func (o *observer) timesOf(ns string) firstSeen {
	o.mu.Lock()
	defer o.mu.Unlock()
	if st := o.ns[ns]; st != nil {
		return firstSeen{copyAt: st.copyAt, defaultAt: st.defaultAt, saAt: maps.Clone(st.saAt), entryAt: maps.Clone(st.entryAt)}
	}
	return firstSeen{}
}
