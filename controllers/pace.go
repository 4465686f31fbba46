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
	"time"

	"k8s.io/apimachinery/pkg/types"
)

const (
	// statusCostFactor spaces a RegistryCredential's status summaries by this
	// many times what its last one took, so summaries use about
	// 1/statusCostFactor of a core at most, however many namespaces it
	// selects: a summary reads every namespace, and the ServiceAccounts of
	// each one selected (at 10,000 namespaces about 0.1 s; one per
	// statusDelay was a tenth of the operator's CPU during a fan-out).
	statusCostFactor = 20
	// maxStatusDelay bounds that spacing: the status is at most this far
	// behind the cache.
	maxStatusDelay = 10 * time.Second
)

// statusPace is how long a RegistryCredential's next status summary waits
// after the change that asks for it: statusDelay, or statusCostFactor times
// its last summary when that is longer. One duration per RegistryCredential
// summarised, keyed by UID and dropped when it goes (retain); only timing,
// so after a restart every summary starts at statusDelay again.
type statusPace struct {
	mu   sync.Mutex
	last map[types.UID]time.Duration
}

// observe records how long a summary of uid took.
func (p *statusPace) observe(uid types.UID, took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[types.UID]time.Duration{}
	}
	p.last[uid] = took
}

// delay is how long the next summary of uid waits.
func (p *statusPace) delay(uid types.UID) time.Duration {
	p.mu.Lock()
	took := p.last[uid]
	p.mu.Unlock()
	return min(max(statusCostFactor*took, statusDelay), maxStatusDelay)
}

// retain forgets the RegistryCredentials not in live.
func (p *statusPace) retain(live func(types.UID) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for uid := range p.last {
		if !live(uid) {
			delete(p.last, uid)
		}
	}
}

// len is the number of RegistryCredentials with a recorded summary.
func (p *statusPace) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.last)
}

// statusDelayFor is how long the next status summary of the named
// RegistryCredential waits (statusDelay when it is not known yet).
func (o *Operator) statusDelayFor(name string) time.Duration {
	c := o.Credentials.Get(name)
	if c == nil {
		return statusDelay
	}
	return o.pace.delay(c.UID)
}
