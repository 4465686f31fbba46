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

	"github.com/regcred/regcred-operator/internal/regcheck"
)

// checkKey names one distinct check: a registry, a probe, a credential and
// a CA bundle, hashed (it never holds credential bytes). RegistryCredentials
// that share all four share one check.
type checkKey [32]byte

// checkOutcome is the last result of a check, or, with pending, a check
// that is due and not done yet.
type checkOutcome struct {
	result    regcheck.Result
	checkedAt time.Time
	expiresAt time.Time
	// retryAt is when the registry's Retry-After ends, if it sent one.
	retryAt time.Time
	pending bool
	// basis is the status.checkBasis of the RegistryCredential that asked
	// (outcomeFor fills it in).
	basis string
}

// checkResults keeps, for each live RegistryCredential (by name), the key
// of its current check, and the last outcome of each key that one of them
// uses. The check controller writes it, the credential controller reads it
// for the status. It holds at most one key per live RegistryCredential; a
// key no RegistryCredential uses is dropped at once. After a restart it is
// empty: the status keeps its CredentialsVerified until the first check,
// which every RegistryCredential gets when the controller starts.
type checkResults struct {
	mu       sync.Mutex
	keyOf    map[string]checkKey
	basisOf  map[string]string
	outcomes map[checkKey]checkOutcome
}

func newCheckResults() *checkResults {
	return &checkResults{keyOf: map[string]checkKey{}, basisOf: map[string]string{}, outcomes: map[checkKey]checkOutcome{}}
}

// bind says that name's check is now key, read from basis (see
// status.checkBasis). It reports whether either changed.
func (c *checkResults) bind(name string, key checkKey, basis string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.keyOf[name]
	oldBasis := c.basisOf[name]
	c.basisOf[name] = basis
	if had && old == key {
		return oldBasis != basis
	}
	c.keyOf[name] = key
	if had {
		c.dropUnused(old)
	}
	return true
}

// record stores key's outcome.
func (c *checkResults) record(key checkKey, o checkOutcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.keyOf {
		if k == key {
			c.outcomes[key] = o
			return
		}
	}
}

// outcome returns the outcome of key.
func (c *checkResults) outcome(key checkKey) (checkOutcome, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.outcomes[key]
	return o, ok
}

// outcomeFor returns the outcome of name's current check: pending when it
// has a key without a result, false when it has no key.
func (c *checkResults) outcomeFor(name string) (checkOutcome, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key, ok := c.keyOf[name]
	if !ok {
		return checkOutcome{}, false
	}
	if o, ok := c.outcomes[key]; ok {
		o.basis = c.basisOf[name]
		return o, true
	}
	return checkOutcome{pending: true}, true
}

// forget drops name, and its key's outcome unless another uses it.
func (c *checkResults) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key, ok := c.keyOf[name]
	if !ok {
		return
	}
	delete(c.keyOf, name)
	delete(c.basisOf, name)
	c.dropUnused(key)
}

func (c *checkResults) dropUnused(key checkKey) {
	for _, k := range c.keyOf {
		if k == key {
			return
		}
	}
	delete(c.outcomes, key)
}

// len returns the number of RegistryCredentials and of outcomes kept.
func (c *checkResults) len() (bound, outcomes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keyOf), len(c.outcomes)
}

// registryGates lets one check at a time talk to each registry, and keeps
// the time before which a registry asked (Retry-After) not to be called
// again. A gate lives while a check holds or waits for it, or while its
// Retry-After runs (expired ones go at the next release).
type registryGates struct {
	mu    sync.Mutex
	gates map[string]*gate
}

type gate struct {
	slot     chan struct{}
	users    int
	notUntil time.Time
}

func newRegistryGates() *registryGates { return &registryGates{gates: map[string]*gate{}} }

// acquire waits for registry's slot; release must follow.
func (g *registryGates) acquire(ctx context.Context, registry string) (notUntil time.Time, err error) {
	g.mu.Lock()
	gt, ok := g.gates[registry]
	if !ok {
		gt = &gate{slot: make(chan struct{}, 1)}
		g.gates[registry] = gt
	}
	gt.users++
	g.mu.Unlock()
	select {
	case gt.slot <- struct{}{}:
		g.mu.Lock()
		defer g.mu.Unlock()
		return gt.notUntil, nil
	case <-ctx.Done():
		g.release(registry, false)
		return time.Time{}, ctx.Err()
	}
}

// release frees registry's slot (held: acquire succeeded), with a new
// Retry-After deadline when notUntil is set.
func (g *registryGates) releaseAfter(registry string, notUntil time.Time) {
	g.mu.Lock()
	if gt, ok := g.gates[registry]; ok && notUntil.After(gt.notUntil) {
		gt.notUntil = notUntil
	}
	g.mu.Unlock()
	g.release(registry, true)
}

func (g *registryGates) release(registry string, held bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gt, ok := g.gates[registry]
	if !ok {
		return
	}
	if held {
		<-gt.slot
	}
	gt.users--
	now := time.Now()
	for name, gt := range g.gates {
		if gt.users == 0 && !now.Before(gt.notUntil) {
			delete(g.gates, name)
		}
	}
}

// len returns the number of gates kept.
func (g *registryGates) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.gates)
}
