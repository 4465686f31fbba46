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

package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/controllers"
	"github.com/regcred/regcred-operator/internal/testenv"
)

const (
	sourceNS = "regcred-system"
	// extraSourceNS is a second namespace sources may live in, one a test
	// may delete.
	extraSourceNS = "regcred-extra-sources"
	// password is the credential in test sources; no log, event or status
	// may ever contain it.
	password = "s3cr3t-Pa55w0rd-xyz"
)

var (
	scheme = runtime.NewScheme()
	env    *testenv.Env
	k8s    client.Client // uncached, for assertions
	mgr    *runningManager
	logBuf = &testenv.LogBuffer{}
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(registryv1alpha1.AddToScheme(scheme))
}

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(logBuf), zap.Level(zapLevelDebug())))
	var err error
	env, err = testenv.Start(testenv.Options{ControllerManager: true, Client: client.Options{Scheme: scheme}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s = env.Client
	code := func() int {
		if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sourceNS}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		mgr, err = startManager()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { mgr.stop() }()
		return m.Run()
	}()
	// Everything the manager logged, at every level, holds no credential.
	if leaks := testenv.Leaks(logBuf.String(), password); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the manager's log holds test credentials: %v\n", leaks)
		code = 1
	}
	if code != 0 {
		fmt.Fprintln(os.Stderr, "--- manager log (tail) ---")
		l := logBuf.String()
		fmt.Fprintln(os.Stderr, l[max(0, len(l)-20000):])
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// zapLevelDebug shows V(1) detail in the captured log.
func zapLevelDebug() zapcore.Level { return zapcore.Level(-1) }

func ctrlConfigSkipNameValidation() config.Controller {
	// tests start the manager more than once in one process.
	return config.Controller{SkipNameValidation: ptr.To(true)}
}

// runningManager is the operator, as main.go builds it, with a transport
// that counts its writes.
type runningManager struct {
	manager  ctrl.Manager
	operator *controllers.Running
	cancel   context.CancelFunc
	done     chan error
	writes   *writeCounter
}

type writeCounter struct {
	n     atomic.Int64
	mu    sync.Mutex
	paths []string
	last  time.Time
}

// waitQuiet polls until no write has been made for d.
func (w *writeCounter) waitQuiet(g Gomega, d time.Duration) {
	g.Eventually(func() time.Duration {
		w.mu.Lock()
		defer w.mu.Unlock()
		return time.Since(w.last)
	}, 30*time.Second, 50*time.Millisecond).Should(BeNumerically(">=", d))
}

func (w *writeCounter) reset() {
	w.n.Store(0)
	w.mu.Lock()
	w.paths = nil
	w.mu.Unlock()
}

func (w *writeCounter) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.paths...)
}

// about returns the writes except Events about objects whose name does not
// start with name (the events
// library patches an earlier test's Event series on its own schedule).
func (w *writeCounter) about(name string) func() []string {
	return func() []string {
		var out []string
		for _, p := range w.list() {
			if strings.Contains(p, "/events/") && !strings.Contains(p, "/events/"+name) {
				continue
			}
			out = append(out, p)
		}
		return out
	}
}

type countingTransport struct {
	next http.RoundTripper
	w    *writeCounter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		t.w.n.Add(1)
		t.w.mu.Lock()
		t.w.paths = append(t.w.paths, req.Method+" "+req.URL.Path)
		t.w.last = time.Now()
		t.w.mu.Unlock()
	}
	return t.next.RoundTrip(req)
}

