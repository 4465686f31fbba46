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

	admissionv1 "k8s.io/api/admission/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// TenancyPath is where the RegistryCredential tenancy guard is served.
const TenancyPath = "/validate-registry-regcred-dev-v1alpha1-registrycredential"

// The tenancy guard sees only requests that set or change spec.secretRef
// (matchConditions): the operator's own finalizer and status writes, and
// edits of other fields, never wait for it. failurePolicy Fail: when the
// guard cannot answer, a new reference is refused rather than allowed
// unchecked.
//
// +kubebuilder:webhook:path=/validate-registry-regcred-dev-v1alpha1-registrycredential,mutating=false,failurePolicy=fail,sideEffects=None,groups=registry.regcred.dev,resources=registrycredentials,verbs=create;update,versions=v1alpha1,name=vregistrycredential.registry.regcred.dev,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent,patch=`{"matchConditions":[{"name":"secret-ref-set-or-changed","expression":"request.operation == 'CREATE' || object.spec.secretRef != oldObject.spec.secretRef"}]}`
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// TenancyGuard refuses a RegistryCredential whose author may not read its
// source Secret: the operator would otherwise copy into namespaces the
// author can read a Secret the author cannot. It asks the API server with a
// SubjectAccessReview for the request's user: may they get that Secret?
type TenancyGuard struct {
	// Client creates SubjectAccessReviews.
	Client client.Client
}

var _ admission.Handler = &TenancyGuard{}

// SetupTenancyGuard registers the guard at TenancyPath on the manager's
// webhook server.
func SetupTenancyGuard(mgr ctrl.Manager) {
	mgr.GetWebhookServer().Register(TenancyPath, &webhook.Admission{Handler: &TenancyGuard{Client: mgr.GetClient()}})
}

// Handle allows a create, or an update that changes spec.secretRef, only
// when the requesting user may get the referenced Secret.
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
		if old.Spec.SecretRef == rc.Spec.SecretRef {
			return admission.Allowed("spec.secretRef unchanged")
		}
	}
	ref := rc.Spec.SecretRef
	user := req.UserInfo
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, Groups: user.Groups, UID: user.UID, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ref.Namespace, Verb: "get", Resource: "secrets", Name: ref.Name,
		},
	}}
	if err := g.Client.Create(ctx, sar); err != nil {
		logf.FromContext(ctx).Error(err, "SubjectAccessReview failed; refusing the RegistryCredential", "credential", rc.Name)
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("checking whether %s may read Secret %s/%s: %w", user.Username, ref.Namespace, ref.Name, err))
	}
	if !sar.Status.Allowed {
		logf.FromContext(ctx).Info("refused a RegistryCredential whose author may not read its source",
			"credential", rc.Name, "user", user.Username, "source", ref.Namespace+"/"+ref.Name)
		return admission.Denied(fmt.Sprintf("%s may not get Secret %s/%s, so a RegistryCredential of theirs may not reference it: "+
			"the operator would copy it into every selected namespace (ask for get on that Secret, or reference one you may read)",
			user.Username, ref.Namespace, ref.Name))
	}
	return admission.Allowed("")
}
