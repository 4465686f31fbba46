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

// Package intern lets the objects of an informer cache share equal values:
// strings, label and annotation maps, owner reference lists and
// imagePullSecrets lists. Thousands of cached ServiceAccounts carry the same
// record annotation and thousands of copies the same labels, annotations
// and ownerReference; decoded from the API server each is an allocation of
// its own (a small Go map costs about 300 bytes before its strings).
//
// Shared values are read-only, as every object in an informer cache already
// is: whoever wants to change one works on a DeepCopy, which copies maps and
// slices.
package intern

import (
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultLimit bounds a Table: values of more distinct contents than this
// are rarely shared between objects, and the table must not grow with the
// cluster.
const DefaultLimit = 4096

// Table hands out one shared value per content. It holds at most limit
// entries; when full it is emptied and starts over (values handed out stay
// valid, later equal values share a new copy), so its memory is bounded
// and nothing depends on what it holds. Safe for concurrent use (each informer runs its
// transform on its own goroutine).
type Table struct {
	mu    sync.Mutex
	limit int
	n     int
	strs  map[string]string
	maps  map[string]map[string]string
	refs  map[string][]metav1.OwnerReference
	pulls map[string][]corev1.LocalObjectReference
	buf   []byte   // scratch: the content key being built
	keys  []string // scratch: sorted map keys
}

// New returns a Table bounded to limit entries (DefaultLimit when limit <= 0).
func New(limit int) *Table {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Table{
		limit: limit,
		strs:  map[string]string{},
		maps:  map[string]map[string]string{},
		refs:  map[string][]metav1.OwnerReference{},
		pulls: map[string][]corev1.LocalObjectReference{},
	}
}

// Len is the number of entries held.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// added counts a new entry, starting over first when the table is full.
// Called with mu held, before the entry is stored.
func (t *Table) added() {
	if t.n >= t.limit {
		t.n = 0
		clear(t.strs)
		clear(t.maps)
		clear(t.refs)
		clear(t.pulls)
	}
	t.n++
}

// shared returns the value m holds for v's content, or stores v there and
// returns it. key appends v's content key to the buffer it is given; it runs
// with mu held, so it may use the table's scratch space.
func shared[V any](t *Table, m map[string]V, v V, key func([]byte) []byte) V {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = key(t.buf[:0])
	if old, ok := m[string(t.buf)]; ok {
		return old
	}
	t.added()
	m[string(t.buf)] = v
	return v
}

// String returns the shared string equal to s.
func (t *Table) String(s string) string {
	if s == "" {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.strs[s]; ok {
		return v
	}
	t.added()
	t.strs[s] = s
	return s
}

// Map returns the shared map equal to m (nil for an empty map). The caller
// must not change m afterwards: it may be the one shared from now on.
func (t *Table) Map(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return shared(t, t.maps, m, func(b []byte) []byte {
		t.keys = t.keys[:0]
		for k := range m {
			t.keys = append(t.keys, k)
		}
		slices.Sort(t.keys)
		for _, k := range t.keys {
			b = appendField(b, k)
			b = appendField(b, m[k])
		}
		return b
	})
}

// OwnerReferences returns the shared list equal to refs (same order).
func (t *Table) OwnerReferences(refs []metav1.OwnerReference) []metav1.OwnerReference {
	if len(refs) == 0 {
		return refs
	}
	return shared(t, t.refs, refs, func(b []byte) []byte {
		for i := range refs {
			r := &refs[i]
			b = appendField(b, r.APIVersion)
			b = appendField(b, r.Kind)
			b = appendField(b, r.Name)
			b = appendField(b, string(r.UID))
			b = append(b, flag(r.Controller), flag(r.BlockOwnerDeletion))
		}
		return b
	})
}

// LocalObjectReferences returns the shared list equal to refs (same order),
// e.g. a ServiceAccount's imagePullSecrets.
func (t *Table) LocalObjectReferences(refs []corev1.LocalObjectReference) []corev1.LocalObjectReference {
	if len(refs) == 0 {
		return refs
	}
	return shared(t, t.pulls, refs, func(b []byte) []byte {
		for i := range refs {
			b = appendField(b, refs[i].Name)
		}
		return b
	})
}

// appendField appends s with its length first, so that no two different
// sequences of fields make the same key.
func appendField(b []byte, s string) []byte {
	n := len(s)
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	b = append(b, byte(n))
	return append(b, s...)
}

func flag(b *bool) byte {
	switch {
	case b == nil:
		return 0
	case *b:
		return 1
	default:
		return 2
	}
}
