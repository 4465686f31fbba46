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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Running is the two controllers as SetupForTest registered them, for
// tests to look at what they keep in process.
type Running struct {
	pairs *pairReconciler
	creds *credentialReconciler
}

// SetupForTest is SetupWithManager, returning the controllers.
func SetupForTest(ctx context.Context, mgr ctrl.Manager, opts Options) (*Running, error) {
	p, c, err := setupControllers(ctx, mgr, opts)
	return &Running{pairs: p, creds: c}, err
}

// StateSizes reports how much the controllers keep in process: failure book
// entries, the pair controller's and the credential controller's remembered
// source checks, propagation timers and write book entries.
func (r *Running) StateSizes() [5]int {
	return [5]int{r.pairs.failures.len(), r.pairs.sources.checks.len(), r.creds.sources.checks.len(), r.creds.metrics.rollouts.len(), r.pairs.writes.len()}
}

// OwnedCopies, CopiesIn and HeldNamespaces expose the index lookups (for
// tests).
func (r *Running) OwnedCopies(ctx context.Context, uid types.UID) ([]corev1.Secret, error) {
	return r.pairs.mapper.copiesOf(ctx, uid)
}

func (r *Running) CopiesIn(ctx context.Context, ns string, uid types.UID) ([]corev1.Secret, error) {
	return r.pairs.mapper.copiesIn(ctx, ns, uid)
}

func (r *Running) HeldNamespaces(ctx context.Context, uid types.UID) ([]string, error) {
	return r.pairs.mapper.heldNamespaces(ctx, uid)
}