// startManager runs the operator as its own ServiceAccount, with only the
// roles config/default grants it.
func startManager() (*runningManager, error) {
	cfg, err := env.OperatorConfig(context.Background())
	if err != nil {
		return nil, err
	}
	w := &writeCounter{}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{next: rt, w: w} }
	cfg.QPS, cfg.Burst = 1000, 2000
	m, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controllers.CacheOptions([]string{sourceNS, extraSourceNS}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlConfigSkipNameValidation(),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	op, err := controllers.SetupForTest(ctx, m, controllers.Options{
		SourceNamespaces:  []string{sourceNS, extraSourceNS},
		PairWorkers:       16,
		CredentialWorkers: 4,
		ConflictRecheck:   2 * time.Second,
		TracePullFailures: true,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	rm := &runningManager{manager: m, operator: op, cancel: cancel, done: make(chan error, 1), writes: w}
	go func() { rm.done <- m.Start(ctx) }()
	if !m.GetCache().WaitForCacheSync(ctx) {
		cancel()
		return nil, fmt.Errorf("cache did not sync")
	}
	return rm, nil
}

func (m *runningManager) stop() {
	m.cancel()
	<-m.done
}

// ---- fixtures ----

var nameSeq atomic.Int64

// uniq returns a DNS-safe unique name with the prefix.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%100000, nameSeq.Add(1))
}

func dockerConfig(server, user, pass string) []byte {
	return []byte(fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q,"auth":""}}}`, server, user, pass))
}

// newSource creates a docker-registry Secret in the source namespace.
func newSource(t *testing.T, name, server string, extraMeta func(*corev1.Secret)) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sourceNS},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerConfig(server, "robot", password)},
	}
	if extraMeta != nil {
		extraMeta(s)
	}
	NewWithT(t).Expect(k8s.Create(context.Background(), s)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), s) })
	return s
}

// newNamespaces creates n namespaces labelled test=<group> (plus labels) and
// waits for their default ServiceAccount.
func newNamespaces(t *testing.T, group string, n int, extra map[string]string) []string {
	t.Helper()
	g := NewWithT(t)
	var names []string
	for range n {
		l := map[string]string{"test": group}
		for k, v := range extra {
			l[k] = v
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniq(group), Labels: l}}
		g.Expect(k8s.Create(context.Background(), ns)).To(Succeed())
		names = append(names, ns.Name)
	}
	for _, ns := range names {
		waitDefaultSA(t, ns)
	}
	return names
}

func waitDefaultSA(t *testing.T, ns string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{})
	}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
}

// newCredential creates a RegistryCredential selecting test=<group>.
func newCredential(t *testing.T, group, source, server string, mutate func(*registryv1alpha1.RegistryCredential)) *registryv1alpha1.RegistryCredential {
	t.Helper()
	rc := &registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: uniq("rc-" + group)},
		Spec: registryv1alpha1.RegistryCredentialSpec{
			Server:            server,
			SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: source},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"test": group}},
		},
	}
	if mutate != nil {
		mutate(rc)
	}
	NewWithT(t).Expect(k8s.Create(context.Background(), rc)).To(Succeed())
	t.Cleanup(func() { deleteCredential(t, rc.Name) })
	return rc
}

func deleteCredential(t *testing.T, name string) {
	t.Helper()
	rc := &registryv1alpha1.RegistryCredential{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Delete(context.Background(), rc); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting %s: %v", name, err)
		return
	}
	NewWithT(t).Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKey{Name: name}, &registryv1alpha1.RegistryCredential{}))
	}, 30*time.Second, 100*time.Millisecond).Should(BeTrue(), "RegistryCredential %s was not finalized", name)
}

func getSecret(ns, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	return s, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s)
}

func getSA(ns, name string) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sa); err != nil {
		return nil
	}
	return sa
}

func pullSecretNames(sa *corev1.ServiceAccount) []string {
	if sa == nil {
		return nil
	}
	var out []string
	for _, r := range sa.ImagePullSecrets {
		out = append(out, r.Name)
	}
	return out
}

func getRC(name string) *registryv1alpha1.RegistryCredential {
	rc := &registryv1alpha1.RegistryCredential{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, rc); err != nil {
		return nil
	}
	return rc
}

// updateRC changes the RegistryCredential's spec or metadata as a user
// would: read, change, write, and again on a conflict (the operator writes
// the status, a second after changes).
func updateRC(name string, change func(*registryv1alpha1.RegistryCredential)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rc := &registryv1alpha1.RegistryCredential{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, rc); err != nil {
			return err
		}
		change(rc)
		return k8s.Update(context.Background(), rc)
	})
}

// updateSA changes a ServiceAccount as another writer would: read, change,
// write, and again on a conflict.
func updateSA(ns, name string, change func(*corev1.ServiceAccount)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sa := &corev1.ServiceAccount{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sa); err != nil {
			return err
		}
		change(sa)
		return k8s.Update(context.Background(), sa)
	})
}

// updateSecret changes a Secret, again on a conflict.
func updateSecret(ns, name string, change func(*corev1.Secret)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return err
		}
		change(s)
		return k8s.Update(context.Background(), s)
	})
}

// updateNamespace changes a namespace, again on a conflict.
func updateNamespace(name string, change func(*corev1.Namespace)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ns := &corev1.Namespace{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, ns); err != nil {
			return err
		}
		change(ns)
		return k8s.Update(context.Background(), ns)
	})
}

// ready returns the Ready condition's status and reason ("" when absent).
func ready(name string) (metav1.ConditionStatus, string) {
	rc := getRC(name)
	if rc == nil {
		return "", ""
	}
	c := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionReady)
	if c == nil {
		return "", ""
	}
	return c.Status, c.Reason
}

func readyReason(name string) func() string {
	return func() string { _, r := ready(name); return r }
}

// eventsFor lists the reasons of Events about the RegistryCredential.
func eventsFor(t *testing.T, name string) []string {
	t.Helper()
	list := &eventsv1.EventList{}
	NewWithT(t).Expect(k8s.List(context.Background(), list)).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "RegistryCredential" && e.Regarding.Name == name {
			out = append(out, e.Type+"/"+e.Reason+": "+e.Note)
		}
	}
	return out
}
