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
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

const (
	// FieldOwner is the field manager of every write the operator makes.
	FieldOwner = "regcred-operator"
	// Finalizer lets the operator clean up copies and ServiceAccount entries.
	Finalizer = "registry.regcred.dev/finalizer"

	// LabelManagedBy marks the copies. It only narrows what the Secret cache
	// holds: whether a copy is ours is decided by its controller
	// ownerReference (the RegistryCredential's UID), never by labels.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is LabelManagedBy's value.
	ManagedByValue = "regcred-operator"
	// LabelCredential names the RegistryCredential a copy was made for
	// (informational, like LabelManagedBy).
	LabelCredential = "registry.regcred.dev/credential"
	// AnnotationSource names the source of a copy as "namespace/name".
	AnnotationSource = "registry.regcred.dev/source"

	// annotationDataDigest is set in the cache only (see copyDigest): the
	// digest of a copy's type and data, so the data itself is not cached. It
	// is never written to the API server.
	annotationDataDigest = "registry.regcred.dev/observed-content-hash"

	// recordPrefix starts the annotation that records, per RegistryCredential,
	// which imagePullSecrets entry of a ServiceAccount the operator added:
	// "pullsecret.registry.regcred.dev/<credential>: <secret>@<credential UID>".
	// Only an entry recorded with the RegistryCredential's own UID is ever
	// removed, and only by that RegistryCredential.
	recordPrefix = "pullsecret.registry.regcred.dev/"
)

// trackingLabels and trackingAnnotations are GitOps tracking metadata that a
// copy must never carry, or Argo CD would adopt or prune it.
var (
	trackingLabels      = []string{"app.kubernetes.io/instance"}
	trackingAnnotations = []string{"kubectl.kubernetes.io/last-applied-configuration"}
	trackingPrefixes    = []string{"argocd.argoproj.io/"}
)

func isTrackingKey(key string, exact []string) bool {
	for _, k := range exact {
		if key == k {
			return true
		}
	}
	for _, p := range trackingPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// RecordAnnotation is the annotation key recording what the named
// RegistryCredential added to a ServiceAccount.
func RecordAnnotation(credential string) string { return recordPrefix + credential }

// FormatRecord is the value of RecordAnnotation: the entry added and the UID
// of the RegistryCredential that added it.
func FormatRecord(secret string, uid types.UID) string { return secret + "@" + string(uid) }

// parseRecord splits a record value. A value without a UID (written by an
// older version) is not a record of any RegistryCredential: ok is false.
func parseRecord(v string) (secret string, uid types.UID, ok bool) {
	secret, u, found := strings.Cut(v, "@")
	if !found || secret == "" || u == "" {
		return "", "", false
	}
	return secret, types.UID(u), true
}

// recordedUIDs lists the RegistryCredential UIDs that recorded an entry on
// the object's annotations (the field index behind recordIndex).
func recordedUIDs(annotations map[string]string) []string {
	var out []string
	for k, v := range annotations {
		if !strings.HasPrefix(k, recordPrefix) {
			continue
		}
		if _, uid, ok := parseRecord(v); ok {
			out = append(out, string(uid))
		}
	}
	return out
}

// controllerUID is the UID of the object's controller when that controller
// is a RegistryCredential ("" otherwise): the only thing that makes a Secret
// one of our copies.
func controllerUID(obj metav1.Object) types.UID {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != "RegistryCredential" || !strings.HasPrefix(ref.APIVersion, registryv1alpha1.GroupVersion.Group+"/") {
		return ""
	}
	return ref.UID
}

// owns reports whether the RegistryCredential is the controller of obj.
func owns(rc *registryv1alpha1.RegistryCredential, obj metav1.Object) bool {
	return metav1.IsControlledBy(obj, rc)
}

func sourceKey(rc *registryv1alpha1.RegistryCredential) string {
	return rc.Spec.SecretRef.Namespace + "/" + rc.Spec.SecretRef.Name
}

// isSourceItself reports whether the copy in namespace ns would be the
// source Secret itself (the source's own namespace, same name).
func isSourceItself(rc *registryv1alpha1.RegistryCredential, ns string) bool {
	return ns == rc.Spec.SecretRef.Namespace && rc.TargetName() == rc.Spec.SecretRef.Name
}

// truncate shortens s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
