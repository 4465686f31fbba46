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
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/credset"
	"github.com/regcred/regcred-operator/internal/selection"
)

// Field indexes.
const (
	// sourceIndex indexes RegistryCredentials by "namespace/name" of their source.
	sourceIndex = "spec.secretRef"
	// targetIndex indexes RegistryCredentials by the name of their copies.
	targetIndex = "spec.targetSecretName"
	// ownerIndex indexes Secrets by the UID of the RegistryCredential that
	// controls them (our copies).
	ownerIndex = "regcred.controllerUID"
	// recordIndex indexes ServiceAccounts by the UIDs of the
	// RegistryCredentials that recorded an entry on them.
	//
	// ownerIndex and recordIndex answer cluster-wide Lists only (see
	// indexClusterWide).
	recordIndex = "regcred.recordedUID"
)

// setupIndexes registers the indexes the controllers use.
func (o *Operator) setupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &registryv1alpha1.RegistryCredential{}, sourceIndex, func(o client.Object) []string {
		return []string{sourceKey(o.(*registryv1alpha1.RegistryCredential))}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &registryv1alpha1.RegistryCredential{}, targetIndex, func(o client.Object) []string {
		return []string{o.(*registryv1alpha1.RegistryCredential).TargetName()}
	}); err != nil {
		return err
	}
	if err := indexClusterWide(ctx, mgr.GetCache(), &corev1.Secret{}, ownerIndex, func(o client.Object) []string {
		if uid := controllerUID(o); uid != "" {
			return []string{string(uid)}
		}
		return nil
	}); err != nil {
		return err
	}
	return indexClusterWide(ctx, mgr.GetCache(), &corev1.ServiceAccount{}, recordIndex, func(o client.Object) []string {
		return recordedUIDs(o.GetAnnotations())
	})
}

// indexClusterWide registers an index on obj's informers that
// client.MatchingFields{field: value} finds in a cluster-wide List, and only
// there: controller-runtime's IndexField adds a per-namespace key for every
// object too, a set of its own per namespace (about 3 MB per index of a 65 MB
// heap at 10,000 namespaces, heap profile), and the copies and records are
// looked up by owner only cluster-wide (in one namespace, its few objects are
// filtered instead: copiesIn, withdraw). The index name and key are spelled
// as controller-runtime's cache reader looks them up (FieldIndexName and
// KeyToNamespacedKey in its pkg/cache/internal); if that changed, the lookup
// would fail or find nothing, which TestIndexLookups and every suite that
// syncs a copy would show.
func indexClusterWide(ctx context.Context, c cache.Cache, obj client.Object, field string, values func(client.Object) []string) error {
	informer, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	err = informer.AddIndexers(toolscache.Indexers{crFieldIndexPrefix + field: func(o any) ([]string, error) {
		co, ok := o.(client.Object)
		if !ok {
			return nil, nil
		}
		var keys []string
		for _, v := range values(co) {
			keys = append(keys, crAllNamespacesKey+v)
		}
		return keys, nil
	}})
	if err != nil {
		return fmt.Errorf("indexing %T by %s: %w", obj, field, err)
	}
	return nil
}

// controller-runtime's spelling of a field index and of its cluster-wide key
// (see indexClusterWide).
const (
	crFieldIndexPrefix = "field:"
	crAllNamespacesKey = "__all_namespaces/"
)

