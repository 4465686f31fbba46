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
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/registry"
)

// problem is why a RegistryCredential cannot be served as a whole: a Ready
// reason and a message (never credential bytes). The zero value is no problem.
type problem struct{ reason, message string }

// source is a usable source Secret (the cache's object: read it, never
// modify it) with the digest of its type and data.
type source struct {
	secret *corev1.Secret
	digest copyDigest
}

// AllowsAnyNamespace reports whether the source namespace list is "*".
func AllowsAnyNamespace(sourceNamespaces []string) bool {
	return slices.Contains(sourceNamespaces, "*")
}

// sourceLoader reads and checks sources for one controller, which owns it
// (with its memo of checks).
type sourceLoader struct {
	reader     client.Reader
	namespaces []string
	checks     sourceChecks
}

// load reads and checks the RegistryCredential's source Secret from the
// cache. A nil source comes with the problem to report; fresh says the
// source's content was checked now (not remembered), for the propagation
// timer.
func (l *sourceLoader) load(ctx context.Context, rc *registryv1alpha1.RegistryCredential) (src *source, prob problem, fresh bool, err error) {
	ref := rc.Spec.SecretRef
	if !AllowsAnyNamespace(l.namespaces) && !slices.Contains(l.namespaces, ref.Namespace) {
		return nil, problem{registryv1alpha1.ReasonSourceNotAllowed,
			fmt.Sprintf("source namespace %q is not one the operator accepts sources from (%v); see --source-namespaces", ref.Namespace, l.namespaces)}, false, nil
	}
	s := &corev1.Secret{}
	// read only: every work item asks for the source.
	if err := l.reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, s, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, problem{registryv1alpha1.ReasonSourceNotFound,
				fmt.Sprintf("source Secret %s/%s not found; existing copies are kept", ref.Namespace, ref.Name)}, false, nil
		}
		return nil, problem{}, false, err
	}
	if controllerUID(s) != "" {
		return nil, problem{registryv1alpha1.ReasonSourceInvalid,
			fmt.Sprintf("source Secret %s/%s is a copy made by regcred-operator; point secretRef at the original", ref.Namespace, ref.Name)}, false, nil
	}
	c, fresh := l.checks.checkFresh(rc, s)
	if c.problem.reason != "" {
		return nil, c.problem, false, nil
	}
	return &source{secret: s, digest: c.digest}, problem{}, fresh, nil
}

// checkSource parses the source's docker config, checks that it covers
// spec.server and digests it.
func checkSource(rc *registryv1alpha1.RegistryCredential, src *corev1.Secret) sourceCheck {
	c := sourceCheck{rcUID: rc.UID, srcUID: src.UID, srcRV: src.ResourceVersion, server: rc.Spec.Server}
	ref := rc.Spec.SecretRef
	cfg, err := registry.ParseSecret(string(src.Type), src.Data)
	if err != nil {
		// ParseError messages never contain data bytes.
		c.problem = problem{registryv1alpha1.ReasonSourceInvalid, fmt.Sprintf("source Secret %s/%s: %v", ref.Namespace, ref.Name, err)}
		return c
	}
	server, err := registry.ParseServer(rc.Spec.Server)
	if err != nil {
		c.problem = problem{registryv1alpha1.ReasonInvalidSpec, fmt.Sprintf("spec.server: %v", err)}
		return c
	}
	if !cfg.Covers(server) {
		names := make([]string, 0, len(cfg.Keys))
		for _, k := range cfg.Keys {
			names = append(names, k.String())
		}
		// The hint goes first: Events keep only the start of a long message.
		msg := fmt.Sprintf("no entry of source Secret %s/%s is one the kubelet would use for server %q", ref.Namespace, ref.Name, server.String())
		if hint := cfg.Hint(server); hint != "" {
			msg += ": " + hint
		}
		msg += fmt.Sprintf(" (entries as the kubelet reads them: %v", names)
		if cfg.Invalid > 0 {
			msg += fmt.Sprintf("; %d more that the kubelet would use for no image", cfg.Invalid)
		}
		msg += ")"
		c.problem = problem{registryv1alpha1.ReasonServerNotInSource, msg}
		return c
	}
	c.digest = digest(src.Type, src.Data)
	return c
}

// sourceCheck is checkSource's result for one version of a source and one
// server.
type sourceCheck struct {
	rcUID   types.UID
	srcUID  types.UID
	srcRV   string
	server  string
	problem problem
	digest  copyDigest
}

// sourceChecks remembers, per RegistryCredential name, the check of its
// current source version: every work item of a fan-out asks for it, and
// parsing and hashing a large source for each of thousands of namespaces
// would cost more than the writes. It holds at most one entry per
// RegistryCredential, replaced when the credential (UID), the source or the
// server changes, dropped by forget when the RegistryCredential goes; a
// restart just checks again.
type sourceChecks struct {
	mu sync.Mutex
	m  map[string]sourceCheck
}

// checkFresh returns the check of src for rc, and whether the source was
// checked now (a version or server not seen before) rather than remembered.
func (s *sourceChecks) checkFresh(rc *registryv1alpha1.RegistryCredential, src *corev1.Secret) (sourceCheck, bool) {
	s.mu.Lock()
	c, ok := s.m[rc.Name]
	s.mu.Unlock()
	if ok && c.rcUID == rc.UID && c.srcUID == src.UID && c.srcRV == src.ResourceVersion && c.server == rc.Spec.Server {
		return c, false
	}
	c = checkSource(rc, src)
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]sourceCheck{}
	}
	s.m[rc.Name] = c
	s.mu.Unlock()
	return c, true
}

// forget drops the check of the named RegistryCredential.
func (s *sourceChecks) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
}

func (s *sourceChecks) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
