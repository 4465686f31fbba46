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
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/credset"
)

// These tests run the operator's manager against a real API server that
// calls the webhook over TLS. Pods never run (there is no kubelet); the
// assertions are on the spec.imagePullSecrets the API server admitted, read
// back without a cache. Credentials are created with serviceAccounts: [] so
// that no ServiceAccount lists their copy: whatever a Pod gets, it got from
// the webhook.

const (
	eventually = 30 * time.Second
	poll       = 50 * time.Millisecond
	testLabel  = "regcred-test"
)

// fixture is one test's corner of the cluster: RegistryCredentials select
// the namespaces labelled testLabel=id.
type fixture struct {
	t  *testing.T
	g  *WithT
	id string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	controlPlane(t)
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(eventually)
	g.SetDefaultEventuallyPollingInterval(poll)
	return &fixture{t: t, g: g, id: uniqueName(t, "t")}
}

// namespace creates a namespace selected by the fixture's credentials,
// with extra labels.
func (f *fixture) namespace(extra map[string]string) string {
	f.t.Helper()
	labels := map[string]string{testLabel: f.id}
	for k, v := range extra {
		labels[k] = v
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName(f.t, "ns"), Labels: labels}}
	f.g.Expect(env.Client.Create(context.Background(), ns)).To(Succeed())
	f.t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ns) })
	return ns.Name
}

// credential creates a RegistryCredential for server selecting the
// fixture's namespaces, and waits until the webhook's snapshot has it.
func (f *fixture) credential(server string, mods ...func(*registryv1alpha1.RegistryCredential)) *registryv1alpha1.RegistryCredential {
	f.t.Helper()
	name := uniqueName(f.t, "rc")
	rc := &registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: registryv1alpha1.RegistryCredentialSpec{
			Server:            server,
			SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: "pull"},
			TargetSecretName:  name + "-pull",
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{testLabel: f.id}},
			ServiceAccounts:   []string{},
		},
	}
	for _, m := range mods {
		m(rc)
	}
	f.g.Expect(env.Client.Create(context.Background(), rc)).To(Succeed())
	f.t.Cleanup(func() { _ = env.Client.Delete(context.Background(), rc) })
	f.g.Eventually(func() *credset.Credential { return mgr.credentials.Get(rc.Name) }).
		ShouldNot(BeNil(), "the webhook's snapshot never saw RegistryCredential %s", rc.Name)
	return rc
}

// createPod creates the Pod, retrying while the namespace has no default
// ServiceAccount yet (the ServiceAccount admission plugin refuses Pods until
// kube-controller-manager made it), and returns it as stored.
func (f *fixture) createPod(ns string, pod *corev1.Pod) *corev1.Pod {
	f.t.Helper()
	pod.Namespace = ns
	if pod.Name == "" && pod.GenerateName == "" {
		pod.Name = uniqueName(f.t, "pod")
	}
	f.g.Eventually(func() error {
		p := pod.DeepCopy()
		err := env.Client.Create(context.Background(), p)
		switch {
		case err == nil:
			pod = p
			return nil
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "serviceaccount"):
			return err // retry
		default:
			return StopTrying("creating the Pod failed").Wrap(err)
		}
	}).Should(Succeed())
	stored := &corev1.Pod{}
	f.g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(pod), stored)).To(Succeed())
	return stored
}

func pullSecrets(p *corev1.Pod) []string {
	out := []string{}
	for _, r := range p.Spec.ImagePullSecrets {
		out = append(out, r.Name)
	}
	return out
}

func testPod(images ...string) *corev1.Pod {
	p := &corev1.Pod{}
	for i, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c" + string(rune('a'+i)), Image: img})
	}
	return p
}

