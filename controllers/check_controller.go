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
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/regcheck"
	"github.com/regcred/regcred-operator/internal/registry"
)

// CheckControllerName is the name of the controller whose work item is the
// credential check of one RegistryCredential.
const CheckControllerName = "credentialcheck"

// checkRetry is how soon a check that could not reach the registry (or was
// refused a CA bundle) is tried again, at most; never later than the
// interval.
const checkRetry = 5 * time.Minute

// expiryWarning is how long before a credential's expiresAt the operator
// warns (an Event on each check; the metric is there all along).
const expiryWarning = 72 * time.Hour

// checkReconciler checks RegistryCredentials' credentials against their
// registries. It writes no object: the outcome goes to checkResults, and
// the credential controller, asked through statusKeys, puts it in the
// status.
type checkReconciler struct {
	Client client.Client
	// APIReader reads CA bundles (ConfigMaps and Secrets the cache does not
	// hold) at check time.
	APIReader        client.Reader
	Recorder         events.EventRecorder
	SourceNamespaces []string

	results    *checkResults
	gates      *registryGates
	statusKeys *keyPipe[reconcile.Request]
	mapper     *mapper
	checks     *prometheus.CounterVec
}

var checksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "regcred", Name: "credential_checks_total",
	Help: "Credential checks made against registries, by result (a CredentialsVerified reason).",
}, []string{"reason"})

func init() { metrics.Registry.MustRegister(checksTotal) }

func (r *checkReconciler) setup(mgr ctrl.Manager, workers int) error {
	r.checks = checksTotal
	return ctrl.NewControllerManagedBy(mgr).
		Named(CheckControllerName).
		For(&registryv1alpha1.RegistryCredential{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, r.mapper.credentialsOnSourceData()).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: workers,
			RateLimiter:             rateLimiter[reconcile.Request](),
		}).
		Complete(r)
}

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get

// Reconcile checks the RegistryCredential's credential when its check is
// due: never checked, its key (registry, probe, credential, CA) changed, or
// the interval passed. RegistryCredentials sharing a key share the result.
func (r *checkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rc := &registryv1alpha1.RegistryCredential{}
	if err := r.Client.Get(ctx, req.NamespacedName, rc); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil // the credential controller forgets it
		}
		return ctrl.Result{}, err
	}
	if !rc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	if !rc.CheckEnabled() {
		r.settle(rc, checkKey{}, regcheck.Result{Reason: registryv1alpha1.ReasonNotChecked, Message: "spec.check.enabled is false"})
		return ctrl.Result{}, nil
	}
	target, key, basis, why, err := r.plan(ctx, rc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if why != "" {
		r.settle(rc, key, regcheck.Result{Reason: registryv1alpha1.ReasonNotChecked, Message: why})
		return ctrl.Result{RequeueAfter: min(checkRetry, rc.CheckInterval())}, nil
	}
	interval := rc.CheckInterval()
	if r.results.bind(rc.Name, key, basis) {
		if _, ok := r.results.outcome(key); !ok {
			// A new process trusts the check its status shows while its basis
			// holds (see status.checkBasis); fresh then says when it is due.
			if o, ok := outcomeFromStatus(rc, basis); ok {
				r.results.record(key, o)
			}
		}
		r.statusKeys.offer(credentialRequest(rc.Name)) // pending until checked
	}
	if next, fresh := r.fresh(key, interval); fresh {
		return ctrl.Result{RequeueAfter: next}, nil
	}

	notUntil, err := r.gates.acquire(ctx, target.Registry)
	if err != nil {
		return ctrl.Result{}, err
	}
	// Another worker may have checked this key while this one waited.
	if next, fresh := r.fresh(key, interval); fresh {
		r.gates.releaseAfter(target.Registry, time.Time{})
		return ctrl.Result{RequeueAfter: next}, nil
	}
	if wait := time.Until(notUntil); wait > 0 {
		r.gates.releaseAfter(target.Registry, time.Time{})
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	res := regcheck.Check(ctx, target, nil)
	now := time.Now()
	o := checkOutcome{result: res, checkedAt: now, expiresAt: regcheck.ExpiresAt(target.Auth)}
	if res.RetryAfter > 0 {
		o.retryAt = now.Add(res.RetryAfter)
	}
	// Recorded before the gate opens, so that a worker waiting on it for the
	// same key finds the outcome instead of checking again.
	r.results.record(key, o)
	r.gates.releaseAfter(target.Registry, o.retryAt)
	r.checks.WithLabelValues(res.Reason).Inc()
	logf.FromContext(ctx).V(1).Info("credential checked", "registry", target.Registry, "reason", res.Reason, "requests", res.Requests)
	r.statusKeys.offer(credentialRequest(rc.Name))
	r.warnExpiry(rc, o, now)
	return ctrl.Result{RequeueAfter: r.nextAfter(res, interval)}, nil
}

// settle records an outcome that needs no registry (the check is off or
// not possible), under its own key.
func (r *checkReconciler) settle(rc *registryv1alpha1.RegistryCredential, key checkKey, res regcheck.Result) {
	key = sha256.Sum256(append(key[:], "settled\x00"+res.Message...))
	changed := r.results.bind(rc.Name, key, "")
	if _, ok := r.results.outcome(key); !ok {
		r.results.record(key, checkOutcome{result: res})
		changed = true
	}
	if changed {
		r.statusKeys.offer(credentialRequest(rc.Name))
	}
}

// fresh reports whether key was checked less than interval ago, and when
// the next check is due (spread by up to a tenth of the interval, so that
// credentials made together are not all checked together).
func (r *checkReconciler) fresh(key checkKey, interval time.Duration) (time.Duration, bool) {
	o, ok := r.results.outcome(key)
	if !ok || o.pending {
		return 0, false
	}
	age := time.Since(o.checkedAt)
	due := interval
	if transient(o.result.Reason) {
		due = min(checkRetry, interval)
	}
	if !o.retryAt.IsZero() {
		due = min(due, o.retryAt.Sub(o.checkedAt)) // the registry's Retry-After
	}
	if age >= due {
		return 0, false
	}
	return due - age + jitter(due), true
}

func (r *checkReconciler) nextAfter(res regcheck.Result, interval time.Duration) time.Duration {
	if res.RetryAfter > 0 {
		return res.RetryAfter + jitter(res.RetryAfter)
	}
	if transient(res.Reason) {
		return min(checkRetry, interval) + jitter(min(checkRetry, interval))
	}
	return interval + jitter(interval)
}

// transient reports whether a reason says the registry could not answer.
func transient(reason string) bool {
	switch reason {
	case registryv1alpha1.ReasonUnreachable, registryv1alpha1.ReasonRateLimited, registryv1alpha1.ReasonTLSError:
		return true
	}
	return false
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)/10 + 1))
}

