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
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/regcred/regcred-operator/controllers"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestCertRotation runs the operator's manager (its restricted cache
// included) with cert-controller managing the serving certificate. It checks
// that the Secret is created and filled, that the certificate files appear in
// the (writable) certificate directory without a Secret volume, that the Pod
// turns ready, and that the server then presents a certificate for the
// Service's DNS name that verifies against the caBundle written into the
// webhook configuration.
func TestCertRotation(t *testing.T) {
	controlPlane(t)
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(90 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctx := context.Background()

	// A webhook configuration that nothing triggers, standing in for ours.
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t, "mwc")},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "never.registry.regcred.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: sourceNS, Name: "regcred-webhook-service", Path: ptr.To("/never"),
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
			}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"regcred-test-never": "true"}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	g.Expect(env.Client.Create(ctx, mwc)).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(ctx, mwc) })

	certDir := t.TempDir()
	m, port, probePort, ready := gatedManager(t, g, certDir)
	secretKey := client.ObjectKey{Namespace: sourceNS, Name: uniqueName(t, "cert")}
	g.Expect(SetupCertRotation(ctx, m, CertRotationOptions{
		Namespace:                secretKey.Namespace,
		SecretName:               secretKey.Name,
		ServiceName:              "regcred-webhook-service",
		WebhookConfigurationName: mwc.Name,
		CertDir:                  certDir,
		CertName:                 "tls.crt",
		KeyName:                  "tls.key",
		Ready:                    ready,
	})).To(Succeed())
	g.Expect(SetupPodWebhook(m, nil, Options{})).To(Succeed())

	secret := &corev1.Secret{}
	g.Expect(env.Client.Get(ctx, secretKey, secret)).To(Succeed(), "SetupCertRotation creates the Secret")

	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, secretKey, secret)).To(Succeed())
		g.Expect(secret.Data).To(HaveKey("ca.crt"))
		g.Expect(secret.Data).To(HaveKey("tls.crt"))
		g.Expect(secret.Data).To(HaveKey("tls.key"))
	}).Should(Succeed(), "the rotator fills the Secret")

	readyz := func() (int, error) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	g.Eventually(readyz).Should(Equal(http.StatusOK), "ready once the files are written, the CA injected and the server serving")
	select {
	case <-ready:
	default:
		t.Fatal("ready without the rotator saying so")
	}
	g.Expect(env.Client.Get(ctx, secretKey, secret)).To(Succeed())
	for _, k := range []string{"tls.crt", "tls.key"} {
		data, err := os.ReadFile(filepath.Join(certDir, k))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(bytes.Equal(data, secret.Data[k])).To(BeTrue(), "%s in the certificate directory is the Secret's", k)
	}

	got := &admissionregistrationv1.MutatingWebhookConfiguration{}
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(mwc), got)).To(Succeed())
	caBundle := got.Webhooks[0].ClientConfig.CABundle
	g.Expect(bytes.Equal(caBundle, secret.Data["ca.crt"])).To(BeTrue(), "caBundle is the Secret's CA")

	roots := x509.NewCertPool()
	g.Expect(roots.AppendCertsFromPEM(caBundle)).To(BeTrue())
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{
		RootCAs:    roots,
		ServerName: "regcred-webhook-service." + sourceNS + ".svc",
		MinVersion: tls.VersionTLS12,
	})
	g.Expect(err).NotTo(HaveOccurred(), "the served certificate verifies against the caBundle for the Service name")
	g.Expect(conn.Close()).To(Succeed())
}

// TestTenancyGuardReadiness: with the tenancy guard as the only webhook
// (--enable-pod-webhook=false), the Pod is not ready until the webhook server
// serves, which a GatedServer does only once the certificate is ready: the
// guard's failurePolicy is Fail, so a Service endpoint that does not answer
// refuses every RegistryCredential.
func TestTenancyGuardReadiness(t *testing.T) {
	controlPlane(t)
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(30 * time.Second)
	g.SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	m, _, probePort, ready := gatedManager(t, g, webhookOpts.LocalServingCertDir)
	g.Expect(m.AddReadyzCheck("readyz", healthz.Ping)).To(Succeed()) // as main.go adds it
	g.Expect(SetupTenancyGuard(m)).To(Succeed())

	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	probe := func(path string) func() (int, error) {
		return func() (int, error) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", probePort, path))
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}
	}
	g.Eventually(probe("/readyz")).ShouldNot(BeZero(), "the probe endpoint never answered")
	g.Consistently(probe("/readyz"), time.Second).ShouldNot(Equal(http.StatusOK), "ready before the webhook server serves")
	close(ready)
	g.Eventually(probe("/readyz")).Should(Equal(http.StatusOK), "not ready once the webhook server serves")
	g.Expect(probe("/readyz/tenancy-guard")()).To(Equal(http.StatusOK), "the readiness check is named tenancy-guard")
}

// stubServer records whether it was started.
type stubServer struct {
	webhook.Server
	started chan struct{}
}

func (s *stubServer) Start(ctx context.Context) error {
	close(s.started)
	<-ctx.Done()
	return nil
}

func TestGatedServer(t *testing.T) {
	t.Run("starts only once ready", func(t *testing.T) {
		ready := make(chan struct{})
		inner := &stubServer{started: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- (&GatedServer{Server: inner, Ready: ready}).Start(ctx) }()
		select {
		case <-inner.started:
			t.Fatal("started before ready")
		case <-time.After(200 * time.Millisecond):
		}
		close(ready)
		select {
		case <-inner.started:
		case <-time.After(5 * time.Second):
			t.Fatal("not started after ready")
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start() = %v", err)
		}
	})
	t.Run("returns when stopped before ready", func(t *testing.T) {
		inner := &stubServer{started: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := (&GatedServer{Server: inner, Ready: make(chan struct{})}).Start(ctx); err != nil {
			t.Errorf("Start() = %v", err)
		}
		select {
		case <-inner.started:
			t.Error("inner server started")
		default:
		}
	})
}

func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tls.crt")
	for i, tc := range []struct {
		data        string
		wantChanged bool
	}{{"one", true}, {"one", false}, {"two", true}} {
		changed, err := writeFileAtomic(path, []byte(tc.data))
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if changed != tc.wantChanged {
			t.Errorf("write %d of %q: changed = %v, want %v", i, tc.data, changed, tc.wantChanged)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != tc.data {
			t.Errorf("write %d: file holds %q (%v), want %q", i, got, err, tc.data)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("write %d: mode %v (%v), want 0600", i, fi.Mode().Perm(), err)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// gatedManager is a manager as main.go builds it with managed
// certificates: its webhook server (on a free port, certificates in
// certDir) serves once ready is closed; its health probes are on probePort.
func gatedManager(t *testing.T, g Gomega, certDir string) (m ctrl.Manager, port, probePort int, ready chan struct{}) {
	port, probePort = freePort(t), freePort(t)
	ready = make(chan struct{})
	m, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controllers.CacheOptions([]string{sourceNS}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "127.0.0.1:" + strconv.Itoa(probePort),
		WebhookServer: &GatedServer{
			Server: webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir}),
			Ready:  ready,
		},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	return m, port, probePort, ready
}
