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
)

// StateSizes reports how much the operator keeps in process: failure book
// entries, remembered source checks, compiled credentials, propagation
// timers and status paces (for tests).
func (o *Operator) StateSizes() [5]int {
	return [5]int{o.failures.len(), o.sources.len(), o.Credentials.Len(), o.metrics.rollouts.len(), o.pace.len()}
}

// OwnedCopies, CopiesIn and HeldNamespaces expose the index lookups (for
// tests).
func (o *Operator) OwnedCopies(ctx context.Context, uid types.UID) ([]corev1.Secret, error) {
	return o.copiesOf(ctx, uid)
}

func (o *Operator) CopiesIn(ctx context.Context, ns string, uid types.UID) ([]corev1.Secret, error) {
	return o.copiesIn(ctx, ns, uid)
}

func (o *Operator) HeldNamespaces(ctx context.Context, uid types.UID) ([]string, error) {
	return o.heldNamespaces(ctx, uid)
}