// warnExpiry records an Event when the credential expires within
// expiryWarning (or has expired).
func (r *checkReconciler) warnExpiry(rc *registryv1alpha1.RegistryCredential, o checkOutcome, now time.Time) {
	if o.expiresAt.IsZero() || o.expiresAt.Sub(now) > expiryWarning {
		return
	}
	left := o.expiresAt.Sub(now).Round(time.Minute)
	note := fmt.Sprintf("the credential expires at %s (in %s); renew the source Secret %s before Pods fail to pull", o.expiresAt.Format(time.RFC3339), left, sourceKey(rc))
	if left <= 0 {
		note = fmt.Sprintf("the credential expired at %s; renew the source Secret %s", o.expiresAt.Format(time.RFC3339), sourceKey(rc))
	}
	r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, registryv1alpha1.ReasonCredentialExpiring, "Check", "%s", note)
}

// outcomeFromStatus is the outcome rc's status shows, when it was checked
// with this basis and generation and its condition is a check's result.
func outcomeFromStatus(rc *registryv1alpha1.RegistryCredential, basis string) (checkOutcome, bool) {
	st := &rc.Status
	cond := apimeta.FindStatusCondition(st.Conditions, registryv1alpha1.ConditionCredentialsVerified)
	if st.CheckBasis == "" || st.CheckBasis != basis || st.LastChecked == nil || cond == nil ||
		cond.ObservedGeneration != rc.Generation || cond.Reason == registryv1alpha1.ReasonNotChecked {
		return checkOutcome{}, false
	}
	o := checkOutcome{
		result:    regcheck.Result{Reason: cond.Reason, Message: cond.Message, RateLimitRemaining: st.RateLimitRemaining},
		checkedAt: st.LastChecked.Time,
	}
	if st.ExpiresAt != nil {
		o.expiresAt = st.ExpiresAt.Time
	}
	return o, true
}

