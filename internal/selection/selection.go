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

// Package selection decides which namespaces and ServiceAccounts a
// RegistryCredential serves. It is shared by the reconciler and the Pod
// admission webhook so both always agree.
package selection

import (
	"fmt"
	"path"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// MatchGlob reports whether name matches any of the glob patterns ("*" any
// run of characters, "?" one character, "[...]" a class). A malformed
// pattern matches nothing.
func MatchGlob(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, err := path.Match(p, name); err == nil && ok {
			return true
		}
	}
	return false
}

// ValidateGlobs returns an error naming the first malformed pattern.
func ValidateGlobs(field string, patterns []string) error {
	for i, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%s[%d] %q is not a valid glob pattern", field, i, p)
		}
	}
	return nil
}

// Selector is a RegistryCredential's compiled namespace selection.
type Selector struct {
	labels  labels.Selector
	exclude []string
}

// New compiles the namespace selection of spec. An absent or empty
// namespaceSelector selects every namespace.
func New(spec *registryv1alpha1.RegistryCredentialSpec) (*Selector, error) {
	sel := labels.Everything()
	if spec.NamespaceSelector != nil {
		var err error
		sel, err = metav1.LabelSelectorAsSelector(spec.NamespaceSelector)
		if err != nil {
			return nil, fmt.Errorf("namespaceSelector: %w", err)
		}
	}
	if err := ValidateGlobs("excludeNamespaces", spec.ExcludeNamespaces); err != nil {
		return nil, err
	}
	if err := ValidateGlobs("serviceAccounts", spec.ServiceAccounts); err != nil {
		return nil, err
	}
	return &Selector{labels: sel, exclude: spec.ExcludeNamespaces}, nil
}

// Matches reports whether a namespace with this name and these labels is
// selected, ignoring its lifecycle.
func (s *Selector) Matches(name string, nsLabels map[string]string) bool {
	if MatchGlob(s.exclude, name) {
		return false
	}
	return s.labels.Matches(labels.Set(nsLabels))
}

// Serves reports whether the namespace should hold the pull secret: it is
// selected, not excluded and not terminating.
func (s *Selector) Serves(ns metav1.Object) bool {
	if Terminating(ns) {
		return false
	}
	return s.Matches(ns.GetName(), ns.GetLabels())
}

// Terminating reports whether a namespace is being deleted. A namespace's
// phase turns Terminating only together with its deletionTimestamp, so the
// metadata alone tells (the operator caches namespaces metadata-only).
func Terminating(ns metav1.Object) bool {
	return ns.GetDeletionTimestamp() != nil
}

// ServiceAccountSelected reports whether the ServiceAccount name is one the
// RegistryCredential patches.
func ServiceAccountSelected(spec *registryv1alpha1.RegistryCredentialSpec, name string) bool {
	return MatchGlob(spec.ServiceAccounts, name)
}