// mutatedCount reads regcred_webhook_pods_mutated_total{credential=name}.
func mutatedCount(t *testing.T, name string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "regcred_webhook_pods_mutated_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "credential" && l.GetValue() == name {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func admissionCount(t *testing.T) uint64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == "regcred_webhook_admission_duration_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func TestInjectsByImage(t *testing.T) {
	f := newFixture(t)
	hub := f.credential("docker.io")
	ns := f.namespace(nil)

	t.Run("nginx gets the docker.io credential", func(t *testing.T) {
		before, seen := mutatedCount(t, hub.Name), admissionCount(t)
		p := f.createPod(ns, testPod("nginx"))
		f.g.Expect(pullSecrets(p)).To(Equal([]string{hub.Spec.TargetSecretName}))
		f.g.Expect(mutatedCount(t, hub.Name)).To(Equal(before+1), "regcred_webhook_pods_mutated_total")
		f.g.Expect(admissionCount(t)).To(BeNumerically(">", seen), "regcred_webhook_admission_duration_seconds count")
	})
	t.Run("a quay.io image does not", func(t *testing.T) {
		p := f.createPod(ns, testPod("quay.io/x"))
		f.g.Expect(pullSecrets(p)).To(BeEmpty())
	})
	t.Run("an init container image counts", func(t *testing.T) {
		pod := testPod("quay.io/x")
		pod.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "docker.io/library/busybox:1.36"}}
		p := f.createPod(ns, pod)
		f.g.Expect(pullSecrets(p)).To(Equal([]string{hub.Spec.TargetSecretName}))
	})
	t.Run("an image volume counts", func(t *testing.T) {
		pod := testPod("quay.io/x")
		pod.Spec.Volumes = []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{
			Image: &corev1.ImageVolumeSource{Reference: "docker.io/acme/models:2", PullPolicy: corev1.PullIfNotPresent}}}}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "models", MountPath: "/models", ReadOnly: true}}
		p := f.createPod(ns, pod)
		f.g.Expect(pullSecrets(p)).To(Equal([]string{hub.Spec.TargetSecretName}))
	})
	t.Run("existing pull secrets stay in order and ours is added once", func(t *testing.T) {
		pod := testPod("nginx", "library/redis:7")
		pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "zeta"}, {Name: "alpha"}}
		p := f.createPod(ns, pod)
		f.g.Expect(pullSecrets(p)).To(Equal([]string{"zeta", "alpha", hub.Spec.TargetSecretName}))

		pod = testPod("nginx")
		pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: hub.Spec.TargetSecretName}, {Name: "zeta"}}
		p = f.createPod(ns, pod)
		f.g.Expect(pullSecrets(p)).To(Equal([]string{hub.Spec.TargetSecretName, "zeta"}))
	})
	t.Run("a Pod created with generateName", func(t *testing.T) {
		pod := testPod("nginx")
		pod.GenerateName = "gen-"
		p := f.createPod(ns, pod)
		f.g.Expect(p.Name).To(HavePrefix("gen-"))
		f.g.Expect(pullSecrets(p)).To(Equal([]string{hub.Spec.TargetSecretName}))
	})
	t.Run("every matching credential, in name order", func(t *testing.T) {
		quay := f.credential("quay.io")
		p := f.createPod(ns, testPod("quay.io/x", "nginx", "registry.example.com/app"))
		want := []string{hub.Spec.TargetSecretName, quay.Spec.TargetSecretName}
		if quay.Name < hub.Name {
			want = []string{quay.Spec.TargetSecretName, hub.Spec.TargetSecretName}
		}
		f.g.Expect(pullSecrets(p)).To(Equal(want))
	})
}

func TestNamespaceSelection(t *testing.T) {
	f := newFixture(t)
	hub := f.credential("docker.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.ExcludeNamespaces = []string{"*-excluded-*"}
	})

	t.Run("selected namespace: injected", func(t *testing.T) {
		p := f.createPod(f.namespace(nil), testPod("nginx"))
		f.g.Expect(pullSecrets(p)).To(Equal([]string{hub.Spec.TargetSecretName}))
	})
	t.Run("namespace not selected: unchanged", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t, "ns"), Labels: map[string]string{testLabel: "someone-else"}}}
		f.g.Expect(env.Client.Create(context.Background(), ns)).To(Succeed())
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ns) })
		p := f.createPod(ns.Name, testPod("nginx"))
		f.g.Expect(pullSecrets(p)).To(BeEmpty())
	})
	t.Run("namespace excluded: unchanged", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t, "ns-excluded"), Labels: map[string]string{testLabel: f.id}}}
		f.g.Expect(env.Client.Create(context.Background(), ns)).To(Succeed())
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ns) })
		p := f.createPod(ns.Name, testPod("nginx"))
		f.g.Expect(pullSecrets(p)).To(BeEmpty())
	})
	t.Run("namespace opted out by label: unchanged", func(t *testing.T) {
		p := f.createPod(f.namespace(map[string]string{credset.InjectLabel: credset.InjectDisabled}), testPod("nginx"))
		f.g.Expect(pullSecrets(p)).To(BeEmpty())
	})
	t.Run("Pod opted out by label: unchanged", func(t *testing.T) {
		pod := testPod("nginx")
		pod.Labels = map[string]string{credset.InjectLabel: credset.InjectDisabled}
		p := f.createPod(f.namespace(nil), pod)
		f.g.Expect(pullSecrets(p)).To(BeEmpty())
	})
}

