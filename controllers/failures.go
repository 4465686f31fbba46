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
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// maxFailuresPerCredential bounds failureBook per RegistryCredential. Past
// it, further failing namespaces are still retried by their work items, but
// not listed (they count as not yet synced).
const maxFailuresPerCredential = 10000

// failureBook is where namespace work items leave what the cache cannot show
// the status: a foreign Secret holding the copy's name (foreign Secrets are
// not cached), or an API error. Keyed by RegistryCredential UID, then
// namespace; an entry goes when its namespace is served again, stops being
// selected or goes, and all of a RegistryCredential's when it goes. It is
// only reporting: after a restart every namespace is looked at again and the
// book fills anew.
type failureBook struct {
	mu sync.Mutex
	m  map[types.UID]map[string]registryv1alpha1.NamespaceFailure
}

// set records f for the namespace (f.Reason "" clears it) and reports
// whether anything changed.
func (b *failureBook) set(uid types.UID, f registryv1alpha1.NamespaceFailure) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	byNS := b.m[uid]
	old, had := byNS[f.Namespace]
	if f.Reason == "" {
		if !had {
			return false
		}
		delete(byNS, f.Namespace)
		if len(byNS) == 0 {
			delete(b.m, uid)
		}
		return true
	}
	if had && old == f {
		return false
	}
	if !had && len(byNS) >= maxFailuresPerCredential {
		return false
	}
	if byNS == nil {
		if b.m == nil {
			b.m = map[types.UID]map[string]registryv1alpha1.NamespaceFailure{}
		}
		byNS = map[string]registryv1alpha1.NamespaceFailure{}
		b.m[uid] = byNS
	}
	byNS[f.Namespace] = f
	return true
}

// get returns the namespace's failure, if any.
func (b *failureBook) get(uid types.UID, ns string) (registryv1alpha1.NamespaceFailure, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.m[uid][ns]
	return f, ok
}

// list returns the failures of namespaces for which keep is true, sorted by
// namespace, and drops the others.
func (b *failureBook) list(uid types.UID, keep func(ns string) bool) []registryv1alpha1.NamespaceFailure {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []registryv1alpha1.NamespaceFailure
	for ns, f := range b.m[uid] {
		if !keep(ns) {
			delete(b.m[uid], ns)
			continue
		}
		out = append(out, f)
	}
	if len(b.m[uid]) == 0 {
		delete(b.m, uid)
	}
	slices.SortFunc(out, func(a, b registryv1alpha1.NamespaceFailure) int { return strings.Compare(a.Namespace, b.Namespace) })
	return out
}

// retain forgets the RegistryCredentials not in live.
func (b *failureBook) retain(live func(types.UID) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for uid := range b.m {
		if !live(uid) {
			delete(b.m, uid)
		}
	}
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
