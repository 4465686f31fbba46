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
	"strings"
	"time"

	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/credset"
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
// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=mpod.registry.regcred.dev,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=3,matchPolicy=Equivalent,patch=`{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kube-system","regcred-system"]},{"key":"registry.regcred.dev/inject","operator":"NotIn","values":["false"]}]},"objectSelector":{"matchExpressions":[{"key":"registry.regcred.dev/inject","operator":"NotIn","values":["false"]}]}}`

// The handler reads RegistryCredentials, the metadata of Namespaces and
// Secrets from the manager's cache, and from the API server the metadata of a
// Namespace or of a Secret the cache does not hold (a brand-new Namespace, a
// Secret without our labels).
// +kubebuilder:rbac:groups=registry.regcred.dev,resources=registrycredentials,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

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
	// Reader is the manager's cache; Namespaces (metadata only, as the
	// controllers cache them) and Secrets are read from it.
	Reader client.Reader
	// APIReader, optional, reads what the cache does not hold: a Namespace
	// created a moment ago, and the metadata of a Secret that holds a copy's
	// name. Without it, a name that no cached Secret holds is not added (it
	// could be a Secret we do not own).
	APIReader client.Reader
	// Credentials is the snapshot of the RegistryCredentials, kept up to
	// date by its Follow; required.
	Credentials *credset.Set
	Options     Options

	metrics *webhookMetrics
}

var _ admission.Handler = &PodInjector{}

// SetupPodWebhook registers the PodInjector at Path on the manager's webhook
// server, makes sure the cache watches RegistryCredentials, Namespaces
// (metadata only: the informer the controllers use) and Secrets (the manager's cache options must select which Secrets: see
// controllers.CacheOptions), removes a RegistryCredential's counter series
// when it is deleted, and adds a "pod-webhook" readiness check that fails
// until the caches have synced and the webhook server serves (with a
// GatedServer, not before its certificate is ready).
//
// set is the RegistryCredential snapshot the caller already follows (one set
// shared with the controller); when nil, SetupPodWebhook makes one on the
// manager's cache and follows it.
func SetupPodWebhook(mgr ctrl.Manager, set *credset.Set, opts Options) error {
	ctx := context.Background()
	c := mgr.GetCache()
	rcs, err := c.GetInformer(ctx, &registryv1alpha1.RegistryCredential{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("pod webhook: watching RegistryCredentials: %w", err)
	}
	for _, obj := range []client.Object{namespaceMeta(), &corev1.Secret{}} {
		if _, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("pod webhook: watching %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, err)
		}
	}
	if set == nil {
		set = &credset.Set{Reader: c}
		if err := set.Follow(ctx, c); err != nil {
			return fmt.Errorf("pod webhook: following RegistryCredentials: %w", err)
		}
	}
	m := getMetrics()
	if _, err := rcs.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: m.forget}); err != nil {
		return fmt.Errorf("pod webhook: watching RegistryCredential deletions: %w", err)
	}
	synced := &syncedSignal{ch: make(chan struct{})}
	if err := mgr.Add(synced); err != nil {
		return err
	}
	injector := &PodInjector{
		Reader:      c,
		APIReader:   mgr.GetAPIReader(),
		Credentials: set,
		Options:     opts,
		metrics:     m,
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
		if !set.HasSynced() {
			return errors.New("the RegistryCredential snapshot has not seen every RegistryCredential yet")
		}
		return started(req)
	})
}

// Handle admits a Pod CREATE, adding the pull secrets Decide picks from
// Credentials, except those whose name a Secret of the namespace holds that
// the credential does not control (see mayInject).
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
	if credset.OptedOut(pod.Labels) || credset.IsMirrorPod(pod) {
		return admission.Allowed("")
	}
	// A Pod created with generateName has no name yet, and the namespace in
	// the object may be empty: the request's namespace is authoritative.
	ns, err := p.namespace(ctx, req.Namespace)
	if err != nil {
		log.Error(err, "reading the Pod's namespace failed; admitting the Pod unchanged")
		return admission.Allowed("")
	}
	injections := decide(pod, ns, p.Credentials.All(), p.Options.SourceNamespaces, func(c *credset.Credential) bool {
		return p.mayInject(ctx, ns.Name, c)
	})
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

// namespaceMeta is an empty metadata-only Namespace: the cache holds
// Namespaces that way (controllers.CacheOptions), and a read of a
// &corev1.Namespace{} would fail (ReaderFailOnMissingInformer).
func namespaceMeta() *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}

// namespace reads the Namespace's metadata from the cache; a Namespace
// created a moment ago may not be there yet, then it is read once from the
// API server.
func (p *PodInjector) namespace(ctx context.Context, name string) (*metav1.PartialObjectMetadata, error) {
	if name == "" {
		return nil, errors.New("the admission request has no namespace")
	}
	ns := namespaceMeta()
	err := p.Reader.Get(ctx, types.NamespacedName{Name: name}, ns, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) && p.APIReader != nil {
		logf.FromContext(ctx).V(1).Info("namespace not in the cache yet; reading it from the API server", "namespace", name)
		err = p.APIReader.Get(ctx, types.NamespacedName{Name: name}, ns)
	}
	return ns, err
}

// mayInject reports whether c's copy name may be added to a Pod in namespace
// ns, that is whether the Secret of that name there is, or will be, c's:
//   - it is c's source itself;
//   - it is in the cache (our copies, and every Secret of the source
//     namespaces) and c is its controller;
//   - it is not in the cache, and the API server has no Secret of that name
//     (the copy is on its way: the kubelet re-reads pull secrets on every
//     retry) or one that c controls.
//
// Labels do not count: anyone can copy them. Any error refuses the name.
// Refusals are logged at V(1).
func (p *PodInjector) mayInject(ctx context.Context, ns string, c *credset.Credential) bool {
	src := c.Object.Spec.SecretRef
	if ns == src.Namespace && c.Target == src.Name {
		return true
	}
	log := logf.FromContext(ctx).V(1).WithValues("namespace", ns, "credential", c.Name, "secret", c.Target)
	key := types.NamespacedName{Namespace: ns, Name: c.Target}
	cached := &corev1.Secret{}
	err := p.Reader.Get(ctx, key, cached, client.UnsafeDisableDeepCopy) // read only
	switch {
	case err == nil:
		return controlledBy(log, cached, c)
	case !apierrors.IsNotFound(err):
		log.Info("not adding the pull secret: reading the Secret from the cache failed", "error", err.Error())
		return false
	case p.APIReader == nil:
		log.Info("not adding the pull secret: the Secret is not in the cache and there is no API reader to look further")
		return false
	}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err = p.APIReader.Get(ctx, key, meta)
	switch {
	case apierrors.IsNotFound(err):
		return true
	case err != nil:
		log.Info("not adding the pull secret: reading the Secret from the API server failed", "error", err.Error())
		return false
	}
	return controlledBy(log, meta, c)
}

// controlledBy reports whether c is the controller of the Secret holding its
// copy's name, logging a refusal.
func controlledBy(log logr.Logger, secret metav1.Object, c *credset.Credential) bool {
	if metav1.IsControlledBy(secret, c.Object) {
		return true
	}
	log.Info("not adding the pull secret: a Secret the RegistryCredential does not control holds the name")
	return false
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