func TestSkipsCredentialsWithBadSource(t *testing.T) {
	f := newFixture(t)
	ns := f.namespace(nil)
	ctx := context.Background()

	reason := func(rc *registryv1alpha1.RegistryCredential) string {
		if c := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionReady); c != nil {
			return c.Reason
		}
		return ""
	}
	// stored is the Ready reason on the API server.
	stored := func(rc *registryv1alpha1.RegistryCredential) func() string {
		return func() string {
			got := &registryv1alpha1.RegistryCredential{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rc), got); err != nil {
				return err.Error()
			}
			return reason(got)
		}
	}
	// seen is the Ready reason in the webhook's snapshot.
	seen := func(rc *registryv1alpha1.RegistryCredential) func() string {
		return func() string {
			if c := mgr.credentials.Get(rc.Name); c != nil {
				return reason(c.Object)
			}
			return "not in the snapshot"
		}
	}

	t.Run("source in a namespace the operator does not accept (SourceNotAllowed)", func(t *testing.T) {
		rc := f.credential("docker.io", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.SecretRef.Namespace = "default" })
		f.g.Eventually(stored(rc)).Should(Equal(registryv1alpha1.ReasonSourceNotAllowed))
		p := f.createPod(ns, testPod("nginx"))
		f.g.Expect(pullSecrets(p)).To(BeEmpty())
	})
	t.Run("source that is not a docker config (SourceInvalid)", func(t *testing.T) {
		src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sourceNS, Name: uniqueName(t, "opaque")}, StringData: map[string]string{"k": "v"}}
		f.g.Expect(env.Client.Create(ctx, src)).To(Succeed())
		t.Cleanup(func() { _ = env.Client.Delete(ctx, src) })
		rc := f.credential("quay.io", func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.SecretRef.Name = src.Name })
		// The webhook only knows from the status: wait until its snapshot has it.
		f.g.Eventually(seen(rc)).Should(Equal(registryv1alpha1.ReasonSourceInvalid))
		p := f.createPod(ns, testPod("quay.io/x"))
		f.g.Expect(pullSecrets(p)).To(BeEmpty())
	})
}

