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

// Package credset keeps a sorted snapshot of the cluster's
// RegistryCredentials with their specs compiled (namespace selection,
// server), so that a namespace event or a Pod admission finds the
// credentials that concern it without listing and compiling them each time.
//
// The snapshot follows the manager's cache: Refresh re-reads one
// RegistryCredential from the cache and publishes the result. Refreshes are
// serialised, so the snapshot never goes back to an older version than the
// cache has shown, whatever order event handlers run in.
package credset

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// The rules of who gets a credential's copy, shared by the Pod webhook
// (which injects it) and the pull tracer (which reports a Pod that should
// list it and does not).

const (
	// InjectLabel opts a Pod or a namespace out of injection when set to
	// InjectDisabled. The webhook configuration's namespaceSelector and
	// objectSelector skip such objects, so the API server does not even call
	// the webhook; the handler checks it too.
	InjectLabel = "registry.regcred.dev/inject"
	// InjectDisabled is the InjectLabel value that opts out.
	InjectDisabled = "false"
)

// Eligible reports whether the Pod webhook gives credential c's copy to Pods in
// ns whose images it matches (the Pod's own opt-out and mirror Pods aside):
// its spec compiles, it serves ns, and Skip finds nothing against it.
func Eligible(c *Credential, ns metav1.Object, sourceNamespaces []string) bool {
	return c.Err == nil && Skip(c.Object, sourceNamespaces) == "" && c.Selector.Serves(ns)
}

// OptedOut reports whether labels carry InjectLabel=InjectDisabled.
func OptedOut(labels map[string]string) bool {
	return labels[InjectLabel] == InjectDisabled
}

// IsMirrorPod reports whether the Pod is a mirror Pod: the API server's copy
// of a static Pod, which the kubelet creates with the annotation
// kubernetes.io/config.mirror. The ServiceAccount admission plugin refuses a
// mirror Pod that references a Secret, so one injected would keep the static
// Pod out of the API; the kubelet runs it from its manifest regardless.
func IsMirrorPod(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

// Skip returns why a RegistryCredential must not be injected, or "" if it
// may be: it is being deleted; its source namespace is not one of
// sourceNamespaces (when given); or its Ready condition, unless it is known
// to be stale (observedGeneration older than the object's), has reason
// SourceNotAllowed, SourceInvalid or ServerNotInSource (no key of the source
// is one the kubelet would use). Any other state, including no status
// yet, injects: the kubelet re-reads pull secrets on every retry, so a Pod
// pulls as soon as the copy lands.
func Skip(rc *registryv1alpha1.RegistryCredential, sourceNamespaces []string) string {
	if rc.DeletionTimestamp != nil {
		return registryv1alpha1.ReasonDeleting
	}
	if sourceNamespaces != nil && !slices.Contains(sourceNamespaces, "*") && !slices.Contains(sourceNamespaces, rc.Spec.SecretRef.Namespace) {
		return registryv1alpha1.ReasonSourceNotAllowed
	}
	cond := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionReady)
	if cond == nil || cond.Status == metav1.ConditionTrue {
		return ""
	}
	if cond.ObservedGeneration != 0 && cond.ObservedGeneration < rc.Generation {
		return "" // the spec changed since; the old verdict may not hold
	}
	switch cond.Reason {
	case registryv1alpha1.ReasonSourceNotAllowed, registryv1alpha1.ReasonSourceInvalid, registryv1alpha1.ReasonServerNotInSource:
		return cond.Reason
	}
	return ""
}

// Lists reports whether refs (a Pod's or ServiceAccount's imagePullSecrets)
// name the Secret name.
func Lists(refs []corev1.LocalObjectReference, name string) bool {
	return slices.ContainsFunc(refs, func(r corev1.LocalObjectReference) bool { return r.Name == name })
}
