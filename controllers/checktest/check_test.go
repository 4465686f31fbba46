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

// Package checktest runs the credential checks (the CredentialsVerified
// condition) on a real API server against registries served in the test
// process, with an operator of its own: the controllers suite runs its
// operator with the checks off, so that its write counts stay exact.
package checktest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/controllers"
	"github.com/regcred/regcred-operator/internal/regcheck/regtest"
	"github.com/regcred/regcred-operator/internal/testenv"
)

const (
	sourceNS = "regcred-system"
	password = "Ch3ck-Pa55w0rd-q7"
	wait     = 30 * time.Second
	tick     = 100 * time.Millisecond
)

var (
	scheme = runtime.NewScheme()
	env    *testenv.Env
	k8s    client.Client
	logBuf = &testenv.LogBuffer{}
	seq    atomic.Int64
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(registryv1alpha1.AddToScheme(scheme))
}

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(logBuf)))
	var err error
	env, err = testenv.Start(testenv.Options{Client: client.Options{Scheme: scheme}})
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
		stop, err := startOperator()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer stop()
		return m.Run()
	}()
	if leaks := testenv.Leaks(logBuf.String(), password); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the operator's log holds test credentials: %v\n", leaks)
		code = 1
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// startOperator runs the controllers with the checks on, as the operator's
// own ServiceAccount.
func startOperator() (func(), error) {
	cfg, err := env.OperatorConfig(context.Background())
	if err != nil {
		return nil, err
	}
	m, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controllers.CacheOptions([]string{sourceNS}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := controllers.SetupWithManager(ctx, m, controllers.Options{
		SourceNamespaces:  []string{sourceNS},
		PairWorkers:       8,
		CredentialWorkers: 4,
		CheckCredentials:  true,
		CheckWorkers:      8,
	}); err != nil {
		cancel()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	if !m.GetCache().WaitForCacheSync(ctx) {
		cancel()
		return nil, fmt.Errorf("cache did not sync")
	}
	return func() { cancel(); <-done }, nil
}

func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

// source creates a docker-registry Secret for user and pass keyed server.
func source(t *testing.T, server, user, pass string) string {
	t.Helper()
	name := uniq("src")
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sourceNS},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerConfig(server, user, pass)},
	}
	NewWithT(t).Expect(k8s.Create(context.Background(), s)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), s) })
	return name
}

