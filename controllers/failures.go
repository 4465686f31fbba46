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
	"sync"

	"k8s.io/apimachinery/pkg/types"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// maxFailuresPerCredential bounds failureBook per RegistryCredential. Past
// it, further failing namespaces are still retried by their work items, but
// not listed (they count as not yet synced).
const maxFailuresPerCredential = 10000

// failureBook holds what the pair controller met that the cache cannot
// show: a foreign Secret holding the copy's name (foreign Secrets are not
// cached), or an API error. The pair controller owns it and is its only
// writer: each run of a pair work item sets or clears the entry of its pair,
// so an entry goes when its namespace is served again, stops being selected
// or goes, or its RegistryCredential goes (a failing pair is always queued
// again: by its back-off, or its conflict recheck). The credential
// controller only reads it (failureReader), for the status. It is only
// reporting: after a restart every namespace is looked at again and the
// book fills anew.
type failureBook struct {
	mu sync.Mutex
	m  map[string]map[string]failureEntry // credential name → namespace →
}

// failureEntry is one pair's failure, for the RegistryCredential with uid.
type failureEntry struct {
	uid     types.UID
	failure registryv1alpha1.NamespaceFailure
}

// failureReader is what the credential controller may do with the book.
type failureReader interface {
	// failuresOf returns the failures recorded for the RegistryCredential
	// with this name and UID, by namespace (a copy: the caller may keep it).
	failuresOf(name string, uid types.UID) map[string]registryv1alpha1.NamespaceFailure
}

var _ failureReader = &failureBook{}

// set records f for the pair (f.Reason "" clears it) and reports whether
// anything changed.
func (b *failureBook) set(key pairKey, uid types.UID, f registryv1alpha1.NamespaceFailure) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	byNS := b.m[key.Credential]
	old, had := byNS[key.Namespace]
	if f.Reason == "" {
		if !had {
			return false
		}
		delete(byNS, key.Namespace)
		if len(byNS) == 0 {
			delete(b.m, key.Credential)
		}
		return true
	}
	entry := failureEntry{uid: uid, failure: f}
	if had && old == entry {
		return false
	}
	if !had && len(byNS) >= maxFailuresPerCredential {
		return false
	}
	if byNS == nil {
		if b.m == nil {
			b.m = map[string]map[string]failureEntry{}
		}
		byNS = map[string]failureEntry{}
		b.m[key.Credential] = byNS
	}
	byNS[key.Namespace] = entry
	return true
}

// clear forgets the pair's failure and reports whether there was one.
func (b *failureBook) clear(key pairKey) bool {
	return b.set(key, "", registryv1alpha1.NamespaceFailure{Namespace: key.Namespace})
}

// get returns the pair's failure for the RegistryCredential with uid.
func (b *failureBook) get(key pairKey, uid types.UID) (registryv1alpha1.NamespaceFailure, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[key.Credential][key.Namespace]
	if !ok || e.uid != uid {
		return registryv1alpha1.NamespaceFailure{}, false
	}
	return e.failure, true
}

func (b *failureBook) failuresOf(name string, uid types.UID) map[string]registryv1alpha1.NamespaceFailure {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]registryv1alpha1.NamespaceFailure{}
	for ns, e := range b.m[name] {
		if e.uid == uid {
			out[ns] = e.failure
		}
	}
	return out
}

// len is the number of entries, all RegistryCredentials together.
func (b *failureBook) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, byNS := range b.m {
		n += len(byNS)
	}
	return n
}
