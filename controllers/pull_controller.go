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
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/credset"
	"github.com/regcred/regcred-operator/internal/pullfail"
	"github.com/regcred/regcred-operator/internal/registry"
)

// PullControllerName is the name of the controller whose work item is one
// Pod waiting on a failed pull.
const PullControllerName = "pullfailure"

// pullIndex indexes cached Pods that wait on a failed pull ("true").
const pullIndex = "regcred.pullWaiting"

// eventRetry is how soon a Pod whose waiting message says nothing is looked
// at again when the kubelet's Failed Event was not found.
const eventRetry = time.Minute

// evictionRetry is how soon an eviction a PodDisruptionBudget refused is
// tried again.
const evictionRetry = 30 * time.Second

// pullReconciler traces the failed pulls of Pods in selected namespaces to
// the RegistryCredentials whose server the images are under: why each
// failed (pullReasons), an Event on the Pod naming the credential, the
// counts for the status (through book and statusKeys) and, where
// spec.repair.restartPodsNotReferenced asks for it, the eviction of a Pod
// that does not list the copy.
type pullReconciler struct {
	Client client.Client
	// APIReader lists the kubelet's Events of a Pod whose waiting message
	// does not say why the pull failed (kubelets before 1.31).
	APIReader        client.Reader
	Recorder         events.EventRecorder
	SourceNamespaces []string
	// PodWebhook says the operator serves the Pod webhook, so a Pod made
	// again gets the copy even where its ServiceAccount does not list it.
	PodWebhook bool

	mapper     *mapper
	book       *pullBook
	statusKeys *keyPipe[reconcile.Request]
	evictions  *rate.Limiter
	metrics    *credentialMetrics
}

func (r *pullReconciler) setup(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, pullIndex, func(o client.Object) []string {
		if pullWaiting(&o.(*corev1.Pod).Status) {
			return []string{"true"}
		}
		return nil
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(PullControllerName).
		For(&corev1.Pod{}, builder.WithPredicates(predicate.Funcs{
			CreateFunc:  func(e event.CreateEvent) bool { return pullWaiting(&e.Object.(*corev1.Pod).Status) },
			UpdateFunc:  func(e event.UpdateEvent) bool { return pullWaitingEither(e.ObjectOld, e.ObjectNew) },
			DeleteFunc:  func(e event.DeleteEvent) bool { return pullWaiting(&e.Object.(*corev1.Pod).Status) },
			GenericFunc: func(event.GenericEvent) bool { return false },
		})).
		Watches(&registryv1alpha1.RegistryCredential{}, r.podsOnCredential()).
		Watches(&corev1.Secret{}, r.podsOnCopy()).
		Watches(&corev1.ServiceAccount{}, r.podsOnServiceAccount()).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2, RateLimiter: rateLimiter[reconcile.Request]()}).
		Complete(r)
}

func pullWaitingEither(old, cur client.Object) bool {
	o, ok1 := old.(*corev1.Pod)
	n, ok2 := cur.(*corev1.Pod)
	return ok1 && ok2 && (pullWaiting(&o.Status) || pullWaiting(&n.Status))
}

// podsOnCredential: a RegistryCredential created, deleted, or changed in
// spec or in its Ready reason (which decides whether the webhook injects
// it) maps to every Pod waiting on a failed pull.
func (r *pullReconciler) podsOnCredential() handler.TypedEventHandler[client.Object, reconcile.Request] {
	all := func(ctx context.Context, _ *registryv1alpha1.RegistryCredential, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		r.enqueueWaiting(ctx, q)
	}
	return typedFuncs(all,
		func(ctx context.Context, old, rc *registryv1alpha1.RegistryCredential, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if lifecycleChanged(old, rc) || readyReason(old) != readyReason(rc) {
				r.enqueueWaiting(ctx, q)
			}
		},
		all)
}

// podsOnCopy: a copy created or deleted maps to the namespace's Pods
// waiting on a failed pull (SecretMissing comes and goes with it).
func (r *pullReconciler) podsOnCopy() handler.TypedEventHandler[client.Object, reconcile.Request] {
	on := func(ctx context.Context, s *corev1.Secret, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		if controllerUID(s) != "" {
			r.enqueueWaiting(ctx, q, client.InNamespace(s.Namespace))
		}
	}
	return typedFuncs(on, nil, on)
}