// copiesOf lists the cached Secrets the RegistryCredential with this UID
// controls, in every namespace (read only: the cache's own objects).
func (o *Operator) copiesOf(ctx context.Context, uid types.UID) ([]corev1.Secret, error) {
	copies := &corev1.SecretList{}
	if err := o.Client.List(ctx, copies, client.MatchingFields{ownerIndex: string(uid)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return copies.Items, nil
}

// copiesIn lists the cached Secrets in namespace ns that the
// RegistryCredential with this UID controls (read only).
func (o *Operator) copiesIn(ctx context.Context, ns string, uid types.UID) ([]corev1.Secret, error) {
	secrets := &corev1.SecretList{}
	if err := o.Client.List(ctx, secrets, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(secrets.Items, func(s corev1.Secret) bool { return controllerUID(&s) != uid }), nil
}

// pairQueue and credentialQueue are the two controllers' queues as their
// event handlers see them.
type (
	pairQueue       = workqueue.TypedRateLimitingInterface[pairKey]
	credentialQueue = workqueue.TypedRateLimitingInterface[reconcile.Request]
)

func credentialRequest(name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}
}

// typedFuncs adapts create, update and delete functions of a concrete type
// to an event handler for the builder's Watches.
func typedFuncs[T client.Object, K comparable](onCreate func(context.Context, T, workqueue.TypedRateLimitingInterface[K]),
	onUpdate func(context.Context, T, T, workqueue.TypedRateLimitingInterface[K]),
	onDelete func(context.Context, T, workqueue.TypedRateLimitingInterface[K])) handler.TypedEventHandler[client.Object, K] {
	return handler.TypedFuncs[client.Object, K]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[K]) {
			if o, ok := e.Object.(T); ok && onCreate != nil {
				onCreate(ctx, o, q)
			}
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[K]) {
			o, okOld := e.ObjectOld.(T)
			n, okNew := e.ObjectNew.(T)
			if okOld && okNew && onUpdate != nil {
				onUpdate(ctx, o, n, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[K]) {
			if o, ok := e.Object.(T); ok && onDelete != nil {
				onDelete(ctx, o, q)
			}
		},
	}
}

// ---- pair controller: which (credential, namespace) items an event queues ----

// pairsOnCredential: a RegistryCredential created, changed in spec or
// lifecycle (finalizer added, deletion started). The snapshot is refreshed
// before the namespaces are listed, so a namespace event handled meanwhile
// either sees the new credential or is in the list.
func (o *Operator) pairsOnCredential() handler.TypedEventHandler[client.Object, pairKey] {
	return typedFuncs(
		func(ctx context.Context, rc *registryv1alpha1.RegistryCredential, q pairQueue) {
			o.dispatch(ctx, rc.Name, q)
		},
		func(ctx context.Context, old, rc *registryv1alpha1.RegistryCredential, q pairQueue) {
			if lifecycleChanged(old, rc) {
				o.dispatch(ctx, rc.Name, q)
				return
			}
			o.refresh(ctx, rc.Name) // status only: the webhook reads Ready
		},
		func(ctx context.Context, rc *registryv1alpha1.RegistryCredential, _ pairQueue) {
			o.refresh(ctx, rc.Name)
		})
}

func (o *Operator) refresh(ctx context.Context, name string) *credset.Credential {
	c, err := o.Credentials.Refresh(ctx, name)
	if err != nil {
		logf.FromContext(ctx).Error(err, "reading a RegistryCredential from the cache failed", "credential", name)
	}
	return c
}

// dispatch queues every namespace a RegistryCredential serves or holds
// something in. Until its finalizer is there it queues nothing (the work
// items would wait for it anyway).
func (o *Operator) dispatch(ctx context.Context, name string, q pairQueue) {
	c := o.refresh(ctx, name)
	if c == nil || (!c.Deleting() && !controllerutil.ContainsFinalizer(c.Object, Finalizer)) {
		return
	}
	log := logf.FromContext(ctx)
	if !c.Deleting() && c.Err == nil {
		nss := &corev1.NamespaceList{}
		if err := o.Client.List(ctx, nss, client.UnsafeDisableDeepCopy); err != nil {
			log.Error(err, "listing namespaces for a RegistryCredential failed; its namespaces are served on their next event", "credential", name)
		}
		for i := range nss.Items {
			if ns := &nss.Items[i]; !selection.Terminating(ns) && c.Serves(ns.Name, ns.Labels) {
				q.Add(pairKey{Credential: name, Namespace: ns.Name})
			}
		}
	}
	held, err := o.heldNamespaces(ctx, c.UID)
	if err != nil {
		log.Error(err, "listing what a RegistryCredential holds failed", "credential", name)
	}
	for _, ns := range held {
		q.Add(pairKey{Credential: name, Namespace: ns})
	}
}

// heldNamespaces lists the namespaces where the cache shows a copy or a
// ServiceAccount record of the RegistryCredential with this UID.
func (o *Operator) heldNamespaces(ctx context.Context, uid types.UID) ([]string, error) {
	set := map[string]struct{}{}
	copies, err := o.copiesOf(ctx, uid)
	if err != nil {
		return nil, err
	}
	for i := range copies {
		set[copies[i].Namespace] = struct{}{}
	}
	sas := &corev1.ServiceAccountList{}
	if err := o.Client.List(ctx, sas, client.MatchingFields{recordIndex: string(uid)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	for i := range sas.Items {
		set[sas.Items[i].Namespace] = struct{}{}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// pairsOnNamespace: a namespace created, relabelled or starting to
// terminate concerns the credentials that select it, before or after.
func (o *Operator) pairsOnNamespace() handler.TypedEventHandler[client.Object, pairKey] {
	return typedFuncs(
		func(_ context.Context, ns *corev1.Namespace, q pairQueue) {
			if selection.Terminating(ns) {
				return
			}
			// (not the namespaces an informer lists at start)
			fresh := time.Since(ns.CreationTimestamp.Time) < freshNamespaceAge
			for _, c := range o.Credentials.Selecting(ns.Name, ns.Labels) {
				if fresh {
					q.AddAfter(pairKey{Credential: c.Name, Namespace: ns.Name}, freshNamespaceHold)
				} else {
					q.Add(pairKey{Credential: c.Name, Namespace: ns.Name})
				}
			}
		},
		func(_ context.Context, old, ns *corev1.Namespace, q pairQueue) {
			if maps.Equal(old.Labels, ns.Labels) && selection.Terminating(old) == selection.Terminating(ns) {
				return
			}
			for _, name := range o.selectingEither(old, ns) {
				q.Add(pairKey{Credential: name, Namespace: ns.Name})
			}
		},
		nil)
}

// selectingEither names the credentials that select the namespace with
// either set of labels.
func (o *Operator) selectingEither(old, ns *corev1.Namespace) []string {
	var names []string
	for _, c := range o.Credentials.Selecting(old.Name, old.Labels) {
		names = append(names, c.Name)
	}
	for _, c := range o.Credentials.Selecting(ns.Name, ns.Labels) {
		if !slices.Contains(names, c.Name) {
			names = append(names, c.Name)
		}
	}
	return names
}

// pairsOnServiceAccount: a ServiceAccount that needs a write from a
// credential (it lacks the entry, or holds one it should not). The echo of
// our own patch needs none and queues nothing.
func (o *Operator) pairsOnServiceAccount() handler.TypedEventHandler[client.Object, pairKey] {
	on := func(ctx context.Context, sa *corev1.ServiceAccount, q pairQueue) {
		for _, name := range o.serviceAccountNeeds(ctx, sa) {
			q.Add(pairKey{Credential: name, Namespace: sa.Namespace})
		}
	}
	return typedFuncs(on,
		func(ctx context.Context, old, sa *corev1.ServiceAccount, q pairQueue) {
			if serviceAccountChanged(old, sa) {
				on(ctx, sa, q)
			}
		},
		nil)
}

// serviceAccountNeeds names the credentials that would change the
// ServiceAccount.
func (o *Operator) serviceAccountNeeds(ctx context.Context, sa *corev1.ServiceAccount) []string {
	var names []string
	ns, serving := o.namespaceFor(ctx, sa.Namespace)
	if serving {
		for _, c := range o.Credentials.Selecting(ns.Name, ns.Labels) {
			if c.Deleting() {
				continue
			}
			if !serviceAccountSettled(sa, refOf(c), intentFor(c.Object, sa.Name)) {
				names = append(names, c.Name)
			}
		}
	}
	for _, name := range recordedCredentials(sa) {
		if slices.Contains(names, name) {
			continue
		}
		c := o.Credentials.Get(name)
		if c == nil {
			continue
		}
		if !serviceAccountSettled(sa, refOf(c), saWithdraw) && (!serving || c.Deleting() || !c.Serves(ns.Name, ns.Labels)) {
			names = append(names, c.Name)
		}
	}
	return names
}

// namespaceFor reads a namespace from the cache (read only); serving is
// false when it is not there or terminating.
func (o *Operator) namespaceFor(ctx context.Context, name string) (*corev1.Namespace, bool) {
	ns := &corev1.Namespace{}
	if err := o.Client.Get(ctx, types.NamespacedName{Name: name}, ns, client.UnsafeDisableDeepCopy); err != nil {
		return nil, false
	}
	return ns, !selection.Terminating(ns)
}

// recordedCredentials names the credentials with a record key on the
// ServiceAccount.
func recordedCredentials(sa *corev1.ServiceAccount) []string {
	var out []string
	for k := range sa.Annotations {
		if name, ok := strings.CutPrefix(k, recordPrefix); ok && name != "" {
			out = append(out, name)
		}
	}
	return out
}

func refOf(c *credset.Credential) credentialRef {
	return credentialRef{name: c.Name, uid: c.UID, target: c.Target}
}

// serviceAccountChanged: imagePullSecrets or annotations changed.
func serviceAccountChanged(o, n *corev1.ServiceAccount) bool {
	return !slices.Equal(o.ImagePullSecrets, n.ImagePullSecrets) || !maps.Equal(o.Annotations, n.Annotations)
}

// pairsOnSecret: a source that changed queues every namespace of the
// credentials that use it (rotation). A copy someone changed or deleted
// queues its namespace, and so does the deletion of any cached Secret
// holding a name credentials want there (they may have been in conflict).
func (o *Operator) pairsOnSecret() handler.TypedEventHandler[client.Object, pairKey] {
	return typedFuncs(
		func(ctx context.Context, s *corev1.Secret, q pairQueue) { o.pairsForSecret(ctx, nil, s, false, q) },
		func(ctx context.Context, old, s *corev1.Secret, q pairQueue) {
			if old.ResourceVersion != s.ResourceVersion {
				o.pairsForSecret(ctx, old, s, false, q)
			}
		},
		func(ctx context.Context, s *corev1.Secret, q pairQueue) { o.pairsForSecret(ctx, nil, s, true, q) })
}

func (o *Operator) pairsForSecret(ctx context.Context, old, s *corev1.Secret, deleted bool, q pairQueue) {
	uid := controllerUID(s)
	// a copy is never a usable source (the status says so); skip the lookup.
	if uid == "" && (old == nil || old.Type != s.Type || !sameData(old.Data, s.Data)) {
		for _, name := range o.credentialsUsingSource(ctx, s) {
			o.dispatch(ctx, name, q)
		}
	}
	if deleted {
		for _, name := range o.credentialsWanting(ctx, s) {
			q.Add(pairKey{Credential: name, Namespace: s.Namespace})
		}
	}
	if uid == "" {
		return
	}
	c := o.Credentials.Get(controllerName(s))
	switch {
	case c == nil || c.UID != uid:
		return // its credential is gone: the garbage collector sees to it
	case c.Deleting():
		if !deleted {
			q.Add(pairKey{Credential: c.Name, Namespace: s.Namespace}) // a copy made while the deletion started
		}
		return
	}
	if deleted || o.copyNeedsWork(ctx, c, s) {
		q.Add(pairKey{Credential: c.Name, Namespace: s.Namespace})
	}
}

// sameData compares two Secrets' data.
func sameData(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}

// credentialsUsingSource names the credentials whose source is s.
func (o *Operator) credentialsUsingSource(ctx context.Context, s *corev1.Secret) []string {
	return o.credentialNames(ctx, client.MatchingFields{sourceIndex: s.Namespace + "/" + s.Name})
}

// credentialsWanting names the credentials that want a copy named like s in
// its namespace.
func (o *Operator) credentialsWanting(ctx context.Context, s *corev1.Secret) []string {
	var out []string
	for _, name := range o.credentialNames(ctx, client.MatchingFields{targetIndex: s.Name}) {
		if c := o.Credentials.Get(name); c != nil && !c.Deleting() {
			if ns, serving := o.namespaceFor(ctx, s.Namespace); serving && c.Serves(ns.Name, ns.Labels) {
				out = append(out, name)
			}
		}
	}
	return out
}

// credentialNames lists the names of the credentials an index query finds.
func (o *Operator) credentialNames(ctx context.Context, sel client.MatchingFields) []string {
	list := &registryv1alpha1.RegistryCredentialList{}
	if err := o.Client.List(ctx, list, sel, client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "looking up RegistryCredentials for an event failed; the event is dropped")
		return nil
	}
	names := make([]string, len(list.Items))
	for i := range list.Items {
		names[i] = list.Items[i].Name
	}
	return names
}

// copyNeedsWork reports whether our copy (as the cache holds it) differs from
// what its credential would write now; true when that cannot be told.
func (o *Operator) copyNeedsWork(ctx context.Context, c *credset.Credential, s *corev1.Secret) bool {
	if s.Name != c.Target {
		return true // a stale name: its work item removes it
	}
	src, prob, err := o.loadSource(ctx, c.Object)
	switch {
	case err != nil:
		return true
	case prob.reason != "":
		return false // an unusable source leaves the copies alone; the status says why
	}
	return copyDrift(s, c.Object, src.secret.Type, src.hash) != ""
}

func controllerName(s *corev1.Secret) string {
	for _, ref := range s.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			return ref.Name
		}
	}
	return ""
}

// ---- credential controller: which status summaries an event asks for ----

// credentialsOnCredential: a RegistryCredential created, deleted or changed
// in spec or lifecycle is summarised at once. Every other change, our own
// status writes included, asks for a summary when its statusPace allows:
// the summary after a write compares with what was written, so a write that
// landed while its response was lost (an API server going away) is
// corrected (the fault suite saw a status left with stale failures without
// it), and a fan-out's status is written when it is over and every few
// seconds while it lasts, not once per round trip.
func (o *Operator) credentialsOnCredential() handler.TypedEventHandler[client.Object, reconcile.Request] {
	now := func(_ context.Context, rc *registryv1alpha1.RegistryCredential, q credentialQueue) {
		q.Add(credentialRequest(rc.Name))
	}
	return typedFuncs(now,
		func(ctx context.Context, old, rc *registryv1alpha1.RegistryCredential, q credentialQueue) {
			switch {
			case old.ResourceVersion == rc.ResourceVersion: // a resync
			case lifecycleChanged(old, rc):
				q.Add(credentialRequest(rc.Name))
			default:
				q.AddAfter(credentialRequest(rc.Name), o.pace.wake(rc.UID, time.Now()))
			}
		},
		now)
}

// lifecycleChanged: the spec (generation), the deletion or our finalizer
// changed; what both controllers act on at once.
func lifecycleChanged(old, rc *registryv1alpha1.RegistryCredential) bool {
	return old.Generation != rc.Generation || old.DeletionTimestamp.IsZero() != rc.DeletionTimestamp.IsZero() ||
		controllerutil.ContainsFinalizer(old, Finalizer) != controllerutil.ContainsFinalizer(rc, Finalizer)
}

// credentialsOnNamespace: selected namespaces appear, go or change.
func (o *Operator) credentialsOnNamespace() handler.TypedEventHandler[client.Object, reconcile.Request] {
	on := func(_ context.Context, ns *corev1.Namespace, q credentialQueue) {
		for _, c := range o.Credentials.Selecting(ns.Name, ns.Labels) {
			q.AddAfter(credentialRequest(c.Name), o.statusWakeOf(c))
		}
	}
	return typedFuncs(on,
		func(_ context.Context, old, ns *corev1.Namespace, q credentialQueue) {
			if maps.Equal(old.Labels, ns.Labels) && selection.Terminating(old) == selection.Terminating(ns) {
				return
			}
			for _, name := range o.selectingEither(old, ns) {
				q.AddAfter(credentialRequest(name), o.statusWakeFor(name))
			}
		},
		on)
}

// credentialsOnServiceAccount: the counts of the credentials that select
// the ServiceAccount's namespace or recorded an entry on it may change.
func (o *Operator) credentialsOnServiceAccount() handler.TypedEventHandler[client.Object, reconcile.Request] {
	on := func(ctx context.Context, sa *corev1.ServiceAccount, q credentialQueue) {
		if ns, ok := o.namespaceFor(ctx, sa.Namespace); ok {
			for _, c := range o.Credentials.Selecting(ns.Name, ns.Labels) {
				q.AddAfter(credentialRequest(c.Name), o.statusWakeOf(c))
			}
		}
		for _, name := range recordedCredentials(sa) {
			o.wakeForHeld(name, q)
		}
	}
	return typedFuncs(on,
		func(ctx context.Context, old, sa *corev1.ServiceAccount, q credentialQueue) {
			if serviceAccountChanged(old, sa) {
				on(ctx, sa, q)
				for _, name := range recordedCredentials(old) {
					o.wakeForHeld(name, q)
				}
			}
		},
		on)
}

// wakeForHeld asks for the credential's summary: at once while it is being
// deleted (its finalizer waits for what it holds to go), else after its
// pace.
func (o *Operator) wakeForHeld(name string, q credentialQueue) {
	c := o.Credentials.Get(name)
	if c != nil && c.Deleting() {
		q.Add(credentialRequest(name))
		return
	}
	q.AddAfter(credentialRequest(name), o.statusWakeOf(c))
}

// credentialsOnSecret: a source change is reported at once; a copy's change
// changes its credential's counts (or lets its finalizer go).
func (o *Operator) credentialsOnSecret() handler.TypedEventHandler[client.Object, reconcile.Request] {
	on := func(ctx context.Context, s *corev1.Secret, q credentialQueue) {
		if controllerUID(s) != "" {
			o.wakeForHeld(controllerName(s), q) // a copy (never a usable source)
			return
		}
		for _, name := range o.credentialsUsingSource(ctx, s) {
			q.Add(credentialRequest(name))
		}
	}
	return typedFuncs(on,
		func(ctx context.Context, old, s *corev1.Secret, q credentialQueue) {
			if old.ResourceVersion != s.ResourceVersion {
				on(ctx, s, q)
			}
		},
		on)
}

// credentialsOnWake: the failure book changed.
func (o *Operator) credentialsOnWake() handler.TypedEventHandler[string, reconcile.Request] {
	return handler.TypedFuncs[string, reconcile.Request]{
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[string], q credentialQueue) {
			q.AddAfter(credentialRequest(e.Object), o.statusWakeFor(e.Object))
		},
	}
}
