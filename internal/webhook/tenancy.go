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

package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/selection"
)

// TenancyPath is where the RegistryCredential tenancy guard is served.
const TenancyPath = "/validate-registry-regcred-dev-v1alpha1-registrycredential"

// The tenancy guard sees only creates and updates that change the spec
// (matchConditions): the operator's own finalizer and status writes, and
// edits of metadata, never wait for it. failurePolicy Fail: when the guard
// cannot answer, a new or changed spec is refused rather than allowed
// unchecked. The chart's templates/webhooks.yaml has a copy of the
// matchConditions: keep them in step.
//
// +kubebuilder:webhook:path=/validate-registry-regcred-dev-v1alpha1-registrycredential,mutating=false,failurePolicy=fail,sideEffects=None,groups=registry.regcred.dev,resources=registrycredentials,verbs=create;update,versions=v1alpha1,name=vregistrycredential.registry.regcred.dev,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent,patch=`{"matchConditions":[{"name":"created-or-spec-changed","expression":"request.operation == 'CREATE' || object.spec != oldObject.spec"}]}`
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// TenancyGuard refuses a RegistryCredential that would have the operator do
// what its author may not do: read the source Secret, and write the copies
// and the ServiceAccount entries in the namespaces it selects. Without it,
// anyone allowed to create a RegistryCredential could have a Secret they
// cannot read copied into namespaces they cannot write. It asks the API
// server with SubjectAccessReviews for the request's user (see
// requiredAccess).
type TenancyGuard struct {
	// Client creates SubjectAccessReviews.
	Client client.Client
}

var _ admission.Handler = &TenancyGuard{}

// SetupTenancyGuard registers the guard at TenancyPath on the manager's
// webhook server and adds a "tenancy-guard" readiness check that fails until
// the webhook server serves (with a GatedServer, not before its certificate
// is ready): the guard's failurePolicy is Fail, so a replica that is not
// serving must not take requests.
func SetupTenancyGuard(mgr ctrl.Manager) error {
	server := mgr.GetWebhookServer()
	server.Register(TenancyPath, &webhook.Admission{Handler: &TenancyGuard{Client: mgr.GetClient()}})
	return mgr.AddReadyzCheck("tenancy-guard", server.StartedChecker())
}

// access is one permission the requesting user must have.
type access struct {
	verb, resource, namespace, name string
}

// String says the permission as a refusal names it.
func (a access) String() string {
	what := a.resource
	if a.name != "" {
		what = fmt.Sprintf("Secret %s/%s", a.namespace, a.name)
	}
	switch {
	case a.name != "":
		return a.verb + " " + what
	case a.namespace == "":
		return a.verb + " " + what + " cluster-wide"
	default:
		return a.verb + " " + what + " in namespace " + a.namespace
	}
}

// requiredAccess is what the author of spec must be allowed to do, because
// the operator does it on their behalf: get the source Secret; create
// Secrets (the copies) and, unless spec.serviceAccounts is empty, patch
// ServiceAccounts in every namespace the selection can reach. Those are the
// namespaces namedNamespaces lists when the namespaceSelector names them,
// each asked about apart; otherwise (any label selector, or none) the
// selection can reach any namespace, present or future, and the access is
// asked for cluster-wide.
func requiredAccess(spec *registryv1alpha1.RegistryCredentialSpec) []access {
	ref := spec.SecretRef
	out := []access{{verb: "get", resource: "secrets", namespace: ref.Namespace, name: ref.Name}}
	writes := func(ns string) {
		out = append(out, access{verb: "create", resource: "secrets", namespace: ns})
		if len(spec.ServiceAccounts) > 0 {
			out = append(out, access{verb: "patch", resource: "serviceaccounts", namespace: ns})
		}
	}
	names, named := namedNamespaces(spec)
	if !named {
		writes(metav1.NamespaceAll)
		return out
	}
	for _, ns := range names {
		writes(ns)
	}
	return out
}

// namedNamespaces returns the namespaces spec can select when its
// namespaceSelector names them with the label kubernetes.io/metadata.name
// (matchLabels, or a matchExpressions In), which the API server sets on
// every namespace to its name and keeps so: the names every such
// requirement allows, less those excludeNamespaces drops, sorted. named is
// false when the selection can reach any namespace.
func namedNamespaces(spec *registryv1alpha1.RegistryCredentialSpec) (names []string, named bool) {
	sel := spec.NamespaceSelector
	if sel == nil {
		return nil, false
	}
	var allowed []string
	restrict := func(values []string) {
		if !named {
			allowed, named = slices.Clone(values), true
			return
		}
		allowed = slices.DeleteFunc(allowed, func(n string) bool { return !slices.Contains(values, n) })
	}
	if v, ok := sel.MatchLabels[corev1.LabelMetadataName]; ok {
		restrict([]string{v})
	}
	for _, e := range sel.MatchExpressions {
		if e.Key == corev1.LabelMetadataName && e.Operator == metav1.LabelSelectorOpIn {
			restrict(e.Values)
		}
	}
	if !named {
		return nil, false
	}
	for _, n := range allowed {
		if !selection.MatchGlob(spec.ExcludeNamespaces, n) && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, true
}

// Handle allows a create, or an update that changes the spec, only when the
// requesting user has every access requiredAccess lists; a refusal names the
// first one missing.
func (g *TenancyGuard) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	rc := &registryv1alpha1.RegistryCredential{}
	if err := json.Unmarshal(req.Object.Raw, rc); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the RegistryCredential: %w", err))
	}
	if req.Operation == admissionv1.Update {
		old := &registryv1alpha1.RegistryCredential{}
		if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the old RegistryCredential: %w", err))
		}
		if reflect.DeepEqual(old.Spec, rc.Spec) {
			return admission.Allowed("spec unchanged")
		}
	}
	user := req.UserInfo
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	log := logf.FromContext(ctx).WithValues("credential", rc.Name, "user", user.Username)
	for _, a := range requiredAccess(&rc.Spec) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user.Username, Groups: user.Groups, UID: user.UID, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: a.namespace, Verb: a.verb, Resource: a.resource, Name: a.name,
			},
		}}
		if err := g.Client.Create(ctx, sar); err != nil {
			log.Error(err, "SubjectAccessReview failed; refusing the RegistryCredential", "access", a.String())
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf("checking whether %s may %s: %w", user.Username, a, err))
		}
		if !sar.Status.Allowed {
			log.Info("refused a RegistryCredential that would do what its author may not", "missing", a.String())
			return admission.Denied(refusal(user.Username, a))
		}
	}
	return admission.Allowed("")
}

// refusal is the message of a denied request: who may not do what, and why
// that matters.
func refusal(user string, a access) string {
	if a.name != "" {
		return fmt.Sprintf("%s may not %s, so a RegistryCredential of theirs may not reference it: "+
			"the operator would copy it into every selected namespace (ask for get on that Secret, or reference one you may read)",
			user, a)
	}
	why := "the operator would do it there for them"
	if a.namespace == "" {
		why = "the namespaceSelector can select any namespace; name the namespaces instead " +
			"(matchExpressions: kubernetes.io/metadata.name In [...]) to be asked about those only"
	}
	return fmt.Sprintf("%s may not %s, which this RegistryCredential makes the operator do (%s)", user, a, why)
}
