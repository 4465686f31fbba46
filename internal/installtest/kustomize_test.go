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

package installtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/regcred/regcred-operator/internal/testenv"
)

const (
	// kzDefaultImage is the image config/manager installs: the release's.
	kzDefaultImage = "ghcr.io/regcred/regcred-operator:v0.1.0"
	// kzCertPath is the manager's default --webhook-cert-path, where the
	// cert-manager component mounts the Secret.
	kzCertPath = "/tmp/k8s-webhook-server/serving-certs"
)

// kzCase is one kustomization and what its rendering must name.
type kzCase struct {
	name string
	// dir is the kustomization, relative to the repository root (or
	// absolute, for a copy in a temporary directory).
	dir string
	// namespace the operator is installed in; prefix starts every name but
	// those of the cert-manager component's objects, which get only the
	// namePrefix of the kustomization that lists the component, certPrefix.
	namespace, prefix, certPrefix string
	// certManager: the config/certmanager component is included.
	certManager bool
}

// kzCases are config/default as it is, the overlay of testdata/overlay-prefix
// (namespace platform-tools, namePrefix acme-) without and with the
// cert-manager component, and a copy of config/ whose config/default was
// edited as config/certmanager/README.md says (another namespace and
// namePrefix, the component and its replacements uncommented).
func kzCases(t *testing.T) []kzCase {
	return []kzCase{
		{name: "default", dir: "config/default", namespace: "regcred-system", prefix: "regcred-"},
		{name: "overlay-prefix", dir: "internal/installtest/testdata/overlay-prefix", namespace: "platform-tools", prefix: "acme-regcred-"},
		{name: "overlay-prefix-certmanager", dir: "internal/installtest/testdata/overlay-prefix-certmanager", namespace: "platform-tools", prefix: "acme-regcred-", certPrefix: "acme-", certManager: true},
		{name: "edited-default-certmanager", dir: kzEditedDefault(t, "tools", "rc-"), namespace: "tools", prefix: "rc-", certPrefix: "rc-", certManager: true},
	}
}

// kzEditedDefault copies config/ into a temporary directory, changes
// config/default's namespace and namePrefix and uncomments the cert-manager
// component and its replacements, and returns the copy's config/default.
func kzEditedDefault(t *testing.T, namespace, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "config"), os.DirFS(filepath.Join(testenv.RepoRoot(), "config"))); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "config", "default", "kustomization.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, edit := range [][2]string{
		{"\nnamespace: regcred-system\n", "\nnamespace: " + namespace + "\n"},
		{"\nnamePrefix: regcred-\n", "\nnamePrefix: " + prefix + "\n"},
		{"\n#components:\n#- ../certmanager\n", "\ncomponents:\n- ../certmanager\n"},
		{"\n#- ../certmanager/replacements\n", "\n- ../certmanager/replacements\n"},
	} {
		if !strings.Contains(text, edit[0]) {
			t.Fatalf("config/default/kustomization.yaml has no line %q to edit (config/certmanager/README.md tells users to)", strings.TrimSpace(edit[0]))
		}
		text = strings.Replace(text, edit[0], edit[1], 1)
	}
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "config", "default")
}

// kzRender renders one case's kustomization.
func kzRender(t *testing.T, c kzCase) rendering {
	t.Helper()
	r := newRendering(t, c.name, kustomize(t, c.dir))
	r.namespace = c.namespace
	return r
}

// kzNames is what the operator's objects are called in one rendering.
type kzNames struct {
	deployment *appsv1.Deployment
	manager    corev1.Container
	flags      map[string]string
	mutating   *admissionregistrationv1.MutatingWebhookConfiguration
	validating *admissionregistrationv1.ValidatingWebhookConfiguration
	service    *corev1.Service
}

func kzFindNames(t *testing.T, r rendering) kzNames {
	t.Helper()
	var n kzNames
	n.deployment = typed[appsv1.Deployment](t, r.only(t, "Deployment", nil))
	i := slices.IndexFunc(n.deployment.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == "manager" })
	if i < 0 {
		t.Fatalf("%s: the Deployment has no container manager", r.name)
	}
	n.manager = n.deployment.Spec.Template.Spec.Containers[i]
	n.flags = parseFlags(t, n.manager.Args)
	n.mutating = typed[admissionregistrationv1.MutatingWebhookConfiguration](t, r.only(t, "MutatingWebhookConfiguration", nil))
	n.validating = typed[admissionregistrationv1.ValidatingWebhookConfiguration](t, r.only(t, "ValidatingWebhookConfiguration", nil))
	n.service = typed[corev1.Service](t, r.only(t, "Service", map[string]string{"app.kubernetes.io/component": "webhook"}))
	return n
}

