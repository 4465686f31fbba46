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

package kubeclient

import (
	"net/http"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// coreMappings are the core/v1 kinds the operator reads on every work item,
// with their resources and scopes as the Kubernetes API defines them (v1 is
// stable: these never change). The list kinds are there because
// controller-runtime's cache asks about the list type on every List of a
// type cached per namespace (copiesIn, once per work item); they get the
// answer the dynamic mapper gives them (a resource guessed from the kind,
// the item's scope).
var coreMappings = map[string]struct {
	resource string
	scope    meta.RESTScope
}{
	"Secret":             {"secrets", meta.RESTScopeNamespace},
	"ServiceAccount":     {"serviceaccounts", meta.RESTScopeNamespace},
	"Namespace":          {"namespaces", meta.RESTScopeRoot},
	"SecretList":         {"secretlists", meta.RESTScopeNamespace},
	"ServiceAccountList": {"serviceaccountlists", meta.RESTScopeNamespace},
	"NamespaceList":      {"namespacelists", meta.RESTScopeRoot},
}

// NewRESTMapper is controller-runtime's dynamic REST mapper that answers the
// core/v1 kinds in coreMappings itself. controller-runtime's cache asks the
// mapper whether an object is namespaced on every read of a type cached per
// namespace (our Secrets: copies everywhere, sources in their namespaces),
// and the dynamic mapper builds that answer anew each time: in a fan-out of
// 1,000 namespaces that was a sixth of the operator's allocations.
func NewRESTMapper(cfg *rest.Config, httpClient *http.Client) (meta.RESTMapper, error) {
	m, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	return coreMapper{RESTMapper: m}, nil
}

type coreMapper struct {
	meta.RESTMapper
}

func (m coreMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if c, ok := coreMappings[gk.Kind]; ok && gk.Group == "" && (len(versions) == 0 || (len(versions) == 1 && versions[0] == "v1")) {
		return &meta.RESTMapping{
			Resource:         schema.GroupVersionResource{Version: "v1", Resource: c.resource},
			GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: gk.Kind},
			Scope:            c.scope,
		}, nil
	}
	return m.RESTMapper.RESTMapping(gk, versions...)
}
