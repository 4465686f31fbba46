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

package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/regcred/regcred-operator/internal/credset"
	podwebhook "github.com/regcred/regcred-operator/internal/webhook"
)

// webhookFlags are the Pod webhook's command line settings. The certificate
// flags are named as in the kubebuilder v4 scaffold (--webhook-cert-path
// defaults to controller-runtime's certificate directory, which is where the
// operator writes its own certificate); the names of the Service, webhook
// configuration and Secret default to what config/default deploys
// (namespace regcred-system, namePrefix regcred-).
type webhookFlags struct {
	enable                bool
	tenancyGuard          bool
	validatingName        string
	port                  int
	certPath              string
	certName              string
	certKey               string
	certRotation          bool
	serviceName           string
	configurationName     string
	certSecret            string
	certRotationNamespace string
}

func bindWebhookFlags(fs *flag.FlagSet, w *webhookFlags) {
	fs.BoolVar(&w.enable, "enable-pod-webhook", true, "Serve the Pod admission webhook that adds matching pull secrets to new Pods.")
	fs.BoolVar(&w.tenancyGuard, "enable-tenancy-guard", true,
		"Serve the RegistryCredential validating webhook that refuses a new or changed spec unless its author may get the "+
			"source Secret, create Secrets and patch ServiceAccounts where it selects (SubjectAccessReviews for the requesting "+
			"user). Its configuration has failurePolicy Fail: when turning this off, delete the "+
			"ValidatingWebhookConfiguration too (--validating-webhook-configuration-name).")
	fs.StringVar(&w.validatingName, "validating-webhook-configuration-name", "regcred-validating-webhook-configuration",
		"The ValidatingWebhookConfiguration of the tenancy guard, whose caBundle the managed certificate's CA is written to.")
	fs.IntVar(&w.port, "webhook-port", 9443, "The port the webhook server listens on.")
	fs.StringVar(&w.certPath, "webhook-cert-path", filepath.Join("/tmp", "k8s-webhook-server", "serving-certs"),
		"The directory that contains the webhook serving certificate. With --enable-cert-rotation the operator writes it there "+
			"from --webhook-cert-secret, unless the directory is read-only (the Secret mounted there as a volume).")
	fs.StringVar(&w.certName, "webhook-cert-name", "tls.crt", "The name of the webhook certificate file.")
	fs.StringVar(&w.certKey, "webhook-cert-key", "tls.key", "The name of the webhook key file.")
	fs.BoolVar(&w.certRotation, "enable-cert-rotation", true,
		"Manage the webhook serving certificate: keep a CA and certificate in --webhook-cert-secret and the CA in the "+
			"webhook configuration's caBundle. When false, only serve the certificate found at --webhook-cert-path "+
			"(cert-manager, or a certificate you provide) and touch no webhook configuration.")
	fs.StringVar(&w.serviceName, "webhook-service-name", "regcred-webhook-service",
		"The webhook Service, in the operator's namespace; the managed certificate is issued for it.")
	fs.StringVar(&w.configurationName, "webhook-configuration-name", "regcred-mutating-webhook-configuration",
		"The MutatingWebhookConfiguration whose caBundle the managed certificate's CA is written to.")
	fs.StringVar(&w.certSecret, "webhook-cert-secret", "regcred-webhook-server-cert",
		"The Secret, in the operator's namespace, holding the managed CA and certificate (created if missing).")
	w.certRotationNamespace = defaultSourceNamespace() // $POD_NAMESPACE, else regcred-system
}

// serving reports whether the webhook server runs at all.
func (w *webhookFlags) serving() bool { return w.enable || w.tenancyGuard }

// webhookServer builds the manager's webhook server, or returns nil when no
// webhook is enabled. With certificate rotation the server is gated: it
// starts once the rotator reports the certificate mounted and the CA injected
// (ready is the channel to hand to setupWebhook). Without it, a certificate
// watcher serves the files at --webhook-cert-path, as in kubebuilder v4; it
// is returned so that it can be added to the manager.
func (w *webhookFlags) webhookServer(tlsOpts []func(*tls.Config)) (srv webhook.Server, ready chan struct{}, watcher *certwatcher.CertWatcher, err error) {
	if !w.serving() {
		return nil, nil, nil, nil
	}
	opts := webhook.Options{
		Port:     w.port,
		CertDir:  w.certPath,
		CertName: w.certName,
		KeyName:  w.certKey,
		TLSOpts:  append([]func(*tls.Config){}, tlsOpts...),
	}
	if !w.certRotation {
		watcher, err = certwatcher.New(filepath.Join(w.certPath, w.certName), filepath.Join(w.certPath, w.certKey))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("loading the webhook certificate from %s: %w", w.certPath, err)
		}
		opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.GetCertificate = watcher.GetCertificate })
		return webhook.NewServer(opts), nil, watcher, nil
	}
	ready = make(chan struct{})
	return &podwebhook.GatedServer{Server: webhook.NewServer(opts), Ready: ready}, ready, nil, nil
}

// setupWebhook registers the Pod webhook and, with rotation, the certificate
// rotator, after the controller has been set up.
func setupWebhook(ctx context.Context, mgr ctrl.Manager, w webhookFlags, credentials *credset.Set, sourceNamespaces []string,
	ready chan struct{}, watcher *certwatcher.CertWatcher) error {
	if !w.serving() {
		return nil
	}
	if watcher != nil {
		if err := mgr.Add(watcher); err != nil {
			return fmt.Errorf("adding the webhook certificate watcher: %w", err)
		}
	}
	// only the configurations of the webhooks served: a disabled one may
	// not exist (the Helm chart leaves it out).
	mutating, validating := "", ""
	if w.enable {
		mutating = w.configurationName
	}
	if w.tenancyGuard {
		validating = w.validatingName
	}
	if w.certRotation {
		if err := podwebhook.SetupCertRotation(ctx, mgr, podwebhook.CertRotationOptions{
			Namespace:                          w.certRotationNamespace,
			SecretName:                         w.certSecret,
			ServiceName:                        w.serviceName,
			WebhookConfigurationName:           mutating,
			ValidatingWebhookConfigurationName: validating,
			CertDir:                            w.certPath,
			CertName:                           w.certName,
			KeyName:                            w.certKey,
			Ready:                              ready,
		}); err != nil {
			return fmt.Errorf("setting up webhook certificate rotation: %w", err)
		}
	}
	if w.tenancyGuard {
		if err := podwebhook.SetupTenancyGuard(mgr); err != nil {
			return fmt.Errorf("setting up the tenancy guard: %w", err)
		}
	}
	if !w.enable {
		return nil
	}
	if err := podwebhook.SetupPodWebhook(mgr, credentials, podwebhook.Options{SourceNamespaces: sourceNamespaces}); err != nil {
		return fmt.Errorf("setting up the Pod webhook: %w", err)
	}
	return nil
}