// TestNoInjectionOverForeignSecret: where a Secret the operator did not
// create holds the copy's name, a Pod is admitted without that name (it would
// pull with someone else's credentials); labels copied from our copies do
// not make a Secret ours, only our controller ownerReference does. Where
// nothing holds the name, it is added.
func TestNoInjectionOverForeignSecret(t *testing.T) {
	f := newFixture(t)
	hub := f.credential("docker.io")
	ctx := context.Background()

	// foreignNamespace makes a namespace where a Secret with these labels
	// holds the copy's name, and only then selects it for the credential
	// (otherwise the operator could write its copy first); it waits until
	// the webhook's cache sees the namespace selected.
	foreignNamespace := func(t *testing.T, labels map[string]string) string {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t, "ns"), Labels: map[string]string{testLabel: "not-yet"}}}
		f.g.Expect(env.Client.Create(ctx, ns)).To(Succeed())
		t.Cleanup(func() { _ = env.Client.Delete(ctx, ns) })
		f.g.Expect(env.Client.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: hub.Spec.TargetSecretName, Labels: labels},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"b3RoZXI6dGVhbQ=="}}}`)},
		})).To(Succeed())
		patch := client.MergeFrom(ns.DeepCopy())
		ns.Labels[testLabel] = f.id
		f.g.Expect(env.Client.Patch(ctx, ns, patch)).To(Succeed())
		f.g.Eventually(func() string {
			cached := namespaceMeta()
			if err := mgr.GetCache().Get(ctx, client.ObjectKeyFromObject(ns), cached); err != nil {
				return err.Error()
			}
			return cached.Labels[testLabel]
		}).Should(Equal(f.id), "the manager's cache never saw namespace %s selected", ns.Name)
		return ns.Name
	}

	t.Run("a plain docker-registry Secret holds the name", func(t *testing.T) {
		ns := foreignNamespace(t, nil)
		p := f.createPod(ns, testPod("nginx"))
		f.g.Expect(pullSecrets(p)).To(BeEmpty())
	})
	t.Run("a Secret with the operator's labels but no ownerReference holds the name", func(t *testing.T) {
		ns := foreignNamespace(t, map[string]string{
			"app.kubernetes.io/managed-by":    "regcred-operator",
			"registry.regcred.dev/credential": hub.Name,
		})
		// The labels put it in the manager's cache: the check reads it there.
		key := client.ObjectKey{Namespace: ns, Name: hub.Spec.TargetSecretName}
		f.g.Eventually(func() error { return mgr.GetCache().Get(ctx, key, &corev1.Secret{}) }).Should(Succeed())
		p := f.createPod(ns, testPod("nginx"))
		f.g.Expect(pullSecrets(p)).To(BeEmpty())
	})
	t.Run("nothing holds the name", func(t *testing.T) {
		p := f.createPod(f.namespace(nil), testPod("nginx"))
		f.g.Expect(pullSecrets(p)).To(Equal([]string{hub.Spec.TargetSecretName}))
	})
}

// TestMirrorPodNotInjected: a mirror Pod (the API server's copy of a static
// Pod, annotation kubernetes.io/config.mirror) never gets a pull secret: the
// ServiceAccount admission plugin refuses a mirror Pod that references a
// Secret, so injecting one would keep the static Pod out of the API. The
// kubelet pulls a static Pod's images without the API's Secrets anyway.
func TestMirrorPodNotInjected(t *testing.T) {
	f := newFixture(t)
	hub := f.credential("docker.io")
	ns := f.namespace(nil)
	f.g.Expect(pullSecrets(f.createPod(ns, testPod("nginx")))).To(Equal([]string{hub.Spec.TargetSecretName}), "precondition: the webhook injects there")

	mirror := testPod("nginx")
	mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "0123456789abcdef"}
	mirror.Spec.NodeName = "node-a" // a mirror Pod is bound to its kubelet's node
	f.g.Expect(pullSecrets(f.createPod(ns, mirror))).To(BeEmpty())
}

// TestNewNamespaceRace: a Pod created in a namespace the moment it exists,
// before the operator has copied anything there, gets the reference; the
// copy follows.
func TestNewNamespaceRace(t *testing.T) {
	f := newFixture(t)
	hub := f.credential("docker.io")
	ns := f.namespace(nil)
	p := f.createPod(ns, testPod("nginx"))
	f.g.Expect(pullSecrets(p)).To(Equal([]string{hub.Spec.TargetSecretName}))
	f.g.Eventually(func() error {
		return env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: hub.Spec.TargetSecretName}, &corev1.Secret{})
	}).Should(Succeed(), "the copy never appeared in %s", ns)
	sa := &corev1.ServiceAccount{}
	f.g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "default"}, sa)).To(Succeed())
	f.g.Expect(sa.ImagePullSecrets).To(BeEmpty(), "serviceAccounts: [] patches no ServiceAccount; the Pod's entry came from the webhook")
}

// TestWebhookDown: with the operator stopped, Pods are still admitted
// (failurePolicy: Ignore), unchanged; once it is back, they are injected
// again.
func TestWebhookDown(t *testing.T) {
	f := newFixture(t)
	hub := f.credential("docker.io")
	ns := f.namespace(nil)
	f.g.Expect(pullSecrets(f.createPod(ns, testPod("nginx")))).To(Equal([]string{hub.Spec.TargetSecretName}), "precondition: the webhook works")

	mgr.stop()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			var err error
			if mgr, err = startManager(); err != nil {
				t.Errorf("restarting the manager: %v", err)
			}
		}
	})

	start := time.Now()
	p := f.createPod(ns, testPod("nginx"))
	f.g.Expect(pullSecrets(p)).To(BeEmpty())
	f.g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second), "an unreachable webhook should fail fast")

	var err error
	mgr, err = startManager()
	restarted = true
	f.g.Expect(err).NotTo(HaveOccurred())
	f.g.Expect(pullSecrets(f.createPod(ns, testPod("nginx")))).To(Equal([]string{hub.Spec.TargetSecretName}), "the restarted webhook injects again")
}