// podsOnServiceAccount: a ServiceAccount whose imagePullSecrets changed
// maps to the namespace's Pods waiting on a failed pull (whether a repair
// helps depends on it).
func (r *pullReconciler) podsOnServiceAccount() handler.TypedEventHandler[client.Object, reconcile.Request] {
	return typedFuncs(nil,
		func(ctx context.Context, old, sa *corev1.ServiceAccount, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if !slices.Equal(old.ImagePullSecrets, sa.ImagePullSecrets) {
				r.enqueueWaiting(ctx, q, client.InNamespace(sa.Namespace))
			}
		}, nil)
}

func readyReason(rc *registryv1alpha1.RegistryCredential) string {
	if c := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

func (r *pullReconciler) enqueueWaiting(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], opts ...client.ListOption) {
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, append(opts, client.MatchingFields{pullIndex: "true"}, client.UnsafeDisableDeepCopy)...); err != nil {
		logf.FromContext(ctx).Error(err, "listing Pods waiting on a pull from the cache failed; the event is dropped")
		return
	}
	for i := range pods.Items {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: pods.Items[i].Namespace, Name: pods.Items[i].Name}})
	}
}

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="",resources=events,verbs=list

// Reconcile traces the Pod's failed pulls.
func (r *pullReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pod := &corev1.Pod{}
	if err := r.Client.Get(ctx, req.NamespacedName, pod); err != nil {
		if apierrors.IsNotFound(err) {
			r.record(ctx, req.NamespacedName, nil)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	failures, creds, unsettled, err := r.trace(ctx, pod)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := r.book.failures(req.NamespacedName)
	r.record(ctx, req.NamespacedName, failures)
	for _, f := range failures {
		if !slices.Contains(before, f) {
			r.recordPodEvent(pod, creds[f.credential], f)
		}
	}
	for _, f := range failures {
		if f.reason != registryv1alpha1.ReasonNotReferenced {
			continue
		}
		evicted, after, err := r.repair(ctx, pod, creds[f.credential])
		if evicted || after > 0 || err != nil {
			return ctrl.Result{RequeueAfter: after}, err
		}
	}
	if unsettled {
		// a bare back-off message and no kubelet Event yet: look again.
		return ctrl.Result{RequeueAfter: eventRetry}, nil
	}
	return ctrl.Result{}, nil
}

// record puts the Pod's failures in the book and asks for the status of
// each credential whose entries changed.
func (r *pullReconciler) record(ctx context.Context, pod types.NamespacedName, failures []pullFailure) {
	changed, kept := r.book.set(pod, failures)
	if !kept {
		logf.FromContext(ctx).V(1).Info("pull failures not counted: the book is full", "max", maxTracedPods)
	}
	for _, name := range changed {
		r.statusKeys.offer(credentialRequest(name))
	}
}

// trace returns the Pod's failed pulls of images under a credential's
// server, one per (credential, image), sorted; the credentials by name; and
// whether a reason is Other only for want of the kubelet's Event.
func (r *pullReconciler) trace(ctx context.Context, pod *corev1.Pod) (out []pullFailure, creds map[string]*credset.Credential, unsettled bool, err error) {
	if pod.DeletionTimestamp != nil || !pullWaiting(&pod.Status) || credset.OptedOut(pod.Labels) || credset.IsMirrorPod(pod) {
		return nil, nil, false, nil
	}
	ns, serving, err := r.mapper.namespace(ctx, pod.Namespace)
	if err != nil || !serving || credset.OptedOut(ns.Labels) {
		return nil, nil, false, err
	}
	creds = map[string]*credset.Credential{}
	for _, c := range r.mapper.selecting(ctx, ns) {
		if credset.Eligible(c, ns, r.SourceNamespaces) {
			creds[c.Name] = c
		}
	}
	if len(creds) == 0 {
		return nil, nil, false, nil
	}
	kubelet := map[string]string{} // the kubelet's message by image, read at most once
	for _, w := range waitingPulls(pod) {
		for _, image := range failedImages(w) {
			img, err := registry.ParseImage(image)
			if err != nil {
				continue
			}
			for _, c := range creds {
				if !c.Server.MatchesImage(img) {
					continue
				}
				reason, settled, err := r.classify(ctx, pod, c, w, image, kubelet)
				if err != nil {
					return nil, nil, false, err
				}
				unsettled = unsettled || !settled
				out = append(out, pullFailure{credential: c.Name, image: image, reason: reason})
			}
		}
	}
	slices.SortFunc(out, func(a, b pullFailure) int {
		return cmp.Or(cmp.Compare(a.credential, b.credential), cmp.Compare(a.image, b.image), cmp.Compare(a.reason, b.reason))
	})
	return slices.Compact(out), creds, unsettled, nil
}

// failedImages returns the images of the waiting container that the pull
// failed on: the one its message names, else its own image.
func failedImages(w waitingPull) []string {
	named := pullfail.ImageIn(w.waiting.Message)
	if named != "" {
		want, err := registry.ParseImage(named)
		if err == nil {
			for _, image := range w.images {
				if img, err := registry.ParseImage(image); err == nil && img == want {
					return []string{image}
				}
			}
		}
	}
	return w.images[:1]
}

// classify says why the Pod cannot pull image with credential c; settled is
// false when the waiting message says nothing and the kubelet's Event is not
// there (yet).
func (r *pullReconciler) classify(ctx context.Context, pod *corev1.Pod, c *credset.Credential, w waitingPull, image string,
	kubelet map[string]string) (reason string, settled bool, err error) {
	if !credset.Lists(pod.Spec.ImagePullSecrets, c.Target) {
		return registryv1alpha1.ReasonNotReferenced, true, nil
	}
	if !isSourceItself(c.Object, pod.Namespace) {
		copies, err := r.mapper.copiesIn(ctx, pod.Namespace, c.UID)
		if err != nil {
			return "", false, err
		}
		if !slices.ContainsFunc(copies, func(s corev1.Secret) bool { return s.Name == c.Target }) {
			return registryv1alpha1.ReasonSecretMissing, true, nil
		}
	}
	msg := w.waiting.Message
	if !pullfail.HasDetail(msg) {
		var seen bool
		if msg, seen = kubelet[image]; !seen {
			if msg, err = r.kubeletMessage(ctx, pod, image); err != nil {
				return "", false, err
			}
			kubelet[image] = msg // one Event list per image, whatever the credentials
		}
		if msg == "" {
			return registryv1alpha1.ReasonOther, false, nil
		}
	}
	return pullfail.Classify(msg), true, nil
}

// kubeletMessage returns the note of the kubelet's latest Failed Event on
// the Pod for image ("" if none).
func (r *pullReconciler) kubeletMessage(ctx context.Context, pod *corev1.Pod, image string) (string, error) {
	evs := &corev1.EventList{}
	err := r.APIReader.List(ctx, evs, client.InNamespace(pod.Namespace), client.Limit(100), client.MatchingFieldsSelector{
		Selector: fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.uid", string(pod.UID)), fields.OneTermEqualSelector("reason", "Failed")),
	})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return "", nil
		}
		return "", err
	}
	want, _ := registry.ParseImage(image)
	var best *corev1.Event
	for i := range evs.Items {
		e := &evs.Items[i]
		named, err := registry.ParseImage(pullfail.ImageIn(e.Message))
		if err != nil || named != want {
			continue
		}
		if best == nil || eventTime(e).After(eventTime(best)) {
			best = e
		}
	}
	if best == nil {
		return "", nil
	}
	return best.Message, nil
}