// TestKustomizeNames checks that every place that names another object of
// the install names it as rendered, whatever the namespace and namePrefix:
// the manager's flags, the ClusterRole's resourceNames, the webhooks' Service
// and namespace exclusion, and with cert-manager the Certificate, its Secret
// volume and the CA injector's annotations.
func TestKustomizeNames(t *testing.T) {
	for _, c := range kzCases(t) {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			r := kzRender(t, c)
			n := kzFindNames(t, r)
			ns := n.deployment.Namespace

			// Namespace and names.
			g.Expect(ns).To(Equal(c.namespace))
			namespaces := r.all("Namespace")
			g.Expect(namespaces).To(HaveLen(1))
			g.Expect(namespaces[0].GetName()).To(Equal(ns), "the Namespace object")
			for _, u := range r.objects {
				switch u.GetKind() {
				case "Namespace", "CustomResourceDefinition":
				case "Certificate", "Issuer":
					g.Expect(u.GetName()).To(HavePrefix(c.certPrefix), "%s %s", u.GetKind(), u.GetName())
				default:
					g.Expect(u.GetName()).To(HavePrefix(c.prefix), "%s %s", u.GetKind(), u.GetName())
				}
				if u.GetNamespace() != "" {
					g.Expect(u.GetNamespace()).To(Equal(ns), "namespace of %s %s", u.GetKind(), u.GetName())
				}
				g.Expect(u.GetAnnotations()).NotTo(HaveKey("config.kubernetes.io/local-config"), "%s %s", u.GetKind(), u.GetName())
			}
			// The webhook certificate's Secret is installed empty (so that
			// removing the bundle removes it); the operator or cert-manager fills it.
			secrets := r.all("Secret")
			g.Expect(secrets).To(HaveLen(1))
			g.Expect(secrets[0].GetName()).To(Equal(c.prefix + "webhook-server-cert"))
			g.Expect(secrets[0].Object).NotTo(HaveKey("data"))
			if c.name == "default" {
				// The names every other engineer, the README and the flags'
				// defaults use.
				g.Expect(n.deployment.Name).To(Equal("regcred-controller-manager"))
				g.Expect(n.mutating.Name).To(Equal("regcred-mutating-webhook-configuration"))
				g.Expect(n.validating.Name).To(Equal("regcred-validating-webhook-configuration"))
				g.Expect(n.service.Name).To(Equal("regcred-webhook-service"))
				g.Expect(n.flags).To(HaveKeyWithValue("webhook-cert-secret", "regcred-webhook-server-cert"))
				g.Expect(n.manager.Image).To(Equal(kzDefaultImage))
			}
			g.Expect(r.text).NotTo(ContainSubstring("controller:latest"))
			checkPodDefaults(t, r)

			// The manager's flags name the rendered objects.
			g.Expect(n.flags).To(HaveKeyWithValue("webhook-configuration-name", n.mutating.Name))
			g.Expect(n.flags).To(HaveKeyWithValue("validating-webhook-configuration-name", n.validating.Name))
			g.Expect(n.flags).To(HaveKeyWithValue("webhook-service-name", n.service.Name))
			g.Expect(n.service.Namespace).To(Equal(ns), "the operator looks for its webhook Service in its own namespace")
			secretName := n.flags["webhook-cert-secret"]
			g.Expect(secretName).To(Equal(c.prefix+"webhook-server-cert"), "--webhook-cert-secret follows the namePrefix")

			// Both webhook configurations call the rendered Service.
			for _, cc := range []admissionregistrationv1.WebhookClientConfig{n.mutating.Webhooks[0].ClientConfig, n.validating.Webhooks[0].ClientConfig} {
				g.Expect(cc.Service).NotTo(BeNil())
				g.Expect(cc.Service.Name).To(Equal(n.service.Name))
				g.Expect(cc.Service.Namespace).To(Equal(ns))
			}

			// Every resourceName of a webhook configuration names a rendered
			// one, and the operator's own role lets it update both.
			rendered := map[string]string{
				"mutatingwebhookconfigurations":   n.mutating.Name,
				"validatingwebhookconfigurations": n.validating.Name,
			}
			for _, u := range append(r.all("ClusterRole"), r.all("Role")...) {
				for _, rule := range typed[rbacv1.ClusterRole](t, u).Rules {
					for _, res := range rule.Resources {
						if want, ok := rendered[res]; ok && len(rule.ResourceNames) > 0 {
							g.Expect(rule.ResourceNames).To(ConsistOf(want), "%s %s, rule for %s", u.GetKind(), u.GetName(), res)
						}
					}
				}
			}
			operatorRules := kzOperatorRules(t, r, n.deployment)
			for res, name := range rendered {
				g.Expect(slices.ContainsFunc(operatorRules, func(rule rbacv1.PolicyRule) bool {
					return slices.Contains(rule.Resources, res) && slices.Contains(rule.ResourceNames, name) && slices.Contains(rule.Verbs, "update")
				})).To(BeTrue(), "the operator's ServiceAccount may not update %s %s", res, name)
			}

			// The Pod webhook skips kube-system and the operator's namespace,
			// and no other.
			sel, err := metav1.LabelSelectorAsSelector(n.mutating.Webhooks[0].NamespaceSelector)
			g.Expect(err).NotTo(HaveOccurred())
			for nsName, called := range map[string]bool{ns: false, "kube-system": false, "default": true, "regcred-system": ns != "regcred-system"} {
				g.Expect(sel.Matches(labels.Set{"kubernetes.io/metadata.name": nsName})).To(Equal(called),
					"namespaceSelector %s, namespace %s", sel, nsName)
			}

			// The certificate.
			var volumes []corev1.Volume
			for _, v := range n.deployment.Spec.Template.Spec.Volumes {
				if v.Secret != nil {
					volumes = append(volumes, v)
				}
			}
			if !c.certManager {
				g.Expect(r.all("Certificate")).To(BeEmpty())
				g.Expect(volumes).To(BeEmpty(), "without cert-manager the operator writes the certificate into /tmp itself")
				g.Expect(n.mutating.Annotations).NotTo(HaveKey("cert-manager.io/inject-ca-from"))
				g.Expect(n.validating.Annotations).NotTo(HaveKey("cert-manager.io/inject-ca-from"))
				g.Expect(n.flags).NotTo(HaveKey("enable-cert-rotation"))
				return
			}
			cert := r.only(t, "Certificate", nil)
			g.Expect(cert.GetNamespace()).To(Equal(ns))
			injectFrom := cert.GetNamespace() + "/" + cert.GetName()
			g.Expect(n.mutating.Annotations).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", injectFrom))
			g.Expect(n.validating.Annotations).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", injectFrom))
			certSecret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
			g.Expect(certSecret).To(Equal(secretName), "the Certificate's Secret is --webhook-cert-secret")
			dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			svcDNS := n.service.Name + "." + n.service.Namespace + ".svc"
			g.Expect(dnsNames).To(ConsistOf(svcDNS, svcDNS+".cluster.local"))
			issuerName, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
			issuer := r.only(t, "Issuer", nil)
			g.Expect(issuerName).To(Equal(issuer.GetName()))
			g.Expect(issuer.GetNamespace()).To(Equal(ns))
			g.Expect(volumes).To(HaveLen(1))
			g.Expect(volumes[0].Secret.SecretName).To(Equal(certSecret), "the Secret volume is the Certificate's Secret")
			g.Expect(n.manager.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: volumes[0].Name, MountPath: kzCertPath, ReadOnly: true}))
			g.Expect(n.flags).To(HaveKeyWithValue("enable-cert-rotation", "false"))
		})
	}
}

