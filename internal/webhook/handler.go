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
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// Path is where the Pod webhook is served.
const Path = "/mutate-v1-pod"

// defaultTimeout bounds one admission when Options.Timeout is unset; the
// webhook configuration gives the API server's own limit (5s).
const defaultTimeout = 2 * time.Second

// The namespaceSelector skips kube-system, the operator's namespace and
// namespaces that opted out; the objectSelector skips Pods that opted out.
// Both are set here (controller-gen's patch) so that config/webhook and the
// envtest suite use the same configuration.
//
// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=mpod.registry.regcred.dev,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=5,matchPolicy=Equivalent,patch=`{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kube-system","regcred-system"]},{"key":"registry.regcred.dev/inject","operator":"NotIn","values":["false"]}]},"objectSelector":{"matchExpressions":[{"key":"registry.regcred.dev/inject","operator":"NotIn","values":["false"]}]}}`

// The handler reads RegistryCredentials and Namespaces from the manager's
// cache (and a Namespace from the API server when the cache has not seen a
// brand-new one yet).
// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Options tune the Pod webhook.
type Options struct {
	// SourceNamespaces are the operator's --source-namespaces ("*": any).
	// RegistryCredentials whose source is elsewhere are never injected, even
	// before the reconciler has reported SourceNotAllowed. Nil leaves the
	// check to the Ready condition.
	SourceNamespaces []string
	// Timeout bounds the work on one admission request (default 2s). On
	// timeout, as on any error, the Pod is admitted unchanged.
	Timeout time.Duration
}

// PodInjector is the admission handler. It never denies a Pod: on any error
// it logs and admits the Pod unchanged.
type PodInjector struct {
	// Reader is the manager's cache; RegistryCredentials and Namespaces are
	// read from it, never from the API server per request.
	Reader client.Reader
	// APIReader, optional, reads a Namespace the cache does not hold yet
	// (created a moment ago).
	APIReader client.Reader
	Options   Options

	compiled compileCache
	metrics  *webhookMetrics
}

var _ admission.Handler = &PodInjector{}

// SetupPodWebhook registers the PodInjector at Path on the manager's webhook
// server, makes sure the cache watches RegistryCredentials and Namespaces,
// and adds a "pod-webhook" readiness check that fails until the caches have
// synced and the webhook server serves (with a GatedServer, not before its
// certificate is ready).
func SetupPodWebhook(mgr ctrl.Manager, opts Options) error {
	ctx := context.Background()
	for _, obj := range []client.Object{&registryv1alpha1.RegistryCredential{}, &corev1.Namespace{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("pod webhook: watching %T: %w", obj, err)
		}
	}
	synced := &syncedSignal{ch: make(chan struct{})}
	if err := mgr.Add(synced); err != nil {
		return err
	}
	injector := &PodInjector{
		Reader:    mgr.GetCache(),
		APIReader: mgr.GetAPIReader(),
		Options:   opts,
		metrics:   getMetrics(),
	}
	server := mgr.GetWebhookServer()
	server.Register(Path, &webhook.Admission{Handler: injector})
	started := server.StartedChecker()
	return mgr.AddReadyzCheck("pod-webhook", func(req *http.Request) error {
		select {
		case <-synced.ch:
		default:
			return errors.New("caches have not synced yet")
		}
		return started(req)
	})
}