func eventTime(e *corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	return e.EventTime.Time
}

// recordPodEvent records a Warning Event on the Pod naming the credential.
func (r *pullReconciler) recordPodEvent(pod *corev1.Pod, c *credset.Credential, f pullFailure) {
	var note string
	switch f.reason {
	case registryv1alpha1.ReasonNotReferenced:
		note = fmt.Sprintf("cannot pull %s: spec.imagePullSecrets does not list %s, the copy of RegistryCredential %s (was the Pod admitted while the webhook was down, or before its ServiceAccount was patched?); delete the Pod so that its controller makes one that does",
			f.image, c.Target, c.Name)
		if repairOn(c) {
			note += " (spec.repair.restartPodsNotReferenced evicts it)"
		}
	case registryv1alpha1.ReasonSecretMissing:
		note = fmt.Sprintf("cannot pull %s: the Pod lists Secret %s, but RegistryCredential %s has no copy in this namespace (see its status)", f.image, c.Target, c.Name)
	case registryv1alpha1.ReasonUnauthorized, registryv1alpha1.ReasonForbidden:
		note = fmt.Sprintf("cannot pull %s: the registry refused the credential of RegistryCredential %s (%s); see its CredentialsVerified condition", f.image, c.Name, f.reason)
	case registryv1alpha1.ReasonNotFound:
		note = fmt.Sprintf("cannot pull %s: the registry says it does not exist; RegistryCredential %s's credential was offered, check the image name", f.image, c.Name)
	default:
		note = fmt.Sprintf("cannot pull %s with RegistryCredential %s's credential; see the Pod's Failed Events", f.image, c.Name)
	}
	r.Recorder.Eventf(pod, c.Object, corev1.EventTypeWarning, f.reason, "Trace", "%s", truncate(note, maxEventNote))
}