// kzOperatorRules returns the rules of the ClusterRoles bound to the
// Deployment's ServiceAccount.
func kzOperatorRules(t *testing.T, r rendering, d *appsv1.Deployment) []rbacv1.PolicyRule {
	t.Helper()
	roles := map[string][]rbacv1.PolicyRule{}
	for _, u := range r.all("ClusterRole") {
		roles[u.GetName()] = typed[rbacv1.ClusterRole](t, u).Rules
	}
	var rules []rbacv1.PolicyRule
	for _, u := range r.all("ClusterRoleBinding") {
		b := typed[rbacv1.ClusterRoleBinding](t, u)
		if slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == d.Spec.Template.Spec.ServiceAccountName && s.Namespace == d.Namespace
		}) {
			rules = append(rules, roles[b.RoleRef.Name]...)
		}
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no ClusterRole bound to ServiceAccount %s/%s", r.name, d.Namespace, d.Spec.Template.Spec.ServiceAccountName)
	}
	return rules
}

// TestKustomizeApply hands every rendering to a real API server as a
// server-side apply with dryRun=All (as `kubectl apply --server-side
// --dry-run=server` would): the API server validates and defaults each object
// and stores nothing. Only the namespace is created for real, first, and the
// cert-manager CRDs stand-ins (testdata/crds) are installed.
func TestKustomizeApply(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	installCRDs(ctx, t, env.Client, standInCRDs)

	for _, c := range kzCases(t) {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			r := kzRender(t, c)
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.namespace}}
			if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, u := range r.objects {
				err := applyDryRun(ctx, env.Client, u)
				g.Expect(err).NotTo(HaveOccurred(), "dry-run apply of %s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
				kinds[u.GetKind()]++
			}
			want := map[string]int{
				"Namespace": 1, "CustomResourceDefinition": 1, "ServiceAccount": 1, "Role": 1, "RoleBinding": 1,
				"ClusterRole": 4, "ClusterRoleBinding": 2, "Service": 2, "Deployment": 1, "PodDisruptionBudget": 1,
				"MutatingWebhookConfiguration": 1, "ValidatingWebhookConfiguration": 1,
				// installed empty, filled at run time, removed with the bundle
				"Lease": 1, "Secret": 1,
			}
			if c.certManager {
				want["Certificate"], want["Issuer"] = 1, 1
			}
			g.Expect(kinds).To(Equal(want))
		})
	}
}