// plan reads what the check needs: the registry and probe from the spec,
// the credential the kubelet would use from the source, and the CA bundle;
// basis names the versions it read (status.checkBasis). why, when set, says
// why no check is possible (the status says it).
func (r *checkReconciler) plan(ctx context.Context, rc *registryv1alpha1.RegistryCredential) (t regcheck.Target, key checkKey, basis, why string, err error) {
	server, err := registry.ParseServer(rc.Spec.Server)
	if err != nil {
		return t, key, "", "spec.server: " + err.Error(), nil
	}
	loader := sourceLoader{reader: r.Client, namespaces: r.SourceNamespaces}
	src, prob, _, err := loader.load(ctx, rc)
	if err != nil {
		return t, key, "", "", err
	}
	if prob.reason != "" {
		return t, key, "", "the source cannot be used (" + prob.reason + "; see the Ready condition)", nil
	}
	cred, ok := registry.CredentialFor(string(src.secret.Type), src.secret.Data, server)
	if !ok {
		return t, key, "", "no entry of the source serves spec.server (see the Ready condition)", nil
	}
	t.Auth = authn.AuthConfig{Username: cred.Username, Password: cred.Password}
	t.Registry, t.Probe, why = probeTarget(rc, server)
	if why != "" {
		return t, key, "", why, nil
	}
	var caPEM []byte
	if rc.Spec.Check != nil && rc.Spec.Check.CABundle != nil {
		ca := rc.Spec.Check.CABundle
		var caVersion string
		caPEM, caVersion, why, err = r.caBundle(ctx, rc.Spec.SecretRef.Namespace, ca)
		if err != nil || why != "" {
			return t, key, "", why, err
		}
		basis += " ca=" + caVersion
		pool, perr := x509.SystemCertPool()
		if perr != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return t, key, "", "spec.check.caBundle holds no PEM certificate", nil
		}
		t.RootCAs = pool
	}
	h := sha256.New()
	probe := ""
	if t.Probe != nil {
		probe = t.Probe.String()
	}
	for _, part := range []string{t.Registry, probe, cred.Username, cred.Password, string(caPEM)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	copy(key[:], h.Sum(nil))
	basis = fmt.Sprintf("generation=%d source=%s%s", rc.Generation, src.secret.ResourceVersion, basis)
	return t, key, basis, "", nil
}

// probeTarget returns the registry to check and the probe reference from
// spec.server and spec.check.image. A probe must lie under spec.server: the
// check talks only to the credential's own registry.
func probeTarget(rc *registryv1alpha1.RegistryCredential, server registry.Server) (string, name.Reference, string) {
	image := ""
	if rc.Spec.Check != nil {
		image = strings.TrimSpace(rc.Spec.Check.Image)
	}
	wildcard := strings.ContainsAny(server.Host, "*?[")
	if image == "" {
		if wildcard {
			return "", nil, fmt.Sprintf("spec.server %q is a wildcard: set spec.check.image to an image on one of its registries", rc.Spec.Server)
		}
		return server.Host, nil, ""
	}
	first, _, hasSlash := strings.Cut(image, "/")
	if !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		// A repository on spec.server's host.
		if wildcard {
			return "", nil, fmt.Sprintf("spec.check.image %q has no registry host, and spec.server %q is a wildcard", image, rc.Spec.Server)
		}
		image = server.Host + "/" + image
	}
	img, err := registry.ParseImage(image)
	if err != nil {
		return "", nil, "spec.check.image: " + err.Error()
	}
	if !server.MatchesImage(img) {
		return "", nil, fmt.Sprintf("spec.check.image %q is not under spec.server %q: the check talks only to the credential's own registry", rc.Spec.Check.Image, rc.Spec.Server)
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", nil, "spec.check.image: " + err.Error()
	}
	return ref.Context().RegistryStr(), ref, ""
}

// caBundle reads spec.check.caBundle from the source's namespace, with the
// resourceVersion it read.
func (r *checkReconciler) caBundle(ctx context.Context, ns string, ca *registryv1alpha1.CABundleSource) (pem []byte, version, why string, err error) {
	var (
		obj  client.Object
		sel  *registryv1alpha1.KeySelector
		kind string
	)
	switch {
	case ca.ConfigMap != nil:
		obj, sel, kind = &corev1.ConfigMap{}, ca.ConfigMap, "ConfigMap"
	case ca.Secret != nil:
		obj, sel, kind = &corev1.Secret{}, ca.Secret, "Secret"
	default:
		return nil, "", "spec.check.caBundle names neither a ConfigMap nor a Secret", nil
	}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: sel.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
			return nil, "", fmt.Sprintf("spec.check.caBundle: %s %s/%s: %s", kind, ns, sel.Name, apierrors.ReasonForError(err)), nil
		}
		return nil, "", "", err
	}
	var data []byte
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		data = []byte(o.Data[sel.Key])
		if len(data) == 0 {
			data = o.BinaryData[sel.Key]
		}
	case *corev1.Secret:
		data = o.Data[sel.Key]
	}
	if len(data) == 0 {
		return nil, "", fmt.Sprintf("spec.check.caBundle: %s %s/%s has no key %q", kind, ns, sel.Name, sel.Key), nil
	}
	return data, obj.GetResourceVersion(), "", nil
}