func repairOn(c *credset.Credential) bool {
	return c.Object.Spec.Repair != nil && c.Object.Spec.Repair.RestartPodsNotReferenced
}

// repairKinds are the controllers whose Pods repair evicts: each makes a
// new Pod for one that goes.
var repairKinds = map[string]bool{"apps/v1/ReplicaSet": true, "apps/v1/StatefulSet": true, "batch/v1/Job": true}

// repair evicts a Pod that does not list c's copy, when c asks for it, a
// ReplicaSet, StatefulSet or Job controls the Pod, and the Pod made again
// gets the copy (its ServiceAccount lists it, or the operator serves the
// Pod webhook). It returns whether it evicted the Pod, or how soon to look
// again when the eviction must wait (the rate limit, a PodDisruptionBudget).
func (r *pullReconciler) repair(ctx context.Context, pod *corev1.Pod, c *credset.Credential) (evicted bool, after time.Duration, err error) {
	if !repairOn(c) || pod.DeletionTimestamp != nil {
		return false, 0, nil
	}
	log := logf.FromContext(ctx)
	owner := metav1.GetControllerOf(pod)
	if owner == nil || !repairKinds[owner.APIVersion+"/"+owner.Kind] {
		log.V(1).Info("not evicted: no ReplicaSet, StatefulSet or Job controls the Pod", "credential", c.Name)
		return false, 0, nil
	}
	if !r.PodWebhook {
		covered, err := r.serviceAccountCovers(ctx, pod, c)
		if err != nil || !covered {
			if err == nil {
				log.V(1).Info("not evicted: a new Pod would not list the copy either (no Pod webhook here, and the ServiceAccount would not give it)", "credential", c.Name)
			}
			return false, 0, err
		}
	}
	res := r.evictions.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		return false, d, nil
	}
	ev := &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{
			UID: &pod.UID, ResourceVersion: &pod.ResourceVersion,
		}},
	}
	err = r.Client.SubResource("eviction").Create(ctx, pod, ev)
	r.metrics.wrote(kindPod, verbEvict, err)
	switch {
	case err == nil:
	case apierrors.IsTooManyRequests(err):
		log.Info("eviction refused, probably by a PodDisruptionBudget; trying again later", "credential", c.Name, "retry", evictionRetry, "error", err.Error())
		return false, evictionRetry, nil
	case apierrors.IsNotFound(err):
		return false, 0, nil
	default:
		return false, 0, err // a conflict (the Pod changed) too: retried with back-off
	}
	note := fmt.Sprintf("evicted Pod %s/%s (%s %s): it did not list %s, the copy of RegistryCredential %s; its controller makes a new Pod, which does",
		pod.Namespace, pod.Name, owner.Kind, owner.Name, c.Target, c.Name)
	r.Recorder.Eventf(pod, c.Object, corev1.EventTypeNormal, registryv1alpha1.ReasonEvicted, "Repair", "%s", note)
	r.Recorder.Eventf(c.Object, pod, corev1.EventTypeNormal, registryv1alpha1.ReasonEvicted, "Repair", "%s", note)
	log.Info("evicted a Pod that did not list the copy", "pod", klog.KObj(pod), "credential", c.Name)
	return true, 0, nil
}

// serviceAccountCovers reports whether a Pod made again would get c's copy
// from its ServiceAccount: the ServiceAccount lists it, and the Pod's own
// imagePullSecrets all come from there (the ServiceAccount admission plugin
// adds its list only to a Pod that names none of its own, so a Pod whose
// template names one would not get it).
func (r *pullReconciler) serviceAccountCovers(ctx context.Context, pod *corev1.Pod, c *credset.Credential) (bool, error) {
	sa := &corev1.ServiceAccount{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: cmp.Or(pod.Spec.ServiceAccountName, "default")}, sa)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !credset.Lists(sa.ImagePullSecrets, c.Target) {
		return false, nil
	}
	for _, ref := range pod.Spec.ImagePullSecrets {
		if !credset.Lists(sa.ImagePullSecrets, ref.Name) {
			return false, nil
		}
	}
	return true, nil
}
