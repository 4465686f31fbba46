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
	"hash/fnv"
	"sync"
	"time"
)

// expectationTTL bounds how long a write may stay unseen by the cache (for
// example a copy deleted right after we created it, whose creation the cache
// may never show).
const expectationTTL = 5 * time.Second

// expectations remember the objects this process has just written, so a
// pass that runs before the cache has seen its own write neither writes the
// same thing again nor fails an optimistic lock on the old resourceVersion.
// The key is "kind/namespace/name"; the value the resourceVersion the object
// had before our write ("" for a create). Once the cache shows anything else,
// the expectation is dropped and the object is judged on what the cache shows.
type expectations struct{ m sync.Map }

type expectation struct {
	before string
	at     time.Time
}

// wrote records a write made from an object at resourceVersion before.
func (e *expectations) wrote(key, before string) {
	e.m.Store(key, expectation{before: before, at: time.Now()})
}

// pending reports whether the cache still shows the object as it was before
// our write (cachedRV "" when the cache has no such object).
func (e *expectations) pending(key, cachedRV string) bool {
	v, ok := e.m.Load(key)
	if !ok {
		return false
	}
	if x := v.(expectation); x.before == cachedRV && time.Since(x.at) < expectationTTL {
		return true
	}
	e.m.Delete(key)
	return false
}

func (e *expectations) forget(key string) { e.m.Delete(key) }

// namespaceLocks serialise the work of one RegistryCredential in one
// namespace between its whole pass and its per-namespace work items, which
// run on different workers.
type namespaceLocks [64]sync.Mutex

func (l *namespaceLocks) lock(credential, namespace string) func() {
	h := fnv.New32a()
	h.Write([]byte(credential))
	h.Write([]byte{0})
	h.Write([]byte(namespace))
	m := &l[h.Sum32()%uint32(len(l))]
	m.Lock()
	return m.Unlock
}