func dockerConfig(server, user, pass string) []byte {
	return []byte(fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`, server, user, pass))
}

// caConfigMap holds the test registry's CA.
func caConfigMap(t *testing.T, srv *regtest.Server) *registryv1alpha1.CABundleSource {
	t.Helper()
	name := uniq("ca")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sourceNS}, Data: map[string]string{"ca.crt": string(srv.CAPEM)}}
	NewWithT(t).Expect(k8s.Create(context.Background(), cm)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), cm) })
	return &registryv1alpha1.CABundleSource{ConfigMap: &registryv1alpha1.KeySelector{Name: name, Key: "ca.crt"}}
}

func credential(t *testing.T, server, src string, check *registryv1alpha1.CredentialCheck) string {
	t.Helper()
	rc := &registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: uniq("rc")},
		Spec: registryv1alpha1.RegistryCredentialSpec{
			Server:            server,
			SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: src},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"none": "selected"}},
			Check:             check,
		},
	}
	NewWithT(t).Expect(k8s.Create(context.Background(), rc)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), rc) })
	return rc.Name
}

// conditions returns "Type=Status/Reason" of the named RegistryCredential's
// CredentialsVerified, Ready and Stalled conditions.
func conditions(name string) func() string {
	return func() string {
		rc := &registryv1alpha1.RegistryCredential{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, rc); err != nil {
			return err.Error()
		}
		var out []string
		for _, typ := range []string{registryv1alpha1.ConditionCredentialsVerified, registryv1alpha1.ConditionReady, registryv1alpha1.ConditionStalled} {
			if c := apimeta.FindStatusCondition(rc.Status.Conditions, typ); c != nil {
				out = append(out, fmt.Sprintf("%s=%s/%s", typ, c.Status, c.Reason))
			}
		}
		return strings.Join(out, " ")
	}
}

// health is what kstatus and the Argo CD health check shipped in
// config/argocd say of rc.
func health(t *testing.T, rc *registryv1alpha1.RegistryCredential) (kstatus.Status, string) {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(rc)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion(registryv1alpha1.GroupVersion.String())
	u.SetKind("RegistryCredential")
	res, err := kstatus.Compute(u)
	if err != nil {
		t.Fatal(err)
	}
	script, err := testenv.ArgoHealthScript()
	if err != nil {
		t.Fatal(err)
	}
	argo, err := testenv.ArgoHealth(script, u.Object)
	if err != nil {
		t.Fatal(err)
	}
	return res.Status, argo["status"]
}

func get(t *testing.T, name string) *registryv1alpha1.RegistryCredential {
	t.Helper()
	rc := &registryv1alpha1.RegistryCredential{}
	NewWithT(t).Expect(k8s.Get(context.Background(), client.ObjectKey{Name: name}, rc)).To(Succeed())
	return rc
}

func TestCredentialsVerifiedReasons(t *testing.T) {
	srv := regtest.New(true)
	defer srv.Close()
	srv.SetUser("robot", password, "apps/internal-app")
	srv.SetUser("login-only", password)
	_, err := srv.Push("apps/internal-app", "1.0")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	ca := caConfigMap(t, srv)
	probe := func(image string) *registryv1alpha1.CredentialCheck {
		return &registryv1alpha1.CredentialCheck{Image: image, CABundle: ca}
	}
	cases := []struct {
		name      string
		user, pw  string
		check     *registryv1alpha1.CredentialCheck
		want      string
		message   string
		ready     string
		stalled   bool
		lastCheck bool
	}{
		{"a working credential with a probe", "robot", password, probe("apps/internal-app:1.0"), "CredentialsVerified=True/Verified", "HEAD", "Ready=True/Synced", false, true},
		{"a login without a probe", "robot", password, probe(""), "CredentialsVerified=True/Verified", "pull access is not checked", "Ready=True/Synced", false, true},
		{"a wrong password", "robot", "wrong-" + password[:4], probe(""), "CredentialsVerified=False/Unauthorized", "401", "Ready=False/Unauthorized", true, true},
		{"no pull scope for the probe", "login-only", password, probe("apps/internal-app:1.0"), "CredentialsVerified=False/Forbidden", "HEAD of", "Ready=False/Forbidden", true, true},
		{"a probe that does not exist", "robot", password, probe(srv.Host + "/apps/internal-app:9.9"), "CredentialsVerified=True/ProbeNotFound", "404", "Ready=True/Synced", false, true},
		{"no CA bundle for a private CA", "robot", password, &registryv1alpha1.CredentialCheck{}, "CredentialsVerified=Unknown/TLSError", "certificate", "Ready=True/Synced", false, true},
		{"a probe on another registry", "robot", password, probe("quay.io/org/app"), "CredentialsVerified=Unknown/NotChecked", "not under spec.server", "Ready=True/Synced", false, false},
		{"the check turned off", "robot", password, &registryv1alpha1.CredentialCheck{Enabled: ptr.To(false)}, "CredentialsVerified=Unknown/NotChecked", "spec.check.enabled is false", "Ready=True/Synced", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			name := credential(t, srv.Host, source(t, srv.Host, tc.user, tc.pw), tc.check)
			want := tc.want + " " + tc.ready
			if tc.stalled {
				want += " Stalled=True/" + strings.TrimPrefix(tc.ready, "Ready=False/")
			}
			g.Eventually(conditions(name), wait, tick).Should(Equal(want))
			rc := get(t, name)
			c := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionCredentialsVerified)
			g.Expect(c.Message).To(ContainSubstring(tc.message))
			g.Expect(c.ObservedGeneration).To(Equal(rc.Generation))
			g.Expect(rc.Status.LastChecked != nil).To(Equal(tc.lastCheck))
			for _, cond := range rc.Status.Conditions {
				g.Expect(testenv.Leaks(cond.Message, password, tc.pw)).To(BeEmpty())
			}
			// What Flux (kstatus) and Argo CD make of it: a credential the
			// registry refuses is Failed / Degraded, never Current / Healthy.
			kst, argo := health(t, rc)
			if tc.stalled {
				g.Expect(kst).To(Equal(kstatus.FailedStatus))
				g.Expect(argo).To(Equal("Degraded"))
			} else {
				g.Expect(kst).To(Equal(kstatus.CurrentStatus))
				g.Expect(argo).To(Equal("Healthy"))
			}
			if c.Reason != registryv1alpha1.ReasonNotChecked {
				g.Eventually(func() []string { return events(t, name) }, wait, tick).Should(ContainElement(HavePrefix(c.Reason + ":")))
			}
		})
	}
}

func TestRateLimitedHonoursRetryAfter(t *testing.T) {
	g := NewWithT(t)
	srv := regtest.New(true)
	defer srv.Close()
	srv.SetUser("robot", password, "*")
	srv.SetRateLimitRemaining("42;w=21600")
	srv.RateLimit(1, 3)
	name := credential(t, srv.Host, source(t, srv.Host, "robot", password), &registryv1alpha1.CredentialCheck{CABundle: caConfigMap(t, srv)})
	g.Eventually(conditions(name), wait, tick).Should(HavePrefix("CredentialsVerified=Unknown/RateLimited"))
	g.Expect(apimeta.FindStatusCondition(get(t, name).Status.Conditions, registryv1alpha1.ConditionCredentialsVerified).Message).To(ContainSubstring("Retry-After 3s"))
	// After the Retry-After, the check is made again and passes.
	g.Eventually(conditions(name), wait, tick).Should(HavePrefix("CredentialsVerified=True/Verified"))
	g.Expect(get(t, name).Status.RateLimitRemaining).To(Equal("42;w=21600"))
}

// A password rotated in the source is checked at once; a password changed
// in the registry is found within one interval.
func TestRotationAndExpiredPassword(t *testing.T) {
	g := NewWithT(t)
	srv := regtest.New(true)
	defer srv.Close()
	srv.SetUser("robot", password, "*")
	src := source(t, srv.Host, "robot", password)
	name := credential(t, srv.Host, src, &registryv1alpha1.CredentialCheck{
		CABundle: caConfigMap(t, srv), Interval: &metav1.Duration{Duration: time.Minute},
	})
	g.Eventually(conditions(name), wait, tick).Should(HavePrefix("CredentialsVerified=True/Verified"))

	// The registry changes the password: within one interval (1m, plus up to
	// a tenth of it) the credential reads Unauthorized.
	srv.SetUser("robot", password+"-new", "*")
	g.Eventually(conditions(name), 80*time.Second, time.Second).Should(HavePrefix("CredentialsVerified=False/Unauthorized"))

	// The source is rotated to the new password: checked again at once.
	start := time.Now()
	g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: sourceNS, Name: src}, s); err != nil {
			return err
		}
		s.Data[corev1.DockerConfigJsonKey] = dockerConfig(srv.Host, "robot", password+"-new")
		return k8s.Update(context.Background(), s)
	})).To(Succeed())
	g.Eventually(conditions(name), 10*time.Second, tick).Should(Equal("CredentialsVerified=True/Verified Ready=True/Synced"))
	t.Logf("rotation to Verified: %s", time.Since(start).Round(time.Millisecond))
}

// Fifty RegistryCredentials sharing one source and registry make one check,
// with at most one request in flight.
func TestOneCheckPerDistinctCredential(t *testing.T) {
	g := NewWithT(t)
	srv := regtest.New(true)
	defer srv.Close()
	srv.SetUser("robot", password, "apps/internal-app")
	_, err := srv.Push("apps/internal-app", "1.0")
	g.Expect(err).NotTo(HaveOccurred())
	src := source(t, srv.Host, "robot", password)
	check := &registryv1alpha1.CredentialCheck{Image: "apps/internal-app:1.0", CABundle: caConfigMap(t, srv)}
	var names []string
	for range 50 {
		names = append(names, credential(t, srv.Host, src, check))
	}
	for _, n := range names {
		g.Eventually(conditions(n), wait, tick).Should(HavePrefix("CredentialsVerified=True/Verified"))
	}
	one := oneCheckRequests(t)
	t.Logf("50 RegistryCredentials: %d requests (one check makes %d), at most %d in flight", srv.Requests(), one, srv.MaxInFlight())
	g.Expect(srv.MaxInFlight()).To(Equal(int64(1)))
	g.Expect(srv.Requests()).To(BeNumerically("<=", int64(one)), "one check for all fifty")
}

// oneCheckRequests counts the requests of one probe check on a fresh
// registry.
func oneCheckRequests(t *testing.T) int {
	g := NewWithT(t)
	srv := regtest.New(true)
	defer srv.Close()
	srv.SetUser("robot", password, "apps/internal-app")
	_, err := srv.Push("apps/internal-app", "1.0")
	g.Expect(err).NotTo(HaveOccurred())
	pushed := srv.Requests()
	name := credential(t, srv.Host, source(t, srv.Host, "robot", password), &registryv1alpha1.CredentialCheck{Image: "apps/internal-app:1.0", CABundle: caConfigMap(t, srv)})
	g.Eventually(conditions(name), wait, tick).Should(HavePrefix("CredentialsVerified=True/Verified"))
	return int(srv.Requests() - pushed)
}

func events(t *testing.T, name string) []string {
	t.Helper()
	list := &eventsv1.EventList{}
	NewWithT(t).Expect(k8s.List(context.Background(), list)).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "RegistryCredential" && e.Regarding.Name == name {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}