// TestKustomizeBuildInstaller runs `make build-installer IMG=...` (into a
// temporary DIST, without regenerating the manifests) and checks
// install.yaml: everything config/default installs, with that image.
func TestKustomizeBuildInstaller(t *testing.T) {
	const img = "example.com/regcred:v1"
	g := NewWithT(t)
	dist := t.TempDir()
	kubectl := filepath.Join(testenv.AssetsDir(), "kubectl")
	cmd := exec.Command("make", "-o", "manifests", "build-installer", "IMG="+img, "DIST="+dist, "KUSTOMIZE="+kubectl+" kustomize")
	cmd.Dir = testenv.RepoRoot()
	// A make running this test passes its own settings down; this make is
	// not its child.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "MAKEFLAGS=") || strings.HasPrefix(e, "MFLAGS=") || strings.HasPrefix(e, "MAKELEVEL=")
	})
	out, err := cmd.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "make build-installer:\n%s", out)
	t.Logf("make build-installer IMG=%s:\n%s", img, out)

	data, err := os.ReadFile(filepath.Join(dist, "install.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(data)).NotTo(ContainSubstring("controller:latest"))
	g.Expect(string(data)).NotTo(ContainSubstring(kzDefaultImage))
	installer := newRendering(t, "install.yaml", data)
	d := typed[appsv1.Deployment](t, installer.only(t, "Deployment", nil))
	g.Expect(d.Spec.Template.Spec.Containers).To(HaveLen(1))
	g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(img))

	// The same objects as config/default, apart from the image.
	def := kzRender(t, kzCase{name: "default", dir: "config/default"})
	g.Expect(kzIDs(installer)).To(Equal(kzIDs(def)))
	g.Expect(strings.ReplaceAll(installer.text, "image: "+img, "image: "+kzDefaultImage)).To(Equal(def.text))
}

// kzIDs lists a rendering's objects as kind/namespace/name.
func kzIDs(r rendering) []string {
	var ids []string
	for _, u := range r.objects {
		ids = append(ids, fmt.Sprintf("%s/%s/%s", u.GetKind(), u.GetNamespace(), u.GetName()))
	}
	slices.Sort(ids)
	return ids
}