// Handle admits a Pod CREATE, adding the pull secrets Decide picks.
func (p *PodInjector) Handle(ctx context.Context, req admission.Request) admission.Response {
	m := p.metrics
	if m == nil {
		m = getMetrics()
	}
	start := time.Now()
	defer func() { m.duration.Observe(time.Since(start).Seconds()) }()

	if req.Operation != admissionv1.Create || req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.SubResource != "" {
		return admission.Allowed("")
	}
	log := logf.FromContext(ctx)
	timeout := p.Options.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		log.Error(err, "decoding the Pod failed; admitting it unchanged")
		return admission.Allowed("")
	}
	if OptedOut(pod.Labels) {
		return admission.Allowed("")
	}
	// A Pod created with generateName has no name yet, and the namespace in
	// the object may be empty: the request's namespace is authoritative.
	ns, err := p.namespace(ctx, req.Namespace)
	if err != nil {
		log.Error(err, "reading the Pod's namespace failed; admitting the Pod unchanged")
		return admission.Allowed("")
	}
	creds, err := p.credentials(ctx, m)
	if err != nil {
		log.Error(err, "listing RegistryCredentials failed; admitting the Pod unchanged")
		return admission.Allowed("")
	}
	injections := decide(pod, ns, creds, p.Options.SourceNamespaces, p.compiled.get)
	if len(injections) == 0 {
		return admission.Allowed("")
	}
	if req.DryRun == nil || !*req.DryRun {
		for _, in := range injections {
			m.mutated.WithLabelValues(in.Credential).Inc()
		}
	}
	if log.V(1).Enabled() {
		names := make([]string, len(injections))
		for i, in := range injections {
			names[i] = in.Credential + "=" + in.Secret
		}
		log.V(1).Info("adding pull secrets", "credentials", strings.Join(names, ","))
	}
	return admission.Patched("", patchOps(pod, injections)...)
}

// namespace reads the Namespace from the cache; a Namespace created a moment
// ago may not be there yet, then it is read once from the API server.
func (p *PodInjector) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	if name == "" {
		return nil, errors.New("the admission request has no namespace")
	}
	ns := &corev1.Namespace{}
	err := p.Reader.Get(ctx, types.NamespacedName{Name: name}, ns, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) && p.APIReader != nil {
		logf.FromContext(ctx).V(1).Info("namespace not in the cache yet; reading it from the API server", "namespace", name)
		err = p.APIReader.Get(ctx, types.NamespacedName{Name: name}, ns)
	}
	return ns, err
}

// credentials lists the RegistryCredentials from the cache, sorted by name so
// that patches are deterministic. The items are shared with the cache and
// must not be modified.
func (p *PodInjector) credentials(ctx context.Context, m *webhookMetrics) ([]registryv1alpha1.RegistryCredential, error) {
	list := &registryv1alpha1.RegistryCredentialList{}
	if err := p.Reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	slices.SortFunc(list.Items, func(a, b registryv1alpha1.RegistryCredential) int { return strings.Compare(a.Name, b.Name) })
	for _, name := range p.compiled.prune(list.Items) {
		m.mutated.DeleteLabelValues(name)
	}
	return list.Items, nil
}

// patchOps appends the injections to spec.imagePullSecrets: existing entries
// stay, in order.
func patchOps(pod *corev1.Pod, injections []Injection) []jsonpatch.JsonPatchOperation {
	refs := make([]corev1.LocalObjectReference, len(injections))
	for i, in := range injections {
		refs[i] = corev1.LocalObjectReference{Name: in.Secret}
	}
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return []jsonpatch.JsonPatchOperation{jsonpatch.NewOperation("add", "/spec/imagePullSecrets", refs)}
	}
	ops := make([]jsonpatch.JsonPatchOperation, len(refs))
	for i := range refs {
		ops[i] = jsonpatch.NewOperation("add", "/spec/imagePullSecrets/-", refs[i])
	}
	return ops
}

// syncedSignal is closed when the manager starts the runnables that do not
// need leader election, which it does once the caches have synced.
type syncedSignal struct{ ch chan struct{} }

func (s *syncedSignal) Start(context.Context) error { close(s.ch); return nil }
func (s *syncedSignal) NeedLeaderElection() bool    { return false }

// GatedServer is a webhook.Server that starts serving only when Ready is
// closed, e.g. once cert-controller has written and mounted the serving
// certificate; starting earlier would fail on the missing files.
type GatedServer struct {
	webhook.Server
	Ready <-chan struct{}
}

// Start waits for Ready (or the end of ctx), then runs the server.
func (s *GatedServer) Start(ctx context.Context) error {
	select {
	case <-s.Ready:
	case <-ctx.Done():
		return nil
	}
	return s.Server.Start(ctx)
}
