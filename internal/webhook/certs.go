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
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// The certificate rotator (cert-controller) reads its Secret and the webhook
// configuration through its own cache, limited to the operator's namespace
// for Secrets, and writes them with Update. Creating the Secret when it is
// missing needs create.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,resourceNames=regcred-mutating-webhook-configuration,verbs=get;update
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,resourceNames=regcred-validating-webhook-configuration,verbs=get;update

// CertRotationOptions configure the self-managed serving certificate.
type CertRotationOptions struct {
	// Namespace holds the Secret and the webhook Service: the operator's own.
	Namespace string
	// SecretName is the Secret the CA and the serving certificate are kept in.
	// It is created (empty) if missing.
	SecretName string
	// ServiceName is the webhook Service; the certificate is valid for
	// <service>.<namespace>.svc (and .svc.cluster.local).
	ServiceName string
	// WebhookConfigurationName, when set, is the MutatingWebhookConfiguration
	// (the Pod webhook) whose caBundle is kept up to date. At least one of
	// the two names is needed.
	WebhookConfigurationName string
	// ValidatingWebhookConfigurationName, when set, is the
	// ValidatingWebhookConfiguration (the tenancy guard) whose caBundle is
	// kept up to date too.
	ValidatingWebhookConfigurationName string
	// CertDir is where the webhook server reads the certificate from.
	// CertName and KeyName are the file names (and Secret keys) of the
	// certificate and key. When CertDir is writable the operator writes
	// them from the Secret itself; when it is read-only (the Secret mounted
	// there as a volume) the kubelet does.
	CertDir, CertName, KeyName string
	// Ready is closed once the certificate files are in CertDir and the CA
	// is in the webhook configuration; give the same channel to GatedServer.
	Ready chan struct{}
}

// SetupCertRotation makes the operator manage its own serving certificate
// with cert-controller: a CA and a serving certificate in the Secret, renewed
// before expiry, and the CA injected into the webhook configuration's
// caBundle. It creates the Secret first if it does not exist (cert-controller
// only updates it), and copies the certificate and key from the Secret into
// CertDir, where cert-controller waits for them before it reports Ready.
//
// Neither reads through the manager's cache, which holds only some Secrets
// and fails on others: cert-controller starts its own cache, for Secrets in
// Namespace and the webhook configuration, and the file writer watches the
// one Secret; both write with the manager's client.
func SetupCertRotation(ctx context.Context, mgr ctrl.Manager, opts CertRotationOptions) error {
	switch {
	case opts.Namespace == "" || opts.SecretName == "" || opts.ServiceName == "":
		return errors.New("cert rotation needs a namespace, a Secret and a Service")
	case opts.WebhookConfigurationName == "" && opts.ValidatingWebhookConfigurationName == "":
		return errors.New("cert rotation needs a webhook configuration name")
	case opts.CertDir == "":
		return errors.New("cert rotation needs the certificate directory")
	case opts.Ready == nil:
		return errors.New("cert rotation needs a Ready channel")
	}
	key := types.NamespacedName{Namespace: opts.Namespace, Name: opts.SecretName}
	if err := ensureSecret(ctx, mgr.GetAPIReader(), mgr.GetClient(), key); err != nil {
		return err
	}
	if opts.CertName == "" {
		opts.CertName = "tls.crt"
	}
	if opts.KeyName == "" {
		opts.KeyName = "tls.key"
	}
	if err := addCertFileWriter(mgr, key, opts.CertDir, opts.CertName, opts.KeyName); err != nil {
		return err
	}
	svc := opts.ServiceName + "." + opts.Namespace
	var webhooks []rotator.WebhookInfo
	if opts.WebhookConfigurationName != "" {
		webhooks = append(webhooks, rotator.WebhookInfo{Name: opts.WebhookConfigurationName, Type: rotator.Mutating})
	}
	if opts.ValidatingWebhookConfigurationName != "" {
		webhooks = append(webhooks, rotator.WebhookInfo{Name: opts.ValidatingWebhookConfigurationName, Type: rotator.Validating})
	}
	return rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      key,
		CertDir:        opts.CertDir,
		CertName:       opts.CertName,
		KeyName:        opts.KeyName,
		CAName:         "regcred-operator-webhook-ca",
		CAOrganization: "regcred-operator",
		DNSName:        svc + ".svc",
		ExtraDNSNames:  []string{svc + ".svc.cluster.local"},
		IsReady:        opts.Ready,
		Webhooks:       webhooks,
		FieldOwner:     "regcred-operator",
		// Every replica serves the webhook, so every replica must have the
		// certificate; writes are optimistic-locked Updates.
		RequireLeaderElection: false,
		// Inject the CA only once this replica's certificate files are there.
		EnableReadinessCheck: true,
		ControllerName:       "webhook-cert-rotator",
	})
}

