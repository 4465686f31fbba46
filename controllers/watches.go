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
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
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
	recordIndex = "regcred.recordedUID"
)

// setupIndexes registers the indexes the controllers and their event
// mapping use.
func setupIndexes(ctx context.Context, mgr ctrl.Manager) error {
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
	if err := idx.IndexField(ctx, &corev1.Secret{}, ownerIndex, func(o client.Object) []string {
		if uid := controllerUID(o); uid != "" {
			return []string{string(uid)}
		}
		return nil
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &corev1.ServiceAccount{}, recordIndex, func(o client.Object) []string {
		return recordedUIDs(o.GetAnnotations())
	})
}

// mapper answers, from the cache, which work items an event concerns. It
// reads and never writes, keeps nothing of its own (Credentials is a memo
// of compiled specs), and is shared by both controllers' event handlers and
// the reads their reconcilers have in common.
type mapper struct {
	// Client reads from the manager's cache.
	Client client.Client
	// Credentials compiles RegistryCredentials' specs (see credset.Set.Compile).
	Credentials *credset.Set
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

// ---- reads from the cache ----

// namespace reads a namespace's metadata from the cache (read only);
// serving is false when it is not there or terminating.
func (m *mapper) namespace(ctx context.Context, name string) (*metav1.PartialObjectMetadata, bool, error) {
	ns := namespaceObject()
	if err := m.Client.Get(ctx, types.NamespacedName{Name: name}, ns, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return ns, !selection.Terminating(ns), nil
}

// credential reads and compiles the named RegistryCredential (nil: not in
// the cache).
func (m *mapper) credential(ctx context.Context, name string) *credset.Credential {
	rc := &registryv1alpha1.RegistryCredential{}
	if err := m.Client.Get(ctx, types.NamespacedName{Name: name}, rc, client.UnsafeDisableDeepCopy); err != nil { // read only
		if !apierrors.IsNotFound(err) {
			logf.FromContext(ctx).Error(err, "reading a RegistryCredential from the cache failed", "credential", name)
		}
		return nil
	}
	return m.Credentials.Compile(rc)
}

// credentials lists and compiles the RegistryCredentials an index query
// finds (all without options).
func (m *mapper) credentials(ctx context.Context, opts ...client.ListOption) []*credset.Credential {
	list := &registryv1alpha1.RegistryCredentialList{}
	if err := m.Client.List(ctx, list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		logf.FromContext(ctx).Error(err, "listing RegistryCredentials from the cache failed; the event is dropped")
		return nil
	}
	out := make([]*credset.Credential, len(list.Items))
	for i := range list.Items {
		out[i] = m.Credentials.Compile(&list.Items[i])
	}
	return out
}

// selecting names the credentials whose spec selects the namespace (being
// deleted or not).
func (m *mapper) selecting(ctx context.Context, ns metav1.Object) []*credset.Credential {
	return slices.DeleteFunc(m.credentials(ctx), func(c *credset.Credential) bool { return !c.Serves(ns.GetName(), ns.GetLabels()) })
}

// copiesOf lists the cached Secrets the RegistryCredential with this UID
// controls, in every namespace (read only: the cache's own objects).
func (m *mapper) copiesOf(ctx context.Context, uid types.UID) ([]corev1.Secret, error) {
	copies := &corev1.SecretList{}
	if err := m.Client.List(ctx, copies, client.MatchingFields{ownerIndex: string(uid)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return copies.Items, nil
}

// copiesIn lists the cached Secrets in namespace ns that the
// RegistryCredential with this UID controls (read only).
func (m *mapper) copiesIn(ctx context.Context, ns string, uid types.UID) ([]corev1.Secret, error) {
	copies := &corev1.SecretList{}
	if err := m.Client.List(ctx, copies, client.InNamespace(ns), client.MatchingFields{ownerIndex: string(uid)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return copies.Items, nil
}

// heldNamespaces lists the namespaces where the cache shows a copy or a
// ServiceAccount record of the RegistryCredential with this UID.
func (m *mapper) heldNamespaces(ctx context.Context, uid types.UID) ([]string, error) {
	set := map[string]struct{}{}
	copies, err := m.copiesOf(ctx, uid)
	if err != nil {
		return nil, err
	}
	for i := range copies {
		set[copies[i].Namespace] = struct{}{}
	}
	sas := &corev1.ServiceAccountList{}
	if err := m.Client.List(ctx, sas, client.MatchingFields{recordIndex: string(uid)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	for i := range sas.Items {
		set[sas.Items[i].Namespace] = struct{}{}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// ---- pair controller: which (credential, namespace) items an event queues ----

// pairsOnCredential: a RegistryCredential created, or changed in spec or
// lifecycle (finalizer added, deletion started), queues its namespaces.
// Status changes (our own writes) queue nothing. Once it is gone its copies
// go with the garbage collector; its pair in the source's namespace runs
// once more, finds it gone and forgets what the pair controller kept of it.
func (m *mapper) pairsOnCredential() handler.TypedEventHandler[client.Object, pairKey] {
	return typedFuncs(
		func(ctx context.Context, rc *registryv1alpha1.RegistryCredential, q pairQueue) { m.pairsOf(ctx, rc, q) },
		func(ctx context.Context, old, rc *registryv1alpha1.RegistryCredential, q pairQueue) {
			if lifecycleChanged(old, rc) {
				m.pairsOf(ctx, rc, q)
			}
		},
		func(_ context.Context, rc *registryv1alpha1.RegistryCredential, q pairQueue) {
			q.Add(pairKey{Credential: rc.Name, Namespace: rc.Spec.SecretRef.Namespace})
		})
}

// pairsOf queues every namespace a RegistryCredential serves or holds
// something in. Until its finalizer is there it queues nothing (the work
// items would wait for it anyway).
func (m *mapper) pairsOf(ctx context.Context, rc *registryv1alpha1.RegistryCredential, q pairQueue) {
	deleting := !rc.DeletionTimestamp.IsZero()
	if !deleting && !controllerutil.ContainsFinalizer(rc, Finalizer) {
		return
	}
	log := logf.FromContext(ctx)
	if c := m.Credentials.Compile(rc); !deleting && c.Err == nil {
		nss := namespaceList()
		if err := m.Client.List(ctx, nss, client.UnsafeDisableDeepCopy); err != nil {
			log.Error(err, "listing namespaces for a RegistryCredential failed; its namespaces are served on their next event", "credential", rc.Name)
		}
		for i := range nss.Items {
			if ns := &nss.Items[i]; !selection.Terminating(ns) && c.Serves(ns.Name, ns.Labels) {
				q.Add(pairKey{Credential: rc.Name, Namespace: ns.Name})
			}
		}
	}
	held, err := m.heldNamespaces(ctx, rc.UID)
	if err != nil {
		log.Error(err, "listing what a RegistryCredential holds failed", "credential", rc.Name)
	}
	for _, ns := range held {
		q.Add(pairKey{Credential: rc.Name, Namespace: ns})
	}
}

// pairsOnNamespace: a namespace created, relabelled, starting to terminate
// or gone concerns the credentials that select it, before or after.
func (m *mapper) pairsOnNamespace() handler.TypedEventHandler[client.Object, pairKey] {
	on := func(ctx context.Context, ns *metav1.PartialObjectMetadata, q pairQueue) {
		for _, c := range m.selecting(ctx, ns) {
			q.Add(pairKey{Credential: c.Name, Namespace: ns.Name})
		}
	}
	return typedFuncs(on,
		func(ctx context.Context, old, ns *metav1.PartialObjectMetadata, q pairQueue) {
			if !namespaceChanged(old, ns) {
				return
			}
			for _, name := range m.selectingEither(ctx, old, ns) {
				q.Add(pairKey{Credential: name, Namespace: ns.Name})
			}
		},
		on)
}

// namespaceChanged: the labels or the lifecycle changed.
func namespaceChanged(old, ns *metav1.PartialObjectMetadata) bool {
	return !maps.Equal(old.Labels, ns.Labels) || selection.Terminating(old) != selection.Terminating(ns)
}

// selectingEither names the credentials that select the namespace with
// either set of labels.
func (m *mapper) selectingEither(ctx context.Context, old, ns metav1.Object) []string {
	var names []string
	for _, c := range m.credentials(ctx) {
		if c.Serves(old.GetName(), old.GetLabels()) || c.Serves(ns.GetName(), ns.GetLabels()) {
			names = append(names, c.Name)
		}
	}
	return names
}

// pairsOnServiceAccount: a ServiceAccount that needs a write from a
// credential (it lacks the entry, or holds one it should not). The echo of
// our own patch needs none and queues nothing.
func (m *mapper) pairsOnServiceAccount() handler.TypedEventHandler[client.Object, pairKey] {
	on := func(ctx context.Context, sa *corev1.ServiceAccount, q pairQueue) {
		for _, name := range m.serviceAccountNeeds(ctx, sa) {
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
func (m *mapper) serviceAccountNeeds(ctx context.Context, sa *corev1.ServiceAccount) []string {
	var names []string
	ns, serving, err := m.namespace(ctx, sa.Namespace)
	if err != nil {
		logf.FromContext(ctx).Error(err, "reading a namespace from the cache failed", "namespace", sa.Namespace)
	}
	if serving {
		for _, c := range m.selecting(ctx, ns) {
			if !c.Deleting() && !serviceAccountSettled(sa, refOf(c), intentFor(c.Object, sa.Name)) {
				names = append(names, c.Name)
			}
		}
	}
	for _, name := range recordedCredentials(sa) {
		if slices.Contains(names, name) {
			continue
		}
		c := m.credential(ctx, name)
		if c == nil {
			continue
		}
		if !serviceAccountSettled(sa, refOf(c), saWithdraw) && (!serving || c.Deleting() || !c.Serves(ns.Name, ns.Labels)) {
			names = append(names, c.Name)
		}
	}
	return names
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

// pairsOnSecret: a source whose content changed queues every namespace of
// the credentials that use it (rotation). Any event of a copy queues its
// pair, which finds whether there is anything to do (an echo of our own
// write finds nothing). The deletion of any cached Secret holding a name
// credentials want in its namespace queues those pairs (they may have been
// in conflict).
func (m *mapper) pairsOnSecret() handler.TypedEventHandler[client.Object, pairKey] {
	return typedFuncs(
		func(ctx context.Context, s *corev1.Secret, q pairQueue) { m.pairsForSecret(ctx, nil, s, false, q) },
		func(ctx context.Context, old, s *corev1.Secret, q pairQueue) {
			if old.ResourceVersion != s.ResourceVersion {
				m.pairsForSecret(ctx, old, s, false, q)
			}
		},
		func(ctx context.Context, s *corev1.Secret, q pairQueue) { m.pairsForSecret(ctx, nil, s, true, q) })
}

func (m *mapper) pairsForSecret(ctx context.Context, old, s *corev1.Secret, deleted bool, q pairQueue) {
	uid := controllerUID(s)
	if uid != "" {
		// a copy (never a usable source).
		if c := m.credential(ctx, controllerName(s)); c != nil && c.UID == uid {
			q.Add(pairKey{Credential: c.Name, Namespace: s.Namespace})
		}
		return // its credential is gone: the garbage collector sees to it
	}
	if old == nil || old.Type != s.Type || !sameData(old.Data, s.Data) {
		for _, c := range m.credentials(ctx, client.MatchingFields{sourceIndex: s.Namespace + "/" + s.Name}) {
			m.pairsOf(ctx, c.Object, q)
		}
	}
	if deleted {
		for _, name := range m.credentialsWanting(ctx, s) {
			q.Add(pairKey{Credential: name, Namespace: s.Namespace})
		}
	}
}

// credentialsWanting names the credentials that want a copy named like s in
// its namespace.
func (m *mapper) credentialsWanting(ctx context.Context, s *corev1.Secret) []string {
	ns, serving, err := m.namespace(ctx, s.Namespace)
	if err != nil || !serving {
		return nil
	}
	var out []string
	for _, c := range m.credentials(ctx, client.MatchingFields{targetIndex: s.Name}) {
		if !c.Deleting() && c.Serves(ns.Name, ns.Labels) {
			out = append(out, c.Name)
		}
	}
	return out
}

// sameData compares two Secrets' data.
func sameData(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, func(x, y []byte) bool { return string(x) == string(y) })
}

func controllerName(s *corev1.Secret) string {
	if ref := metav1.GetControllerOfNoCopy(s); ref != nil {
		return ref.Name
	}
	return ""
}

// ---- credential controller: which status summaries an event asks for ----

// credentialsOnCredential: a RegistryCredential created, deleted or changed
// in spec or lifecycle is summarised at once. Its status changes (our own
// writes) ask for nothing.
func (m *mapper) credentialsOnCredential() handler.TypedEventHandler[client.Object, reconcile.Request] {
	now := func(_ context.Context, rc *registryv1alpha1.RegistryCredential, q credentialQueue) {
		q.Add(credentialRequest(rc.Name))
	}
	return typedFuncs(now,
		func(_ context.Context, old, rc *registryv1alpha1.RegistryCredential, q credentialQueue) {
			if lifecycleChanged(old, rc) {
				q.Add(credentialRequest(rc.Name))
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

// credentialsOnSourceData maps a source Secret whose type or data changed
// to the RegistryCredentials that use it (the check controller: only the
// bytes matter to a check).
func (m *mapper) credentialsOnSourceData() handler.TypedEventHandler[client.Object, reconcile.Request] {
	on := func(ctx context.Context, s *corev1.Secret, q credentialQueue) {
		if controllerUID(s) != "" {
			return // a copy
		}
		for _, c := range m.credentials(ctx, client.MatchingFields{sourceIndex: s.Namespace + "/" + s.Name}) {
			q.Add(credentialRequest(c.Name))
		}
	}
	return typedFuncs(on,
		func(ctx context.Context, old, s *corev1.Secret, q credentialQueue) {
			if old.Type != s.Type || !maps.EqualFunc(old.Data, s.Data, bytes.Equal) {
				on(ctx, s, q)
			}
		},
		on)
}

// summaryLater asks for a summary of the named RegistryCredential after
// statusSpacing (the workqueue keeps one: a burst of changes makes one
// summary).
func summaryLater(q credentialQueue, name string) {
	q.AddAfter(credentialRequest(name), statusSpacing)
}

// credentialsOnNamespace: selected namespaces appear, go or change.
func (m *mapper) credentialsOnNamespace() handler.TypedEventHandler[client.Object, reconcile.Request] {
	on := func(ctx context.Context, ns *metav1.PartialObjectMetadata, q credentialQueue) {
		for _, c := range m.selecting(ctx, ns) {
			summaryLater(q, c.Name)
		}
	}
	return typedFuncs(on,
		func(ctx context.Context, old, ns *metav1.PartialObjectMetadata, q credentialQueue) {
			if !namespaceChanged(old, ns) {
				return
			}
			for _, name := range m.selectingEither(ctx, old, ns) {
				summaryLater(q, name)
			}
		},
		on)
}

// credentialsOnServiceAccount: the counts of the credentials that select
// the ServiceAccount's namespace or recorded an entry on it may change.
func (m *mapper) credentialsOnServiceAccount() handler.TypedEventHandler[client.Object, reconcile.Request] {
	on := func(ctx context.Context, sa *corev1.ServiceAccount, q credentialQueue) {
		if ns, serving, _ := m.namespace(ctx, sa.Namespace); serving {
			for _, c := range m.selecting(ctx, ns) {
				summaryLater(q, c.Name)
			}
		}
		for _, name := range recordedCredentials(sa) {
			m.summaryForHolder(ctx, name, q)
		}
	}
	return typedFuncs(on,
		func(ctx context.Context, old, sa *corev1.ServiceAccount, q credentialQueue) {
			if serviceAccountChanged(old, sa) {
				on(ctx, sa, q)
				for _, name := range recordedCredentials(old) {
					m.summaryForHolder(ctx, name, q)
				}
			}
		},
		on)
}

// summaryForHolder asks for the summary of a credential that held or holds
// something that changed: at once while it is being deleted (its finalizer
// waits for what it holds to go), else after statusSpacing.
func (m *mapper) summaryForHolder(ctx context.Context, name string, q credentialQueue) {
	if c := m.credential(ctx, name); c != nil && c.Deleting() {
		q.Add(credentialRequest(name))
		return
	}
	summaryLater(q, name)
}

// credentialsOnSecret: a source change is reported at once; a copy's change
// changes its credential's counts (or lets its finalizer go).
func (m *mapper) credentialsOnSecret() handler.TypedEventHandler[client.Object, reconcile.Request] {
	on := func(ctx context.Context, s *corev1.Secret, q credentialQueue) {
		if controllerUID(s) != "" {
			m.summaryForHolder(ctx, controllerName(s), q) // a copy (never a usable source)
			return
		}
		for _, c := range m.credentials(ctx, client.MatchingFields{sourceIndex: s.Namespace + "/" + s.Name}) {
			q.Add(credentialRequest(c.Name))
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
