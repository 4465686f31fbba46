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
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/controllers"
	"github.com/regcred/regcred-operator/internal/credset"
	"github.com/regcred/regcred-operator/internal/testenv"
)

// sourceNS is where test sources live; the webhook configuration skips it,
// as it skips the operator's namespace in a real install.
const sourceNS = "regcred-system"

var (
	scheme = runtime.NewScheme()

	// The control plane is started by the first test that needs it (unit
	// tests and benchmarks do not) and stopped by TestMain.
	envOnce sync.Once
	env     *testenv.Env
	envErr  error
	// webhookOpts is where envtest serves the webhook from (and its certs).
	webhookOpts *envtest.WebhookInstallOptions
	// mgr is the operator as main.go builds it, with the webhook.
	mgr *runningManager
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(registryv1alpha1.AddToScheme(scheme))
}

// managerLog is everything the manager logged, at every level.
var managerLog lockedBuffer

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestMain(m *testing.M) {
	// every level to managerLog, searched for credentials at the end and
	// shown when a test fails; to stderr too with REGCRED_TEST_LOG=debug.
	var out io.Writer = &managerLog
	if zapLevel() < zapcore.ErrorLevel {
		out = io.MultiWriter(&managerLog, os.Stderr)
	}
	ctrl.SetLogger(zap.New(zap.Level(zapcore.Level(-2)), zap.WriteTo(out)))
	code := m.Run()
	if mgr != nil {
		mgr.stop()
	}
	if leaks := testenv.Leaks(managerLog.String(), "user:pass", "dXNlcjpwYXNz"); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the manager's log holds test credentials: %v\n", leaks)
		code = 1
	}
	if code != 0 {
		l := managerLog.String()
		fmt.Fprintln(os.Stderr, "--- manager log (tail) ---")
		fmt.Fprintln(os.Stderr, l[max(0, len(l)-20000):])
	}
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	os.Exit(code)
}

// zapLevel is error unless REGCRED_TEST_LOG=debug.
func zapLevel() zapcore.Level {
	if os.Getenv("REGCRED_TEST_LOG") == "debug" {
		return zapcore.Level(-1)
	}
	return zapcore.ErrorLevel
}

// controlPlane starts etcd, kube-apiserver (calling the webhook over TLS, as
// configured by config/webhook) and kube-controller-manager, and the manager,
// once per package.
func controlPlane(t testing.TB) *testenv.Env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a control plane; not in -short mode")
	}
	envOnce.Do(func() {
		webhookOpts = &envtest.WebhookInstallOptions{Paths: []string{filepath.Join(testenv.RepoRoot(), "config", "webhook")}}
		env, envErr = testenv.Start(testenv.Options{
			ControllerManager: true,
			Webhook:           webhookOpts,
			Client:            client.Options{Scheme: scheme},
		})
		if envErr != nil {
			return
		}
		ctx := context.Background()
		if envErr = env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sourceNS}}); envErr != nil {
			return
		}
		envErr = env.Client.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sourceNS, Name: "pull"},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{` +
				`"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},` +
				`"quay.io":{"auth":"dXNlcjpwYXNz"},` +
				`"registry.example.com":{"auth":"dXNlcjpwYXNz"}}}`)},
		})
		if envErr != nil {
			return
		}
		mgr, envErr = startManager()
	})
	if envErr != nil {
		t.Fatalf("control plane: %v", envErr)
	}
	return env
}

// runningManager is a started manager and how to stop it.
type runningManager struct {
	ctrl.Manager
	// credentials is the RegistryCredential snapshot the operator and the
	// webhook share: what the webhook decides from.
	credentials *credset.Set
	cancel      context.CancelFunc
	done        chan error
}

func (m *runningManager) stop() {
	m.cancel()
	<-m.done
}

// startManager builds the operator's manager as main.go does (cache options,
// one followed credset.Set shared by the controllers and the Pod webhook),
// serving the webhook where envtest points the API server, with envtest's
// certificate (no rotation), and waits until it is ready: caches synced and
// the webhook server listening.
func startManager() (*runningManager, error) {
	// the operator's own ServiceAccount, with only the roles config/default grants.
	cfg, err := env.OperatorConfig(context.Background())
	if err != nil {
		return nil, err
	}
	m, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controllers.CacheOptions([]string{sourceNS}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    webhookOpts.LocalServingHost,
			Port:    webhookOpts.LocalServingPort,
			CertDir: webhookOpts.LocalServingCertDir,
		}),
		// Tests start more than one manager in this process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	set := &credset.Set{Reader: m.GetCache()}
	if err := set.Follow(ctx, m.GetCache()); err != nil {
		cancel()
		return nil, err
	}
	if err := controllers.SetupWithManager(ctx, m, controllers.Options{
		SourceNamespaces:  []string{sourceNS},
		PairWorkers:       32,
		CredentialWorkers: 4,
		Credentials:       set,
	}); err != nil {
		cancel()
		return nil, err
	}
	if err := SetupPodWebhook(m, set, Options{SourceNamespaces: []string{sourceNS}}); err != nil {
		cancel()
		return nil, err
	}
	if err := SetupTenancyGuard(m); err != nil {
		cancel()
		return nil, err
	}
	rm := &runningManager{Manager: m, credentials: set, cancel: cancel, done: make(chan error, 1)}
	go func() { rm.done <- m.Start(ctx) }()

	// Ready as the readiness probe sees it (caches, the credential snapshot,
	// the server).
	started := m.GetWebhookServer().StartedChecker()
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-rm.done:
			return false, fmt.Errorf("manager stopped: %w", err)
		default:
		}
		return m.GetCache().WaitForCacheSync(ctx) && set.HasSynced() && started(nil) == nil, nil
	})
	if err != nil {
		rm.stop()
		return nil, err
	}
	return rm, nil
}

// uniqueName returns a DNS label unique to the test.
func uniqueName(t testing.TB, prefix string) string {
	t.Helper()
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	name = strings.Trim(prefix+"-"+strings.Trim(name, "-"), "-")
	for strings.Contains(name, "--") {
		name = strings.ReplaceAll(name, "--", "-")
	}
	nameSeq++
	return fmt.Sprintf("%s-%d", name, nameSeq)
}

// nameSeq makes names unique within the process (tests run one at a time).
var nameSeq int
