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

// Package webhook is the Pod admission webhook: on Pod CREATE it adds the
// pull secret of every RegistryCredential that serves the Pod's namespace and
// whose server matches one of the Pod's images, so that Pods admitted before
// the operator patched their ServiceAccount, and Pods that set their own
// imagePullSecrets, can still pull. A name held in the namespace by a Secret
// the RegistryCredential does not control is never added. It also wires the
// serving certificate (self-managed with cert-controller, or provided from
// outside).
package webhook

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/regcred/regcred-operator/internal/credset"
	"github.com/regcred/regcred-operator/internal/registry"
)

// Injection is one pull secret to add to a Pod.
type Injection struct {
	// Credential is the name of the RegistryCredential.
	Credential string
	// Secret is the name of its copy in the Pod's namespace.
	Secret string
}

// Decide is the whole admission decision that needs no client: the pull
// secrets to append to the Pod's spec.imagePullSecrets, in the order of creds
// (a credset.Set gives them sorted by name).
//
// A RegistryCredential applies when it is not being deleted, its source is
// allowed (see credset.Skip), its spec compiles, it serves ns (same rules as the
// reconciler: selector, excludeNamespaces, not terminating), and its server
// matches the image of at least one container, init container, ephemeral
// container or image volume. Secrets the Pod already lists are not added
// again, nor is a name twice. Nothing is added when the Pod or the namespace carries
// InjectLabel=credset.InjectDisabled, nor to a mirror Pod (see credset.IsMirrorPod).
//
// sourceNamespaces is the operator's --source-namespaces ("*": any); nil
// leaves that check to the RegistryCredential's Ready condition.
//
// The handler further drops a name that a Secret the credential does not
// control holds (see PodInjector.Handle); Decide cannot know that.
//
// ns needs only its metadata (name, labels, deletionTimestamp): the handler
// passes the metav1.PartialObjectMetadata the cache holds.
func Decide(pod *corev1.Pod, ns metav1.Object, creds []*credset.Credential, sourceNamespaces []string) []Injection {
	return decide(pod, ns, creds, sourceNamespaces, nil)
}

// decide is Decide with a last check, keep, on each candidate that passed
// all the others (nil keeps all). A candidate keep refuses does not take its
// name, so a later credential with the same copy name is still considered.
func decide(pod *corev1.Pod, ns metav1.Object, creds []*credset.Credential, sourceNamespaces []string,
	keep func(*credset.Credential) bool) []Injection {
	if credset.OptedOut(pod.Labels) || credset.OptedOut(ns.GetLabels()) || credset.IsMirrorPod(pod) || len(creds) == 0 {
		return nil
	}
	images := podImages(pod)
	if len(images) == 0 {
		return nil
	}
	var out []Injection
	for _, c := range creds {
		if !matchesAny(c.Server, images) || !credset.Eligible(c, ns, sourceNamespaces) {
			continue
		}
		if credset.Lists(pod.Spec.ImagePullSecrets, c.Target) || slices.ContainsFunc(out, func(in Injection) bool { return in.Secret == c.Target }) {
			continue
		}
		if keep != nil && !keep(c) {
			continue
		}
		out = append(out, Injection{Credential: c.Name, Secret: c.Target})
	}
	return out
}

// podImages parses the distinct images of all containers and image volumes
// of the Pod (the kubelet pulls both with the Pod's imagePullSecrets).
// Images that do not parse are left out: they match no server (and the API
// server rejects most of them after admission).
func podImages(pod *corev1.Pod) []registry.Image {
	n := len(pod.Spec.Containers) + len(pod.Spec.InitContainers) + len(pod.Spec.EphemeralContainers)
	raw := make([]string, 0, n)
	for i := range pod.Spec.Volumes {
		if v := pod.Spec.Volumes[i].Image; v != nil {
			raw = append(raw, v.Reference)
		}
	}
	for i := range pod.Spec.InitContainers {
		raw = append(raw, pod.Spec.InitContainers[i].Image)
	}
	for i := range pod.Spec.Containers {
		raw = append(raw, pod.Spec.Containers[i].Image)
	}
	for i := range pod.Spec.EphemeralContainers {
		raw = append(raw, pod.Spec.EphemeralContainers[i].Image)
	}
	out := make([]registry.Image, 0, len(raw))
	for i, s := range raw {
		if s == "" || slices.Contains(raw[:i], s) {
			continue
		}
		img, err := registry.ParseImage(s)
		if err != nil {
			continue
		}
		out = append(out, img)
	}
	return out
}

// matchesAny reports whether server matches at least one of the images.
func matchesAny(server registry.Server, images []registry.Image) bool {
	for _, img := range images {
		if server.MatchesImage(img) {
			return true
		}
	}
	return false
}
