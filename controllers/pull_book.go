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
	"cmp"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// pullFailure is one image a Pod cannot pull, traced to a credential.
type pullFailure struct {
	credential string
	image      string
	reason     string
}

// maxTracedPods bounds the Pods the pull book holds. Past it, a new failing
// Pod still gets its Event (and its repair), but is not counted in the
// status until another leaves the book.
const maxTracedPods = 10000

// pullBook holds the traced pull failures of each Pod waiting on a failed
// pull, and, for the status, the same by credential. The pull controller
// writes it; the credential controller reads it. A Pod leaves when it no
// longer waits on a pull or is gone; a credential's entries leave with
// their Pods. It holds at most max Pods. After a restart it is empty
// until the Pod cache's first list has been traced again: nothing in it is
// needed for correctness.
type pullBook struct {
	mu     sync.Mutex
	max    int
	pods   map[types.NamespacedName][]pullFailure
	byCred map[string]map[types.NamespacedName][]pullFailure
}

func newPullBook(maxPods int) *pullBook {
	return &pullBook{max: maxPods, pods: map[types.NamespacedName][]pullFailure{}, byCred: map[string]map[types.NamespacedName][]pullFailure{}}
}

// set replaces the Pod's failures (none: the Pod leaves the book). It
// returns the credentials whose entries changed, and whether the Pod was
// kept (false: the book is full).
func (b *pullBook) set(pod types.NamespacedName, failures []pullFailure) (changed []string, kept bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, had := b.pods[pod]
	if len(failures) == 0 {
		if !had {
			return nil, true
		}
		delete(b.pods, pod)
		b.reindex(pod, old, nil)
		return credentialsOf(old), true
	}
	if !had && len(b.pods) >= b.max {
		return nil, false
	}
	if had && slices.Equal(old, failures) {
		return nil, true
	}
	b.pods[pod] = failures
	b.reindex(pod, old, failures)
	return credentialsOf(append(slices.Clone(old), failures...)), true
}

func (b *pullBook) reindex(pod types.NamespacedName, old, cur []pullFailure) {
	for _, cred := range credentialsOf(old) {
		if m := b.byCred[cred]; m != nil {
			delete(m, pod)
			if len(m) == 0 {
				delete(b.byCred, cred)
			}
		}
	}
	for _, f := range cur {
		m := b.byCred[f.credential]
		if m == nil {
			m = map[types.NamespacedName][]pullFailure{}
			b.byCred[f.credential] = m
		}
		m[pod] = append(m[pod], f)
	}
}

// credentialsOf returns the distinct credentials of the failures, sorted.
func credentialsOf(fs []pullFailure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.credential)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// forgetCredential drops the entries of a RegistryCredential that is gone.
func (b *pullBook) forgetCredential(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for pod := range b.byCred[name] {
		left := slices.DeleteFunc(slices.Clone(b.pods[pod]), func(f pullFailure) bool { return f.credential == name })
		if len(left) == 0 {
			delete(b.pods, pod)
		} else {
			b.pods[pod] = left
		}
	}
	delete(b.byCred, name)
}

// failures returns the Pod's failures.
func (b *pullBook) failures(pod types.NamespacedName) []pullFailure {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.pods[pod])
}

// summary is the credential's status.pullFailures: the count by reason and
// the first MaxPullFailurePods failures by namespace, Pod and image.
func (b *pullBook) summary(credential string) *registryv1alpha1.PullFailures {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := &registryv1alpha1.PullFailures{}
	counts := map[string]int32{}
	var pods []registryv1alpha1.PodPullFailure
	for pod, fs := range b.byCred[credential] {
		for _, f := range fs {
			out.Count++
			counts[f.reason]++
			pods = append(pods, registryv1alpha1.PodPullFailure{Namespace: pod.Namespace, Pod: pod.Name, Image: f.image, Reason: f.reason})
		}
	}
	slices.SortFunc(pods, func(a, b registryv1alpha1.PodPullFailure) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.Image, b.Image))
	})
	if len(pods) > registryv1alpha1.MaxPullFailurePods {
		pods = pods[:registryv1alpha1.MaxPullFailurePods]
	}
	out.Pods = pods
	for _, reason := range pullReasons {
		if n := counts[reason]; n > 0 {
			out.Reasons = append(out.Reasons, registryv1alpha1.PullFailureCount{Reason: reason, Count: n})
		}
	}
	return out
}

// pullReasons are the reasons of a pull failure, in the order the status
// lists them.
var pullReasons = []string{
	registryv1alpha1.ReasonNotReferenced, registryv1alpha1.ReasonSecretMissing,
	registryv1alpha1.ReasonUnauthorized, registryv1alpha1.ReasonForbidden,
	registryv1alpha1.ReasonNotFound, registryv1alpha1.ReasonOther,
}

// len returns the number of Pods and of credentials held.
func (b *pullBook) len() (pods, credentials int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pods), len(b.byCred)
}
