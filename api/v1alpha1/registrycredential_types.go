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

package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to the copies and ServiceAccount entries of a
// RegistryCredential when it is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete removes every copy and every ServiceAccount entry the
	// operator made.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the copies and ServiceAccount entries in place,
	// detached from the deleted RegistryCredential.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// SecretReference names the source Secret.
type SecretReference struct {
	// namespace of the source Secret. It must be one of the namespaces the
	// operator accepts sources from (its --source-namespaces flag).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// name of the source Secret, of type kubernetes.io/dockerconfigjson (or the
	// legacy kubernetes.io/dockercfg).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// RegistryCredentialSpec is the desired state of a RegistryCredential.
type RegistryCredentialSpec struct {
	// server is the registry these credentials are for: host[:port] with an
	// optional path prefix, e.g. "private-registry.io",
	// "registry.example.com:5000/team" or "*.example.com". No scheme, no spaces,
	// no trailing slash. index.docker.io is docker.io, as in image names;
	// registry-1.docker.io is a registry of its own, as the kubelet reads it.
	// Pods pulling from this location get the pull secret injected, and one
	// entry of the source Secret must be a key the kubelet uses for it (for
	// Docker Hub: docker.io, index.docker.io or https://index.docker.io/v1/).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.contains('://')",message="server must not include a scheme such as https://; write host[:port][/path]",reason=FieldValueInvalid
	// +kubebuilder:validation:XValidation:rule="!self.matches('\\\\s')",message="server must not contain spaces",reason=FieldValueInvalid
	// +kubebuilder:validation:XValidation:rule="!self.endsWith('/')",message="server must not end with a slash",reason=FieldValueInvalid
	// +kubebuilder:validation:XValidation:rule="self.contains('://') || self.matches('\\\\s') || self.endsWith('/') || self.matches('^(\\\\*\\\\.)?([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\\\\[[0-9A-Fa-f:.]+\\\\])(:[0-9]{1,5})?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$')",message="server must look like host[:port][/path], e.g. registry.example.com:5000/team",reason=FieldValueInvalid
	// +kubebuilder:validation:XValidation:rule="!self.split('/')[0].matches(':[0-9]+$') || (int(self.split('/')[0].substring(self.split('/')[0].lastIndexOf(':') + 1)) >= 1 && int(self.split('/')[0].substring(self.split('/')[0].lastIndexOf(':') + 1)) <= 65535)",message="server port must be between 1 and 65535",reason=FieldValueInvalid
	Server string `json:"server"`

	// secretRef names the source Secret, of type kubernetes.io/dockerconfigjson
	// (or kubernetes.io/dockercfg), that is copied into every selected namespace.
	// +required
	SecretRef SecretReference `json:"secretRef"`

	// targetSecretName is the name of the copy in each namespace. Defaults to
	// secretRef.name.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	TargetSecretName string `json:"targetSecretName,omitempty"`

	// namespaceSelector selects the namespaces that receive the pull secret by
	// their labels. Absent or empty selects all namespaces.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="namespaceSelector.matchExpressions[].operator must be In, NotIn, Exists or DoesNotExist",reason=FieldValueInvalid
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",message="namespaceSelector.matchExpressions[]: In and NotIn need at least one value, Exists and DoesNotExist take none",reason=FieldValueInvalid
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// excludeNamespaces lists glob patterns ("*" any run of characters, "?" one
	// character) of namespace names that never receive the pull secret, even
	// when selected. Defaults to kube-system, kube-public and kube-node-lease;
	// an explicit empty list excludes nothing.
	// +optional
	// +kubebuilder:default={"kube-system","kube-public","kube-node-lease"}
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9.*?-]+$`
	// +listType=set
	ExcludeNamespaces []string `json:"excludeNamespaces"`

	// serviceAccounts lists glob patterns of ServiceAccount names whose
	// imagePullSecrets get the copy. Defaults to ["*"] (all ServiceAccounts);
	// an explicit empty list patches none (Pods can still get the secret from
	// the admission webhook).
	// +optional
	// +kubebuilder:default={"*"}
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9.*?-]+$`
	// +listType=set
	ServiceAccounts []string `json:"serviceAccounts"`

	// check configures the check of the credential against its registry:
	// the OCI distribution login, and a HEAD of a probe image when one is
	// given. Its result is the CredentialsVerified condition. On by default.
	// +optional
	Check *CredentialCheck `json:"check,omitempty"`

	// repair configures what the operator may do about Pods that cannot
	// pull an image under spec.server. Off by default.
	// +optional
	Repair *Repair `json:"repair,omitempty"`

	// deletionPolicy says what happens to the copies and the ServiceAccount
	// entries when this RegistryCredential is deleted: Delete removes them,
	// Orphan leaves them in place, detached.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// CredentialCheck configures the credential check.
type CredentialCheck struct {
	// enabled turns the check off when false. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// image is the probe: a repository ("apps/internal-app") or a full
	// reference ("private-registry.io/apps/internal-app:1.0", or with a
	// digest), under spec.server. A repository is read as its "latest" tag,
	// and one without a host lives on spec.server's host. The check then
	// fetches a token with pull scope for it and HEADs its manifest: 401 or
	// 403 there means the credential may log in but not pull it (Forbidden),
	// 404 that it works but the reference does not exist (ProbeNotFound).
	// Without image only the login is checked; on Docker Hub that proves
	// little, as it issues tokens without access too.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// interval between two checks of an unchanged credential, e.g. "1h" or
	// "15m". Defaults to 1h; at least 1m. Each check is spread by up to a
	// tenth of the interval. A change of the source's bytes or of the spec
	// is checked at once.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="check.interval must be at least 1m",reason=FieldValueInvalid
	Interval *metav1.Duration `json:"interval,omitempty"`

	// caBundle names PEM CA certificates, in the source's namespace, that
	// the registry's TLS certificate is verified against in addition to the
	// system roots: for registries with a private CA.
	// +optional
	CABundle *CABundleSource `json:"caBundle,omitempty"`
}

// Repair configures the repair of Pods that cannot pull.
type Repair struct {
	// restartPodsNotReferenced evicts a Pod that fails to pull an image
	// under spec.server because its imagePullSecrets do not list the copy
	// (reason NotReferenced), when a ReplicaSet, Job or StatefulSet controls
	// it and a new Pod would get the copy: the operator serves the Pod
	// webhook, or the Pod's ServiceAccount lists the copy and the Pod names
	// no pull secret of its own. The controller makes the new Pod. Evictions go through the Eviction API,
	// so PodDisruptionBudgets are respected; the operator evicts at most
	// --repair-evictions-per-minute Pods a minute in all, and records an
	// Event on the Pod and on the RegistryCredential for each. Defaults to
	// false.
	// +optional
	RestartPodsNotReferenced bool `json:"restartPodsNotReferenced,omitempty"`
}

// CABundleSource is one key of a ConfigMap or of a Secret.
// +kubebuilder:validation:XValidation:rule="has(self.configMap) != has(self.secret)",message="caBundle needs exactly one of configMap and secret",reason=FieldValueInvalid
type CABundleSource struct {
	// configMap holds the bundle.
	// +optional
	ConfigMap *KeySelector `json:"configMap,omitempty"`
	// secret holds the bundle.
	// +optional
	Secret *KeySelector `json:"secret,omitempty"`
}

// KeySelector is one data key of an object in the source's namespace.
type KeySelector struct {
	// name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// key in its data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// CheckEnabled reports whether the credential check is on.
func (rc *RegistryCredential) CheckEnabled() bool {
	return rc.Spec.Check == nil || rc.Spec.Check.Enabled == nil || *rc.Spec.Check.Enabled
}

// DefaultCheckInterval is spec.check.interval's default.
const DefaultCheckInterval = time.Hour

// CheckInterval is spec.check.interval, or its default.
func (rc *RegistryCredential) CheckInterval() time.Duration {
	if c := rc.Spec.Check; c != nil && c.Interval != nil && c.Interval.Duration >= time.Minute {
		return c.Interval.Duration
	}
	return DefaultCheckInterval
}

// NamespaceFailure says why one namespace could not be served.
type NamespaceFailure struct {
	// namespace that failed.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// reason is a CamelCase word, e.g. Conflict.
	// +required
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason"`

	// message is a human readable explanation.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// PullFailures summarises the Pods that cannot pull an image under
// spec.server in the namespaces a RegistryCredential selects.
type PullFailures struct {
	// count is the number of (Pod, image) pairs waiting on a failed pull
	// (ErrImagePull or ImagePullBackOff).
	// +required
	Count int32 `json:"count"`

	// reasons counts them by reason: NotReferenced (the Pod does not list
	// the copy), SecretMissing (it lists the name, the namespace has no
	// copy), Unauthorized or Forbidden (the registry refused the
	// credential), NotFound (the image does not exist) or Other.
	// +optional
	// +listType=map
	// +listMapKey=reason
	// +kubebuilder:validation:MaxItems=8
	Reasons []PullFailureCount `json:"reasons,omitempty"`

	// pods lists up to 10 of them, sorted by namespace, Pod and image.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Pods []PodPullFailure `json:"pods,omitempty"`
}

// PullFailureCount is the number of pull failures of one reason.
type PullFailureCount struct {
	// reason of the failures.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason"`
	// count of (Pod, image) pairs.
	// +required
	Count int32 `json:"count"`
}

// PodPullFailure is one image a Pod cannot pull.
type PodPullFailure struct {
	// namespace of the Pod.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// pod is the Pod's name.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod"`
	// image that cannot be pulled, as the Pod spells it.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Image string `json:"image"`
	// reason: see PullFailures.reasons.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason"`
}

// MaxPullFailurePods bounds status.pullFailures.pods.
const MaxPullFailurePods = 10

// MaxFailures bounds status.failures.
const MaxFailures = 10

// MaxFailureMessage bounds a failure's message.
const MaxFailureMessage = 1024

// RegistryCredentialStatus is the observed state of a RegistryCredential.
type RegistryCredentialStatus struct {
	// observedGeneration is the generation last reconciled; 0 until the
	// operator has looked at the RegistryCredential, so that kstatus (Flux)
	// and Argo CD see a new one as in progress, not as done.
	// +optional
	// +kubebuilder:default=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions (kstatus compatible; each has observedGeneration):
	//
	// Ready is the summary: True with reason Synced when every selected
	// namespace holds an up to date copy and its ServiceAccounts list it;
	// otherwise False with one of these reasons: Progressing (writes made,
	// not all seen yet), SyncFailed (API errors, retried with back-off;
	// see failures), SourceNotFound (the source Secret does not exist; copies
	// already made are kept), SourceInvalid (the source is not a
	// kubernetes.io/dockerconfigjson Secret with valid data), SourceNotAllowed
	// (the source's namespace is not one the operator takes sources from),
	// ServerNotInSource (no auth entry of the source is a key the kubelet
	// would use for spec.server),
	// InvalidSpec (e.g. an unusable namespaceSelector), Conflict (a Secret the
	// operator did not create holds the target name in a namespace; see
	// failures).
	//
	// Reconciling is True, with Ready's reason, while the operator is still
	// working: Progressing, SyncFailed or SourceNotFound.
	//
	// Stalled is True, with Ready's reason, when nothing can progress until
	// a person changes something: SourceInvalid, SourceNotAllowed,
	// ServerNotInSource, InvalidSpec or Conflict.
	//
	// Reconciling and Stalled are absent otherwise.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// targetSecretName is the name of the copies (spec.targetSecretName, or
	// the source's name when unset).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	TargetSecretName string `json:"targetSecretName,omitempty"`

	// source is the source Secret as "namespace/name".
	// +optional
	// +kubebuilder:validation:MaxLength=320
	Source string `json:"source,omitempty"`

	// selectedNamespaces counts the namespaces this RegistryCredential selects.
	// +optional
	SelectedNamespaces int32 `json:"selectedNamespaces"`

	// syncedNamespaces counts the selected namespaces that hold an up to date
	// copy and whose matching ServiceAccounts all list it.
	// +optional
	SyncedNamespaces int32 `json:"syncedNamespaces"`

	// patchedServiceAccounts counts the ServiceAccounts that list the copy.
	// +optional
	PatchedServiceAccounts int32 `json:"patchedServiceAccounts"`

	// namespaces is "synced/selected", for kubectl get.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Namespaces string `json:"namespaces,omitempty"`

	// failures lists up to 10 namespaces that could not be served, sorted by
	// namespace; failedNamespaces has the full count.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Failures []NamespaceFailure `json:"failures,omitempty"`

	// failedNamespaces counts all namespaces that could not be served.
	// +optional
	FailedNamespaces int32 `json:"failedNamespaces,omitempty"`

	// lastChecked is when the credential was last checked against the
	// registry (see the CredentialsVerified condition).
	// +optional
	LastChecked *metav1.Time `json:"lastChecked,omitempty"`

	// expiresAt is when the credential expires, where it says so: the "exp"
	// of a JWT password, identity token or registry token, or the
	// "expiration" of an Amazon ECR authorization token.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// rateLimitRemaining is the registry's RateLimit-Remaining header at the
	// last check, where it sends one (Docker Hub: "76;w=21600").
	// +optional
	// +kubebuilder:validation:MaxLength=64
	RateLimitRemaining string `json:"rateLimitRemaining,omitempty"`

	// checkBasis names what the last check read: the resourceVersions of
	// the source Secret and of the CA bundle, and the generation. A new
	// operator process (a restart, a new leader) trusts the last check while
	// its basis is unchanged and its interval has not passed, rather than
	// asking every registry again.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	CheckBasis string `json:"checkBasis,omitempty"`

	// pullFailures counts the Pods in the selected namespaces that cannot
	// pull an image under spec.server, by reason, and lists up to 10. It is
	// absent when the operator runs with --trace-pull-failures=false.
	// +optional
	PullFailures *PullFailures `json:"pullFailures,omitempty"`
}

// RegistryCredential lets every selected namespace pull from one registry:
// the operator copies a docker-registry Secret into each namespace, adds it to
// the ServiceAccounts' imagePullSecrets and injects it into Pods that pull
// from the registry.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it is used as a label value on the copies",reason=FieldValueInvalid
// +kubebuilder:resource:scope=Cluster,shortName=regcred,categories=regcred
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.server`
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.status.source`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.namespaces`,description="synced/selected namespaces"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.conditions[?(@.type=="CredentialsVerified")].reason`,description="the credential check's result"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.status.targetSecretName`,priority=1,description="name of the copies"
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failedNamespaces`,priority=1,description="namespaces that could not be served"
// +kubebuilder:printcolumn:name="Pull Failures",type=integer,JSONPath=`.status.pullFailures.count`,priority=1,description="Pods that cannot pull an image under spec.server"
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type RegistryCredential struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec RegistryCredentialSpec `json:"spec"`

	// status is the observed state. It reads as {observedGeneration: 0}
	// until the operator writes it (a default applied when the API server
	// reads the object).
	// +optional
	// +kubebuilder:default={}
	Status RegistryCredentialStatus `json:"status,omitempty"`
}

// TargetName is the name of the copy in each namespace.
func (r *RegistryCredential) TargetName() string {
	if r.Spec.TargetSecretName != "" {
		return r.Spec.TargetSecretName
	}
	return r.Spec.SecretRef.Name
}

// RegistryCredentialList contains a list of RegistryCredential.
// +kubebuilder:object:root=true
type RegistryCredentialList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RegistryCredential `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RegistryCredential{}, &RegistryCredentialList{})
}