// ensureSecret creates the (empty, Opaque) certificate Secret if it does not
// exist. It is not labelled as one of our copies.
func ensureSecret(ctx context.Context, reader client.Reader, writer client.Writer, key types.NamespacedName) error {
	err := reader.Get(ctx, key, &corev1.Secret{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading the webhook certificate Secret %s: %w", key, err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace,
			Name:      key.Name,
			Labels: map[string]string{
				"app.kubernetes.io/name":      "regcred-operator",
				"app.kubernetes.io/component": "webhook",
			},
		},
		Type: corev1.SecretTypeOpaque,
	}
	if err := writer.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the webhook certificate Secret %s (outside the cluster, run with --enable-pod-webhook=false or --enable-cert-rotation=false): %w", key, err)
	}
	return nil
}

// certFileWriter writes the serving certificate and key from the Secret into
// the webhook server's certificate directory whenever they change, so that
// the webhook needs no Secret volume and does not wait for the kubelet to
// refresh one (up to a minute or two). It watches only that Secret. If the
// directory is read-only, a Secret volume is mounted there and the kubelet
// keeps the files: the writer then stays out of the way.
type certFileWriter struct {
	cache             cache.Cache
	key               types.NamespacedName
	dir               string
	certName, keyName string
	readOnly          atomic.Bool
}

func addCertFileWriter(mgr ctrl.Manager, key types.NamespacedName, dir, certName, keyName string) error {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {
				Namespaces: map[string]cache.Config{key.Namespace: {}},
				Field:      fields.OneTermEqualSelector("metadata.name", key.Name),
			},
		},
	})
	if err != nil {
		return fmt.Errorf("webhook certificate Secret cache: %w", err)
	}
	return mgr.Add(&certFileWriter{cache: c, key: key, dir: dir, certName: certName, keyName: keyName})
}

// NeedLeaderElection: every replica serves the webhook and needs the files.
func (w *certFileWriter) NeedLeaderElection() bool { return false }

// Start watches the Secret until ctx ends.
func (w *certFileWriter) Start(ctx context.Context) error {
	ctx = logf.IntoContext(ctx, logf.FromContext(ctx).WithName("webhook-cert-files").WithValues("secret", w.key.String(), "dir", w.dir))
	inf, err := w.cache.GetInformer(ctx, &corev1.Secret{}, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	write := func(obj any) {
		if s, ok := obj.(*corev1.Secret); ok && s.Namespace == w.key.Namespace && s.Name == w.key.Name {
			w.write(ctx, s)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    write,
		UpdateFunc: func(_, obj any) { write(obj) },
	}); err != nil {
		return err
	}
	return w.cache.Start(ctx)
}

func (w *certFileWriter) write(ctx context.Context, s *corev1.Secret) {
	log := logf.FromContext(ctx)
	crt, key := s.Data[w.certName], s.Data[w.keyName]
	if len(crt) == 0 || len(key) == 0 || w.readOnly.Load() {
		return
	}
	if err := os.MkdirAll(w.dir, 0o700); err != nil && !readOnlyErr(err) {
		log.Error(err, "creating the certificate directory failed")
		return
	}
	// The key first: a certificate watcher that sees the new certificate
	// with the old key only fails that one reload.
	for _, f := range []struct {
		name string
		data []byte
	}{{w.keyName, key}, {w.certName, crt}} {
		changed, err := writeFileAtomic(filepath.Join(w.dir, f.name), f.data)
		switch {
		case readOnlyErr(err):
			w.readOnly.Store(true)
			log.Info("the certificate directory is read-only; leaving the files to the mounted Secret")
			return
		case err != nil:
			log.Error(err, "writing the webhook certificate failed", "file", f.name)
			return
		case changed:
			log.Info("wrote webhook certificate file", "file", f.name)
		}
	}
}

func readOnlyErr(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, os.ErrPermission)
}

// writeFileAtomic replaces path with data (mode 0600) unless it already holds
// exactly that, through a rename so readers never see half a file.
func writeFileAtomic(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return false, err
	}
	return true, os.Rename(tmp.Name(), path)
}
