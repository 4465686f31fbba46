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

// Package credset keeps a sorted snapshot of the cluster's
// RegistryCredentials with their specs compiled (namespace selection,
// server), so that a namespace event or a Pod admission finds the
// credentials that concern it without listing and compiling them each time.
//
// The snapshot follows the manager's cache: Refresh re-reads one
// RegistryCredential from the cache and publishes the result. Refreshes are
// serialised, so the snapshot never goes back to an older version than the
// cache has shown, whatever order event handlers run in.
package credset

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/registry"
	"github.com/regcred/regcred-operator/internal/selection"
)

// Credential is one RegistryCredential as the snapshot holds it. It is
// immutable once published.
type Credential struct {
	// Object is the cache's object: read it, never modify it.
	Object *registryv1alpha1.RegistryCredential
	// Name, UID and Generation identify the compiled spec.
	Name       string
	UID        types.UID
	Generation int64
	// Target is the name of the copies (spec.targetSecretName or the source's name).
	Target string
	// Selector is the compiled namespace selection; nil when Err is set.
	Selector *selection.Selector
	// Server is the parsed spec.server; zero when Err is set.
	Server registry.Server
	// Err says why the spec does not compile (bad selector or server).
	Err error
}

// Serves reports whether the credential's spec compiles and serves the
// namespace with this name and these labels (lifecycle aside).
func (c *Credential) Serves(name string, labels map[string]string) bool {
	return c.Err == nil && c.Selector.Matches(name, labels)
}

// Deleting reports whether the RegistryCredential is being deleted.
func (c *Credential) Deleting() bool { return c.Object.DeletionTimestamp != nil }

func compile(rc *registryv1alpha1.RegistryCredential, prev *Credential) *Credential {
	c := &Credential{Object: rc, Name: rc.Name, UID: rc.UID, Generation: rc.Generation, Target: rc.TargetName()}
	if prev != nil && prev.UID == rc.UID && prev.Generation == rc.Generation {
		// the spec cannot change without the generation.
		c.Selector, c.Server, c.Err = prev.Selector, prev.Server, prev.Err
		return c
	}
	if c.Server, c.Err = registry.ParseServer(rc.Spec.Server); c.Err != nil {
		return c
	}
	c.Selector, c.Err = selection.New(&rc.Spec)
	return c
}

// snapshot is one published state: credentials sorted by name.
type snapshot struct {
	sorted []*Credential
	byName map[string]*Credential
}

// Set is the snapshot. The zero value is empty and ready to use; Reader must
// be set before Refresh is called.
type Set struct {
	// Reader is the manager's cache.
	Reader client.Reader

	mu     sync.Mutex // serialises Refresh
	cur    atomic.Pointer[snapshot]
	synced atomic.Pointer[func() bool]
}

// HasSynced reports whether Follow has seen every RegistryCredential the
// cache listed at start (false before Follow).
func (s *Set) HasSynced() bool {
	f := s.synced.Load()
	return f != nil && (*f)()
}

func (s *Set) load() *snapshot {
	if p := s.cur.Load(); p != nil {
		return p
	}
	return &snapshot{}
}

// All returns every credential, sorted by name. The slice is shared: do not
// modify it.
func (s *Set) All() []*Credential { return s.load().sorted }

// Get returns the named credential, or nil.
func (s *Set) Get(name string) *Credential { return s.load().byName[name] }

// Len is the number of credentials.
func (s *Set) Len() int { return len(s.load().sorted) }

// Selecting returns the credentials whose spec compiles and selects the
// namespace with this name and these labels, sorted by name.
func (s *Set) Selecting(name string, labels map[string]string) []*Credential {
	var out []*Credential
	for _, c := range s.load().sorted {
		if c.Serves(name, labels) {
			out = append(out, c)
		}
	}
	return out
}

// Compile returns rc compiled: the published credential when it is of the
// same object version, else a new compilation (reusing the published
// selector and server when only metadata or status changed), which is not
// published. rc is kept as the result's Object: the caller's object must
// not be modified afterwards (the cache's objects never are).
//
// The controllers' event handlers read RegistryCredentials from the cache
// and compile them here: the cache's store is updated before any event
// handler runs, whereas the snapshot is updated by a handler of its own,
// in no set order with the others.
func (s *Set) Compile(rc *registryv1alpha1.RegistryCredential) *Credential {
	old := s.load().byName[rc.Name]
	if old != nil && old.UID == rc.UID && old.Object.ResourceVersion == rc.ResourceVersion {
		return old
	}
	return compile(rc, old)
}

// Refresh re-reads the named RegistryCredential from the cache and publishes
// it (or its removal), returning what is now published (nil: gone).
func (s *Set) Refresh(ctx context.Context, name string) (*Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rc := &registryv1alpha1.RegistryCredential{}
	err := s.Reader.Get(ctx, types.NamespacedName{Name: name}, rc, client.UnsafeDisableDeepCopy) // read only
	switch {
	case apierrors.IsNotFound(err):
		s.publish(name, nil)
		return nil, nil
	case err != nil:
		return nil, err
	}
	old := s.load().byName[name]
	if old != nil && old.Object.ResourceVersion == rc.ResourceVersion && old.UID == rc.UID {
		return old, nil
	}
	c := compile(rc, old)
	s.publish(name, c)
	return c, nil
}

// publish replaces (c != nil) or removes (c == nil) one credential. Called
// with mu held.
func (s *Set) publish(name string, c *Credential) {
	old := s.load()
	next := &snapshot{byName: make(map[string]*Credential, len(old.byName)+1)}
	for k, v := range old.byName {
		if k != name {
			next.byName[k] = v
		}
	}
	if c != nil {
		next.byName[name] = c
	}
	next.sorted = make([]*Credential, 0, len(next.byName))
	for _, v := range next.byName {
		next.sorted = append(next.sorted, v)
	}
	slices.SortFunc(next.sorted, func(a, b *Credential) int { return strings.Compare(a.Name, b.Name) })
	s.cur.Store(next)
}

// Follow keeps the set up to date from the cache's RegistryCredential
// informer (every add, update and delete refreshes that credential).
func (s *Set) Follow(ctx context.Context, c cache.Cache) error {
	inf, err := c.GetInformer(ctx, &registryv1alpha1.RegistryCredential{}, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	refresh := func(obj any) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if rc, ok := obj.(*registryv1alpha1.RegistryCredential); ok {
			_, _ = s.Refresh(ctx, rc.Name) // an error is a cache read of a type the cache has: cannot happen once started
		}
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    refresh,
		UpdateFunc: func(_, n any) { refresh(n) },
		DeleteFunc: refresh,
	})
	if err != nil {
		return err
	}
	hasSynced := reg.HasSynced
	s.synced.Store(&hasSynced)
	return nil
}
