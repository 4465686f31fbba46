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
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// createShownAfter is how long after a create a run that finds the object
// missing from the cache takes it as deleted since: the cache cannot tell an
// object it has not seen yet from one created and deleted again.
const createShownAfter = 2 * time.Second

// cacheLagPoll is how soon a pair item whose cache does not show its own
// last writes yet looks again: the cache is usually a few milliseconds
// behind, and a look is a few cache reads.
const cacheLagPoll = 5 * time.Millisecond

// maxWritesPerPair bounds what writeBook keeps of one pair's run: a copy and
// the namespace's ServiceAccounts. Past it a run's further writes are not
// remembered (their echo is not waited for: a stale plan then costs a failed
// optimistic lock, which is retried).
const maxWritesPerPair = 512

// writeBook remembers, per pair work item, what its last run wrote: the
// resourceVersion each write returned, or the UID it deleted. The workqueue
// never runs one key twice at once, so when a run first checks that the
// cache shows its key's last writes (and otherwise looks again shortly,
// cacheLagPoll, without blocking its worker), no run plans from a view
// older than its own writes: no write is repeated and no optimistic lock
// fails on our own resourceVersion.
//
// The pair controller owns it. An entry is dropped by the next run of its
// key once the cache shows it, and every run that writes queues its key
// again, so the book empties once the writes are seen; a key whose
// RegistryCredential or namespace is gone drops its entry too. It is never
// needed after a restart: a new process's cache starts from a fresh list.
type writeBook struct {
	mu sync.Mutex
	m  map[pairKey][]written
}

// written is one write of a pair's run.
type written struct {
	kind    writtenKind
	key     types.NamespacedName
	rv      string    // after a create, update or patch: the resourceVersion returned
	deleted types.UID // after a delete: the UID deleted
	created time.Time // when the write, a create, was made (zero: not a create)
}

type writtenKind int

const (
	writtenSecret writtenKind = iota
	writtenServiceAccount
)

// record remembers w for key.
func (b *writeBook) record(key pairKey, w written) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.m[key]) >= maxWritesPerPair {
		return
	}
	if b.m == nil {
		b.m = map[pairKey][]written{}
	}
	b.m[key] = append(b.m[key], w)
}

// forget drops key's entry.
func (b *writeBook) forget(key pairKey) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
}

// pending returns key's remembered writes.
func (b *writeBook) pending(key pairKey) []written {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[key]
}

// keep replaces key's writes by those still not shown.
func (b *writeBook) keep(key pairKey, ws []written) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(ws) == 0 {
		delete(b.m, key)
		return
	}
	b.m[key] = ws
}

func (b *writeBook) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// caughtUp reports whether the cache shows every write of key's last run,
// and forgets those it shows.
func (b *writeBook) caughtUp(ctx context.Context, c client.Reader, key pairKey) (bool, error) {
	ws := b.pending(key)
	if len(ws) == 0 {
		return true, nil
	}
	var left []written
	for _, w := range ws {
		shown, err := w.shown(ctx, c)
		if err != nil {
			return false, err
		}
		if !shown {
			left = append(left, w)
		}
	}
	b.keep(key, left)
	return len(left) == 0, nil
}

// shown reports whether the cache shows the write: the object at a
// resourceVersion at least the one written (resourceVersions compare as the
// API server promises, k8s.io/apimachinery/pkg/util/resourceversion), or
// no longer the UID deleted (or that UID terminating). An object the cache does not have after an
// update counts as shown: it was deleted since (or, a copy, it lost our
// label), and the run must act on that; so does a created one, after
// createShownAfter.
func (w written) shown(ctx context.Context, c client.Reader) (bool, error) {
	var obj client.Object = &corev1.ServiceAccount{}
	if w.kind == writtenSecret {
		obj = &corev1.Secret{}
	}
	err := c.Get(ctx, w.key, obj, client.UnsafeDisableDeepCopy) // read only
	switch {
	case apierrors.IsNotFound(err):
		return w.created.IsZero() || time.Since(w.created) >= createShownAfter, nil
	case err != nil:
		return false, err
	case w.deleted != "":
		// gone, or shown terminating (someone's finalizer holds it).
		return obj.GetUID() != w.deleted || obj.GetDeletionTimestamp() != nil, nil
	}
	cmp, err := resourceversion.CompareResourceVersion(obj.GetResourceVersion(), w.rv)
	if err != nil {
		return true, nil // not comparable: nothing to wait for that we could tell
	}
	return cmp >= 0, nil
}
