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
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// cacheEchoTimeout bounds how long a work item waits for the cache to show
// its own writes (see echoes). Past it the item ends anyway (and says so in
// the log): a later run from a stale cache only costs a failed optimistic
// lock. Someone else's change to the object can keep the wait from ending
// early, and meanwhile the key waits, so the bound is short.
const cacheEchoTimeout = 500 * time.Millisecond

// echoes are conditions on the cache that a work item's own writes make
// true. The workqueue never runs one key twice at once, so when each run
// waits for the cache to show what it wrote, the next run of the same key
// never plans from a view older than its own writes: no write is repeated
// and no optimistic lock fails on our own resourceVersion, with nothing
// remembered in process.
type echoes []func(context.Context) bool

// await polls the conditions with a short back-off until all hold, ctx ends
// or cacheEchoTimeout passes.
func (e echoes) await(ctx context.Context) {
	if len(e) == 0 {
		return
	}
	deadline := time.Now().Add(cacheEchoTimeout)
	wait := time.Millisecond
	for i := 0; i < len(e); {
		if e[i](ctx) {
			i++
			continue
		}
		if time.Now().After(deadline) {
			logf.FromContext(ctx).Info("the cache did not show this work item's own writes in time; going on", "timeout", cacheEchoTimeout)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 16*time.Millisecond)
	}
}

// copyEcho: the cache shows our current copy (or, want false, no copy of
// ours) at key.
func (o *Operator) copyEcho(rc *registryv1alpha1.RegistryCredential, src *source, key types.NamespacedName, want bool) func(context.Context) bool {
	return func(ctx context.Context) bool {
		s := &corev1.Secret{}
		err := o.Client.Get(ctx, key, s, client.UnsafeDisableDeepCopy) // read only
		if apierrors.IsNotFound(err) {
			return !want
		}
		if err != nil {
			return true // nothing to wait for that we could tell
		}
		if !want {
			return !owns(rc, s)
		}
		return owns(rc, s) && copyDrift(s, rc, src.secret.Type, src.hash) == ""
	}
}

// serviceAccountEcho: the cache shows the ServiceAccount as planned for the
// intent (or gone).
func (o *Operator) serviceAccountEcho(key types.NamespacedName, ref credentialRef, intent saIntent) func(context.Context) bool {
	return func(ctx context.Context) bool {
		sa := &corev1.ServiceAccount{}
		if err := o.Client.Get(ctx, key, sa, client.UnsafeDisableDeepCopy); err != nil { // read only
			return true
		}
		return serviceAccountSettled(sa, ref, intent)
	}
}
