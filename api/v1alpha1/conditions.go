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

// Condition types.
const (
	// ConditionReady is the summary condition: True when every selected
	// namespace holds an up to date copy and its ServiceAccounts list it.
	ConditionReady = "Ready"
	// ConditionReconciling is True, with Ready's reason, while the operator
	// is still working towards Ready: writes the caches have not shown yet
	// (Progressing), API errors being retried (SyncFailed) or a source not
	// created yet (SourceNotFound). It is absent otherwise. kstatus reads it
	// as InProgress.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True, with Ready's reason, when the operator
	// cannot make progress without a change by a person: the spec, the
	// source or a foreign Secret must be fixed (InvalidSpec, SourceInvalid,
	// SourceNotAllowed, ServerNotInSource, Conflict), or the registry refuses
	// the credential (Unauthorized, Forbidden). It is absent
	// otherwise. kstatus reads it as Failed.
	ConditionStalled = "Stalled"
	// ConditionCredentialsVerified is the result of the last check of the
	// credential against its registry: True with reason Verified (or
	// ProbeNotFound: the credential works, the probe image does not exist),
	// False with Unauthorized or Forbidden (the registry refused it; Ready is
	// then False with the same reason), Unknown with Unreachable, TLSError,
	// RateLimited (the registry could not answer; Ready is left alone, as
	// nodes may still pull) or NotChecked (turned off, or not checked yet).
	ConditionCredentialsVerified = "CredentialsVerified"
)

// Reasons of the CredentialsVerified condition. Unauthorized and Forbidden
// are also Ready reasons.
const (
	// ReasonVerified: the registry accepted the credential (and, with a
	// probe, let it HEAD the probe's manifest).
	ReasonVerified = "Verified"
	// ReasonUnauthorized: the registry refused the login (401 or 403 to the
	// login or the token request).
	ReasonUnauthorized = "Unauthorized"
	// ReasonForbidden: the login works, but the credential may not pull the
	// probe image (401 or 403 to its manifest).
	ReasonForbidden = "Forbidden"
	// ReasonProbeNotFound: the credential works, but the probe reference
	// does not exist (404).
	ReasonProbeNotFound = "ProbeNotFound"
	// ReasonUnreachable: the registry could not be reached, or answered with
	// a server error.
	ReasonUnreachable = "Unreachable"
	// ReasonTLSError: the registry's TLS certificate was not accepted (see
	// spec.check.caBundle).
	ReasonTLSError = "TLSError"
	// ReasonRateLimited: the registry answered 429; the next check waits for
	// its Retry-After.
	ReasonRateLimited = "RateLimited"
	// ReasonNotChecked: the check is off, not possible (a wildcard server
	// without a probe) or not done yet.
	ReasonNotChecked = "NotChecked"
)

// StalledReason reports whether a Ready reason means the operator cannot go
// on without a change by a person (Stalled) rather than still working
// (Reconciling).
func StalledReason(reason string) bool {
	switch reason {
	case ReasonInvalidSpec, ReasonSourceInvalid, ReasonSourceNotAllowed, ReasonServerNotInSource, ReasonConflict,
		ReasonUnauthorized, ReasonForbidden:
		return true
	}
	return false
}

// Reasons of the Ready condition. Events use the same words.
const (
	// ReasonSynced: every selected namespace is served.
	ReasonSynced = "Synced"
	// ReasonSourceNotFound: the source Secret does not exist. Copies already
	// made are kept.
	ReasonSourceNotFound = "SourceNotFound"
	// ReasonSourceInvalid: the source Secret has the wrong type or malformed
	// data. Nothing is copied or changed.
	ReasonSourceInvalid = "SourceInvalid"
	// ReasonServerNotInSource: no auth entry of the source is a key the
	// kubelet would use for every image under spec.server.
	ReasonServerNotInSource = "ServerNotInSource"
	// ReasonSourceNotAllowed: the source lives in a namespace the operator
	// does not accept sources from.
	ReasonSourceNotAllowed = "SourceNotAllowed"
	// ReasonConflict: a Secret that the operator did not create holds the
	// target name in at least one namespace.
	ReasonConflict = "Conflict"
	// ReasonProgressing: writes were made and the caches have not seen all
	// of them yet; it turns into Synced on its own.
	ReasonProgressing = "Progressing"
	// ReasonSyncFailed: API errors kept some namespaces from being served.
	ReasonSyncFailed = "SyncFailed"
	// ReasonInvalidSpec: the spec cannot be used (e.g. a bad label selector).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonCredentialExpiring (an Event only): the credential's expiresAt
	// is less than three days away, or past.
	ReasonCredentialExpiring = "CredentialExpiring"
	// ReasonDeleting: the RegistryCredential is being deleted.
	ReasonDeleting = "Deleting"
)

// Reasons of a Pod's pull failure (status.pullFailures, and the Warning
// Event on the Pod). Unauthorized and Forbidden are the CredentialsVerified
// reasons: the registry refused the credential the Pod pulled with.
const (
	// ReasonNotReferenced: the Pod's imagePullSecrets do not list the copy,
	// e.g. it was admitted while the webhook was down, before its
	// ServiceAccount was patched, or its ServiceAccount is not one
	// spec.serviceAccounts names.
	ReasonNotReferenced = "NotReferenced"
	// ReasonSecretMissing: the Pod lists the copy's name, but the namespace
	// holds no copy of this RegistryCredential under it.
	ReasonSecretMissing = "SecretMissing"
	// ReasonNotFound: the image does not exist; not a credential problem.
	ReasonNotFound = "NotFound"
	// ReasonOther: any other pull failure (network, TLS, rate limit,
	// signature); the Pod's Events say more.
	ReasonOther = "Other"
	// ReasonEvicted (an Event only): spec.repair.restartPodsNotReferenced
	// evicted a Pod that did not list the copy, so that its controller makes
	// one that does.
	ReasonEvicted = "Evicted"
)
