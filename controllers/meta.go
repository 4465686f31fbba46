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

import "strings"

const (
	// FieldOwner is the field manager of every write the operator makes.
	FieldOwner = "regcred-operator"
	// Finalizer lets the operator clean up copies and ServiceAccount entries.
	Finalizer = "registry.regcred.dev/finalizer"

	// LabelManagedBy marks the copies; the Secret cache only sees Secrets
	// carrying it (besides the allowed source namespaces).
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is LabelManagedBy's value.
	ManagedByValue = "regcred-operator"
	// LabelCredential names the RegistryCredential a copy belongs to.
	LabelCredential = "registry.regcred.dev/credential"
	// AnnotationSource names the source of a copy as "namespace/name".
	AnnotationSource = "registry.regcred.dev/source"

	// annotationObservedHash is set in the cache only (see CacheOptions): a
	// hash of the copy's type and data, so the data itself is not cached. It
	// is never written to the API server.
	annotationObservedHash = "registry.regcred.dev/observed-content-hash"
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
