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
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/regcred/regcred-operator/internal/testenv"
)

// chartReleases are the releases the install test renders: two names and
// namespaces, so that a name that does not follow the release shows.
var chartReleases = []struct{ release, namespace string }{
	{"regcred", "regcred-system"},
	{"acme-pull", "platform-tools"},
}

// chartValueSets are the values the install test renders each release with,
// and the --source-namespaces each must give.
var chartValueSets = []struct {
	name    string
	args    []string
	sources func(namespace string) []string
}{
	{"default values", nil, func(ns string) []string { return []string{ns} }},
	{"every feature", []string{"--values", chartAllFeatures}, func(string) []string { return []string{"regcred-system", "platform-tools"} }},
	{"no webhooks, metrics or CRD", []string{"--set", "webhook.enabled=false,tenancyGuard.enabled=false,metrics.enabled=false," +
		"crds.enabled=false,podDisruptionBudget.enabled=false,networkPolicy.enabled=true"}, func(ns string) []string { return []string{ns} }},
}

// chartAlerts are the PrometheusRule's alerts: the expressions agreed for
// every install (the monitoring docs use the same).
var chartAlerts = map[string]struct{ expr, forDuration string }{
	"RegcredCredentialNotReady": {`regcred_ready == 0`, "10m"},
	"RegcredPropagationSlow":    {`histogram_quantile(0.99, sum by (le) (rate(regcred_propagation_seconds_bucket[15m]))) > 60`, "5m"},
	"RegcredWebhookErrors":      {`sum by (webhook) (rate(controller_runtime_webhook_requests_total{code=~"5.."}[5m])) > 0`, "5m"},
	"RegcredPodsCannotPull":     {`sum by (credential, reason) (regcred_pull_failures{reason!="NotFound"}) > 0`, "10m"},
	"RegcredCredentialExpiring": {`(regcred_credential_expiry_timestamp_seconds - time()) < 3 * 24 * 3600`, "5m"},
}

// chartKustomizeOnlyKinds are the kinds config/default creates and the chart
// (with default values) does not, and why.
var chartKustomizeOnlyKinds = map[string]string{
	"Namespace": "Helm installs into an existing release namespace (helm install --create-namespace); it does not own it",
}

// chartOptionalKinds are the kinds only the chart's optional features add
// (config/default has none of them, the all-features values add each).
var chartOptionalKinds = map[string]string{
	"Issuer":             "certificates.mode=cert-manager",
	"Certificate":        "certificates.mode=cert-manager",
	"ServiceMonitor":     "serviceMonitor.enabled",
	"PrometheusRule":     "prometheusRule.enabled",
	"NetworkPolicy":      "networkPolicy.enabled",
	"RegistryCredential": "extraRegistryCredentials",
}

// chartOnlyFlags are the manager flags the chart passes and config/default
// does not, and why: config/default relies on their defaults.
var chartOnlyFlags = map[string]string{
	"source-namespaces":    "the release namespace or sourceNamespaces (config/default: the default, $POD_NAMESPACE)",
	"enable-pod-webhook":   "webhook.enabled",
	"enable-tenancy-guard": "tenancyGuard.enabled",
	"enable-cert-rotation": "certificates.mode",
	"zap-log-level":        "logLevel",
	"leader-election-id":   "the release's fullname (config/default: the default, one installation per namespace)",
	"webhook-port":         "webhook.port (config/default: the default, 9443)",
}

// TestChartInstallsOnAPIServer renders the chart for two releases, with
// default values, with every optional feature on and with the webhooks,
// metrics and CRD off, checks that the names in each rendering derive from the
// release and refer to each other, and hands every object to a real API
// server as a server-side apply dry run: each must be accepted.
func TestChartInstallsOnAPIServer(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx := t.Context()
	g := NewWithT(t)
	// Stand-ins for prometheus-operator's and cert-manager's CRDs; the
	// RegistryCredential CRD is installed by testenv from config/crd/bases.
	installCRDs(ctx, t, env.Client, standInCRDs)

	for _, rel := range chartReleases {
		g.Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: rel.namespace}})).To(Succeed())
		for _, values := range chartValueSets {
			t.Run(rel.release+" in "+rel.namespace+" with "+values.name, func(t *testing.T) {
				r := chartRender(t, rel.release, rel.namespace, values.args...)
				chartCheckNames(t, r, env.Client, values.sources(rel.namespace))
				kinds := map[string]int{}
				for _, u := range r.objects {
					if err := applyDryRun(ctx, env.Client, u); err != nil {
						t.Errorf("the API server refuses %s %s: %v", u.GetKind(), u.GetName(), err)
						continue
					}
					kinds[u.GetKind()]++
				}
				t.Logf("accepted: %v", kinds)
				// A dry run stores nothing.
				dep := r.only(t, "Deployment", nil)
				err := env.Client.Get(ctx, client.ObjectKeyFromObject(dep), &appsv1.Deployment{})
				if !apierrors.IsNotFound(err) {
					t.Errorf("Deployment %s/%s after a dry run: want NotFound, got %v", dep.GetNamespace(), dep.GetName(), err)
				}
			})
		}
	}

	// The dry run does judge the objects: broken ones are refused.
	t.Run("broken objects are refused", func(t *testing.T) {
		g := NewWithT(t)
		r := chartRender(t, "regcred", "regcred-system", "--values", chartAllFeatures)
		dep := r.only(t, "Deployment", nil).DeepCopy()
		containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
		containers[0].(map[string]any)["imagePullPolicy"] = "Sometimes"
		g.Expect(unstructured.SetNestedSlice(dep.Object, containers, "spec", "template", "spec", "containers")).To(Succeed())
		g.Expect(apierrors.IsInvalid(applyDryRun(ctx, env.Client, dep))).To(BeTrue(), "a Deployment with imagePullPolicy Sometimes")

		rc := r.all("RegistryCredential")[0].DeepCopy()
		g.Expect(unstructured.SetNestedField(rc.Object, "https://private-registry.io/", "spec", "server")).To(Succeed())
		g.Expect(apierrors.IsInvalid(applyDryRun(ctx, env.Client, rc))).To(BeTrue(), "a RegistryCredential whose server has a scheme")
	})
}

// chartCheckNames checks that the names in a rendering derive from the
// release and refer to each other: the manager's flags name the rendered
// webhook configurations, Service and certificate Secret; every RBAC
// resourceName is a rendered webhook configuration; the webhooks call the
// rendered Service in the release namespace; the Pod webhook skips the
// release namespace; selectors select the operator's Pods.
func chartCheckNames(t *testing.T, r rendering, c client.Client, sources []string) {
	g := NewWithT(t)
	full := chartFullname(r.release)

	for _, u := range r.objects {
		what := u.GetKind() + " " + u.GetName()
		namespaced, err := c.IsObjectNamespaced(u)
		g.Expect(err).NotTo(HaveOccurred(), what)
		if namespaced {
			g.Expect(u.GetNamespace()).To(Equal(r.namespace), what)
		} else {
			g.Expect(u.GetNamespace()).To(BeEmpty(), what)
		}
		g.Expect(u.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/instance", r.release), what)
		switch u.GetKind() {
		case "CustomResourceDefinition", "RegistryCredential": // named by the API and by the user
		case "Lease": // the leader election ID the Deployment passes
			g.Expect(u.GetName()).To(Equal(full+".registry.regcred.dev"), what)
		default:
			g.Expect(u.GetName()).To(HavePrefix(full+"-"), what+" is not named after the release")
		}
	}

	// The Deployment, its Pods and the manager's flags.
	dep := typed[appsv1.Deployment](t, r.only(t, "Deployment", nil))
	pod := dep.Spec.Template
	podSelected := func(what string, s *metav1.LabelSelector) {
		t.Helper()
		sel, err := metav1.LabelSelectorAsSelector(s)
		g.Expect(err).NotTo(HaveOccurred(), what)
		g.Expect(sel.Empty()).To(BeFalse(), what+" selects everything")
		g.Expect(sel.Matches(labels.Set(pod.Labels))).To(BeTrue(), what+" does not select the operator's Pods")
	}
	podSelected("the Deployment's selector", dep.Spec.Selector)
	g.Expect(pod.Labels).To(HaveKeyWithValue("registry.regcred.dev/inject", "false"))
	sa := r.only(t, "ServiceAccount", nil)
	g.Expect(pod.Spec.ServiceAccountName).To(Equal(sa.GetName()))
	manager := chartContainer(t, &pod.Spec, "manager")
	flags := parseFlags(t, manager.Args)
	g.Expect(flags).To(HaveKey("leader-elect"))
	g.Expect(strings.Split(flags["source-namespaces"], ",")).To(Equal(sources))

	mutating := r.all("MutatingWebhookConfiguration")
	validating := r.all("ValidatingWebhookConfiguration")
	switch flags["enable-pod-webhook"] {
	case "true":
		g.Expect(mutating).To(HaveLen(1))
		g.Expect(flags["webhook-configuration-name"]).To(Equal(mutating[0].GetName()))
	case "false":
		g.Expect(mutating).To(BeEmpty())
		g.Expect(flags["webhook-configuration-name"]).To(HavePrefix(full + "-"))
	default:
		t.Errorf("--enable-pod-webhook=%q", flags["enable-pod-webhook"])
	}
	switch flags["enable-tenancy-guard"] {
	case "true":
		g.Expect(validating).To(HaveLen(1))
		g.Expect(flags["validating-webhook-configuration-name"]).To(Equal(validating[0].GetName()))
	case "false":
		g.Expect(validating).To(BeEmpty())
	default:
		t.Errorf("--enable-tenancy-guard=%q", flags["enable-tenancy-guard"])
	}

	// The webhooks call the rendered Service, in the release namespace, which
	// sends them to the manager's webhook port. Without webhooks there is no
	// Service.
	configs := slices.Concat(mutating, validating)
	serving := len(configs) > 0
	webhookService := r.find("Service", flags["webhook-service-name"])
	svc := &corev1.Service{}
	if serving {
		g.Expect(webhookService).NotTo(BeNil(), "--webhook-service-name=%s is not a rendered Service", flags["webhook-service-name"])
		svc = typed[corev1.Service](t, webhookService)
		podSelected("the webhook Service", &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
		g.Expect(svc.Spec.Ports).To(HaveLen(1))
		g.Expect(svc.Spec.Ports[0].TargetPort.IntValue()).To(Equal(chartContainerPort(t, manager, "webhook-server")))
	} else {
		g.Expect(webhookService).To(BeNil(), "a webhook Service without webhooks")
		g.Expect(flags["webhook-service-name"]).To(HavePrefix(full + "-"))
	}
	calls := 0
	checkClientConfig := func(what string, cc admissionregistrationv1.WebhookClientConfig) {
		t.Helper()
		g.Expect(cc.URL).To(BeNil(), what)
		g.Expect(cc.Service).NotTo(BeNil(), what)
		g.Expect(cc.Service.Name).To(Equal(svc.Name), what)
		g.Expect(cc.Service.Namespace).To(Equal(r.namespace), what)
		calls++
	}
	for _, u := range mutating {
		m := typed[admissionregistrationv1.MutatingWebhookConfiguration](t, u)
		for _, w := range m.Webhooks {
			checkClientConfig(m.Name+" "+w.Name, w.ClientConfig)
			g.Expect(w.NamespaceSelector).NotTo(BeNil())
			excluded := false
			for _, e := range w.NamespaceSelector.MatchExpressions {
				if e.Key == corev1.LabelMetadataName && e.Operator == metav1.LabelSelectorOpNotIn {
					g.Expect(e.Values).To(ContainElements(r.namespace, "kube-system"))
					excluded = true
				}
			}
			g.Expect(excluded).To(BeTrue(), "%s does not exclude namespaces by name", w.Name)
		}
	}
	for _, u := range validating {
		v := typed[admissionregistrationv1.ValidatingWebhookConfiguration](t, u)
		for _, w := range v.Webhooks {
			checkClientConfig(v.Name+" "+w.Name, w.ClientConfig)
		}
	}
	g.Expect(calls).To(Equal(len(mutating) + len(validating)))

	// Certificates: the operator's own, or cert-manager's mounted at
	// --webhook-cert-path, with its CA injected into both configurations.
	certs, issuers := r.all("Certificate"), r.all("Issuer")
	switch flags["enable-cert-rotation"] {
	case "true":
		g.Expect(certs).To(BeEmpty())
		g.Expect(issuers).To(BeEmpty())
		g.Expect(flags["webhook-cert-secret"]).To(HavePrefix(full + "-"))
		for _, u := range configs {
			g.Expect(u.GetAnnotations()).NotTo(HaveKey("cert-manager.io/inject-ca-from"), u.GetName())
		}
	case "false":
		g.Expect(serving).To(BeTrue(), "cert-manager mode without webhooks")
		g.Expect(certs).To(HaveLen(1))
		cert := certs[0]
		secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
		g.Expect(flags["webhook-cert-secret"]).To(Equal(secretName))
		issuer, _, _ := unstructured.NestedStringMap(cert.Object, "spec", "issuerRef")
		g.Expect(issuer).To(HaveKeyWithValue("kind", "Issuer"))
		g.Expect(r.names("Issuer")).To(Equal([]string{issuer["name"]}))
		dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
		g.Expect(dnsNames).To(ConsistOf(svc.Name+"."+r.namespace+".svc", svc.Name+"."+r.namespace+".svc.cluster.local"))
		for _, u := range configs {
			g.Expect(u.GetAnnotations()).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", r.namespace+"/"+cert.GetName()), u.GetName())
		}
		var volume string
		for _, v := range pod.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == secretName {
				volume = v.Name
			}
		}
		g.Expect(volume).NotTo(BeEmpty(), "the certificate Secret %s is not a volume", secretName)
		g.Expect(manager.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: volume, MountPath: flags["webhook-cert-path"], ReadOnly: true}))
	default:
		t.Errorf("--enable-cert-rotation=%q", flags["enable-cert-rotation"])
	}

	// RBAC: every resourceName is a rendered webhook configuration of its
	// kind, and the operator may get and update each rendered one.
	granted := map[string][]string{}
	for _, role := range slices.Concat(r.all("ClusterRole"), r.all("Role")) {
		for _, rule := range chartRules(t, role) {
			if len(rule.ResourceNames) == 0 {
				continue
			}
			for _, res := range rule.Resources {
				var kind string
				switch res {
				case "mutatingwebhookconfigurations":
					kind = "MutatingWebhookConfiguration"
				case "validatingwebhookconfigurations":
					kind = "ValidatingWebhookConfiguration"
				default:
					t.Errorf("%s %s: resourceNames for %s", role.GetKind(), role.GetName(), res)
					continue
				}
				for _, name := range rule.ResourceNames {
					g.Expect(r.names(kind)).To(ContainElement(name), "%s %s names %s %s, which the release does not create", role.GetKind(), role.GetName(), kind, name)
					granted[kind+"/"+name] = append(granted[kind+"/"+name], rule.Verbs...)
				}
			}
		}
	}
	for _, u := range configs {
		g.Expect(granted[u.GetKind()+"/"+u.GetName()]).To(ContainElements("get", "update"), "no role lets the operator update %s", u.GetName())
	}

	// Bindings refer to rendered roles and bind the rendered ServiceAccount
	// to the manager's and the leader election's rules.
	bound := map[string]bool{}
	for _, u := range slices.Concat(r.all("ClusterRoleBinding"), r.all("RoleBinding")) {
		roleRef, subjects := chartBinding(t, u)
		g.Expect(r.find(roleRef.Kind, roleRef.Name)).NotTo(BeNil(), "%s %s refers to %s %s, which is not rendered", u.GetKind(), u.GetName(), roleRef.Kind, roleRef.Name)
		for _, s := range subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Namespace == r.namespace {
				g.Expect(s.Name).To(Equal(sa.GetName()), u.GetName())
				bound[roleRef.Kind+"/"+roleRef.Name] = true
			}
		}
	}
	var grants []string
	for key := range bound {
		kind, name, _ := strings.Cut(key, "/")
		for _, rule := range chartRules(t, r.find(kind, name)) {
			grants = append(grants, rule.Resources...)
		}
	}
	g.Expect(grants).To(ContainElements("leases", "registrycredentials", "secrets", "serviceaccounts", "namespaces"))

	// Metrics: a Service for the metrics port, and the ServiceMonitor selects
	// it and only it.
	var metricsServices []*unstructured.Unstructured
	for _, u := range r.all("Service") {
		if u.GetName() != svc.Name {
			metricsServices = append(metricsServices, u)
		}
	}
	monitors := r.all("ServiceMonitor")
	switch addr := flags["metrics-bind-address"]; {
	case addr != "0" && strings.HasPrefix(addr, ":"):
		g.Expect(addr).To(Equal(fmt.Sprintf(":%d", chartContainerPort(t, manager, "metrics"))))
		g.Expect(metricsServices).To(HaveLen(1))
		ms := typed[corev1.Service](t, metricsServices[0])
		podSelected("the metrics Service", &metav1.LabelSelector{MatchLabels: ms.Spec.Selector})
		g.Expect(ms.Spec.Ports).To(HaveLen(1))
		g.Expect(ms.Spec.Ports[0].TargetPort.IntValue()).To(Equal(chartContainerPort(t, manager, "metrics")))
		for _, u := range monitors {
			sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels")
			g.Expect(sel).NotTo(BeEmpty())
			g.Expect(labels.SelectorFromSet(sel).Matches(labels.Set(ms.Labels))).To(BeTrue(), "the ServiceMonitor does not select %s", ms.Name)
			g.Expect(labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels))).To(BeFalse(), "the ServiceMonitor selects the webhook Service")
			endpoints, _, _ := unstructured.NestedSlice(u.Object, "spec", "endpoints")
			g.Expect(endpoints).To(HaveLen(1))
			g.Expect(endpoints[0]).To(And(HaveKeyWithValue("port", ms.Spec.Ports[0].Name), HaveKeyWithValue("scheme", "https"),
				HaveKeyWithValue("bearerTokenFile", "/var/run/secrets/kubernetes.io/serviceaccount/token")))
		}
	case addr == "0":
		g.Expect(metricsServices).To(BeEmpty())
		g.Expect(monitors).To(BeEmpty())
	default:
		t.Errorf("--metrics-bind-address=%q", flags["metrics-bind-address"])
	}

	// The ports the flags name are the container's, and the probes use them.
	g.Expect(flags["webhook-port"]).To(Equal(fmt.Sprint(chartContainerPort(t, manager, "webhook-server"))))
	g.Expect(flags["health-probe-bind-address"]).To(Equal(fmt.Sprintf(":%d", chartContainerPort(t, manager, "health"))))
	g.Expect(manager.LivenessProbe.HTTPGet.Port.IntValue()).To(Equal(chartContainerPort(t, manager, "health")))
	g.Expect(manager.ReadinessProbe.HTTPGet.Port.IntValue()).To(Equal(chartContainerPort(t, manager, "health")))
	if pod.Spec.HostNetwork {
		g.Expect(pod.Spec.DNSPolicy).To(Equal(corev1.DNSClusterFirstWithHostNet), "a Pod in the host's network must still resolve Services")
	}

	for _, u := range r.all("PodDisruptionBudget") {
		podSelected("the PodDisruptionBudget", typed[policyv1.PodDisruptionBudget](t, u).Spec.Selector)
	}
	for _, u := range r.all("NetworkPolicy") {
		np := typed[networkingv1.NetworkPolicy](t, u)
		podSelected("the NetworkPolicy", &np.Spec.PodSelector)
		g.Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}), "egress is not restricted")
		open := map[int]bool{}
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				open[p.Port.IntValue()] = len(rule.From) == 0
			}
		}
		if serving {
			g.Expect(open).To(HaveKeyWithValue(chartContainerPort(t, manager, "webhook-server"), true), "the webhook port is not open to the API server")
		} else {
			g.Expect(open).NotTo(HaveKey(chartContainerPort(t, manager, "webhook-server")), "the webhook port is open without webhooks")
		}
		if flags["metrics-bind-address"] != "0" {
			g.Expect(open).To(HaveKeyWithValue(chartContainerPort(t, manager, "metrics"), false), "the metrics port is open to everyone or closed")
		} else {
			g.Expect(open).NotTo(HaveKey(chartContainerPort(t, manager, "metrics")), "the metrics port is open without metrics")
		}
	}

	for _, u := range r.all("PrometheusRule") {
		chartCheckAlerts(t, u)
	}
	// The operator serves only sources in --source-namespaces.
	for _, u := range r.all("RegistryCredential") {
		ns, _, _ := unstructured.NestedString(u.Object, "spec", "secretRef", "namespace")
		g.Expect(sources).To(ContainElement(ns), "RegistryCredential %s refers to a Secret outside --source-namespaces", u.GetName())
	}
}

// chartCheckAlerts checks that a PrometheusRule has exactly the agreed alerts.
func chartCheckAlerts(t *testing.T, u *unstructured.Unstructured) {
	g := NewWithT(t)
	groups, _, _ := unstructured.NestedSlice(u.Object, "spec", "groups")
	got := map[string]struct{ expr, forDuration string }{}
	for _, group := range groups {
		rules, _, _ := unstructured.NestedSlice(group.(map[string]any), "rules")
		for _, rule := range rules {
			m := rule.(map[string]any)
			alert, _ := m["alert"].(string)
			g.Expect(got).NotTo(HaveKey(alert))
			expr, _ := m["expr"].(string)
			forDuration, _ := m["for"].(string)
			got[alert] = struct{ expr, forDuration string }{expr, forDuration}
			severity, _, _ := unstructured.NestedString(m, "labels", "severity")
			g.Expect(severity).To(Equal("warning"), alert)
		}
	}
	g.Expect(got).To(Equal(chartAlerts))
}

// chartContainer returns a container of a Pod spec by name.
func chartContainer(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

// chartContainerPort returns a container's port by name.
func chartContainerPort(t *testing.T, c *corev1.Container, name string) int {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return int(p.ContainerPort)
		}
	}
	t.Fatalf("container %s has no port %s", c.Name, name)
	return 0
}

// chartBinding returns a RoleBinding's or ClusterRoleBinding's roleRef and subjects.
func chartBinding(t *testing.T, u *unstructured.Unstructured) (rbacv1.RoleRef, []rbacv1.Subject) {
	t.Helper()
	if u.GetKind() == "ClusterRoleBinding" {
		b := typed[rbacv1.ClusterRoleBinding](t, u)
		return b.RoleRef, b.Subjects
	}
	b := typed[rbacv1.RoleBinding](t, u)
	return b.RoleRef, b.Subjects
}

// TestChartMatchesKustomize compares the chart (default values, release
// regcred in regcred-system) with `kubectl kustomize config/default`: the same
// objects (names mapped from regcred-X to <fullname>-X) apart from the listed
// differences, the same RBAC rules (resourceNames mapped), the same bindings,
// webhooks, manager flags and Pod settings.
func TestChartMatchesKustomize(t *testing.T) {
	g := NewWithT(t)
	r := chartRender(t, "regcred", testenv.OperatorNamespace)
	k := newRendering(t, "config/default", kustomize(t, "config/default"))
	k.namespace = testenv.OperatorNamespace
	full := chartFullname(r.release)
	// config/default's namePrefix is "regcred-".
	mapName := func(name string) string {
		if name == "regcred-operator.registry.regcred.dev" { // the leader election Lease
			return full + ".registry.regcred.dev"
		}
		if rest, ok := strings.CutPrefix(name, "regcred-"); ok {
			return full + "-" + rest
		}
		return name
	}

	// The same objects.
	want, got := map[string]bool{}, map[string]bool{}
	kustomizeOnly := map[string]bool{}
	for _, u := range k.objects {
		if _, ok := chartKustomizeOnlyKinds[u.GetKind()]; ok {
			kustomizeOnly[u.GetKind()] = true
			continue
		}
		g.Expect(chartOptionalKinds).NotTo(HaveKey(u.GetKind()), "config/default has a %s: it is not optional", u.GetKind())
		want[u.GetKind()+" "+mapName(u.GetName())] = true
	}
	g.Expect(sortedKeys(kustomizeOnly)).To(Equal(sortedKeys(chartKustomizeOnlyKinds)), "the known differences are out of date")
	for _, u := range r.objects {
		got[u.GetKind()+" "+u.GetName()] = true
	}
	g.Expect(sortedKeys(got)).To(Equal(sortedKeys(want)), "the chart's objects (left) differ from config/default's")

	// Every optional feature adds only the optional kinds, each of them.
	all := chartRender(t, "regcred", testenv.OperatorNamespace, "--values", chartAllFeatures)
	optional := map[string]bool{}
	for _, u := range all.objects {
		if !got[u.GetKind()+" "+u.GetName()] && u.GetKind() != "ClusterRoleBinding" {
			optional[u.GetKind()] = true
		}
	}
	g.Expect(sortedKeys(optional)).To(Equal(sortedKeys(chartOptionalKinds)))

	// The same rules: first without resourceNames, then with them mapped.
	roles := 0
	for _, kr := range slices.Concat(k.all("ClusterRole"), k.all("Role")) {
		cr := r.find(kr.GetKind(), mapName(kr.GetName()))
		g.Expect(cr).NotTo(BeNil())
		wantRules, gotRules := chartRules(t, kr), chartRules(t, cr)
		strip := func(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
			out := make([]rbacv1.PolicyRule, len(rules))
			for i, rule := range rules {
				rule.ResourceNames = nil
				out[i] = rule
			}
			return out
		}
		g.Expect(strip(gotRules)).To(Equal(strip(wantRules)), "%s %s: rules differ from config/rbac's %s", cr.GetKind(), cr.GetName(), kr.GetName())
		for i := range wantRules {
			var mapped []string
			for _, n := range wantRules[i].ResourceNames {
				mapped = append(mapped, mapName(n))
			}
			g.Expect(gotRules[i].ResourceNames).To(Equal(mapped), "%s %s rule %d: resourceNames", cr.GetKind(), cr.GetName(), i)
		}
		g.Expect(cr.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/part-of", "regcred-operator"))
		if v, ok := kr.GetLabels()["rbac.authorization.k8s.io/aggregate-to-view"]; ok {
			g.Expect(cr.GetLabels()).To(HaveKeyWithValue("rbac.authorization.k8s.io/aggregate-to-view", v), cr.GetName())
		}
		roles++
	}
	g.Expect(roles).To(BeNumerically(">=", 5), "config/default's roles")

	// The same bindings.
	for _, kb := range slices.Concat(k.all("ClusterRoleBinding"), k.all("RoleBinding")) {
		cb := r.find(kb.GetKind(), mapName(kb.GetName()))
		g.Expect(cb).NotTo(BeNil())
		wantRef, wantSubjects := chartBinding(t, kb)
		gotRef, gotSubjects := chartBinding(t, cb)
		wantRef.Name = mapName(wantRef.Name)
		for i := range wantSubjects {
			wantSubjects[i].Name = mapName(wantSubjects[i].Name)
		}
		g.Expect(gotRef).To(Equal(wantRef), cb.GetName())
		g.Expect(gotSubjects).To(Equal(wantSubjects), cb.GetName())
	}

	// The same webhooks, calling the mapped Service.
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		wantHooks, _, _ := unstructured.NestedSlice(k.only(t, kind, nil).Object, "webhooks")
		gotHooks, _, _ := unstructured.NestedSlice(r.only(t, kind, nil).Object, "webhooks")
		g.Expect(wantHooks).NotTo(BeEmpty())
		for _, w := range wantHooks {
			name, _, _ := unstructured.NestedString(w.(map[string]any), "clientConfig", "service", "name")
			g.Expect(unstructured.SetNestedField(w.(map[string]any), mapName(name), "clientConfig", "service", "name")).To(Succeed())
		}
		g.Expect(gotHooks).To(Equal(wantHooks), kind)
	}

	// The same flags, apart from the listed ones, with the same values (names
	// mapped).
	kd := typed[appsv1.Deployment](t, k.only(t, "Deployment", nil))
	cd := typed[appsv1.Deployment](t, r.only(t, "Deployment", nil))
	kc := chartContainer(t, &kd.Spec.Template.Spec, "manager")
	cc := chartContainer(t, &cd.Spec.Template.Spec, "manager")
	kflags, cflags := parseFlags(t, kc.Args), parseFlags(t, cc.Args)
	var chartOnly, kustomizeOnlyFlags []string
	for name := range cflags {
		if _, ok := kflags[name]; !ok {
			chartOnly = append(chartOnly, name)
		}
	}
	for name := range kflags {
		if _, ok := cflags[name]; !ok {
			kustomizeOnlyFlags = append(kustomizeOnlyFlags, name)
		}
	}
	slices.Sort(chartOnly)
	g.Expect(chartOnly).To(Equal(sortedKeys(chartOnlyFlags)), "manager flags only the chart sets (left) and the known differences (right)")
	g.Expect(kustomizeOnlyFlags).To(BeEmpty(), "manager flags only config/default sets")
	for name, value := range kflags {
		g.Expect(cflags).To(HaveKeyWithValue(name, mapName(value)), "--%s", name)
	}
	// One release, one image: config/manager's is the chart's default.
	g.Expect(cc.Image).To(Equal(kc.Image))

	// The same Pod settings.
	g.Expect(cd.Spec.Replicas).To(Equal(kd.Spec.Replicas))
	g.Expect(cc.Command).To(Equal(kc.Command))
	g.Expect(cc.Env).To(Equal(kc.Env))
	g.Expect(cc.Ports).To(Equal(kc.Ports))
	g.Expect(cc.SecurityContext).To(Equal(kc.SecurityContext))
	g.Expect(cc.LivenessProbe).To(Equal(kc.LivenessProbe))
	g.Expect(cc.ReadinessProbe).To(Equal(kc.ReadinessProbe))
	g.Expect(cc.Resources).To(Equal(kc.Resources))
	g.Expect(cc.VolumeMounts).To(Equal(kc.VolumeMounts))
	g.Expect(cc.ImagePullPolicy).To(Equal(kc.ImagePullPolicy))
	g.Expect(cd.Spec.Template.Spec.SecurityContext).To(Equal(kd.Spec.Template.Spec.SecurityContext))
	g.Expect(cd.Spec.Template.Spec.TerminationGracePeriodSeconds).To(Equal(kd.Spec.Template.Spec.TerminationGracePeriodSeconds))
	g.Expect(cd.Spec.Template.Spec.Volumes).To(Equal(kd.Spec.Template.Spec.Volumes))
	g.Expect(cd.Spec.Template.Annotations).To(Equal(kd.Spec.Template.Annotations))
	g.Expect(cd.Spec.Template.Labels).To(HaveKeyWithValue("registry.regcred.dev/inject", kd.Spec.Template.Labels["registry.regcred.dev/inject"]))
	wantAnti := kd.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	gotAnti := cd.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	g.Expect(gotAnti).To(HaveLen(len(wantAnti)))
	for i := range wantAnti {
		g.Expect(gotAnti[i].Weight).To(Equal(wantAnti[i].Weight))
		g.Expect(gotAnti[i].PodAffinityTerm.TopologyKey).To(Equal(wantAnti[i].PodAffinityTerm.TopologyKey))
		g.Expect(gotAnti[i].PodAffinityTerm.LabelSelector.MatchLabels).To(Equal(cd.Spec.Selector.MatchLabels))
	}
	kp := typed[policyv1.PodDisruptionBudget](t, k.only(t, "PodDisruptionBudget", nil))
	cp := typed[policyv1.PodDisruptionBudget](t, r.only(t, "PodDisruptionBudget", nil))
	g.Expect(cp.Spec.MinAvailable).To(Equal(kp.Spec.MinAvailable))
	g.Expect(cp.Spec.MaxUnavailable).To(Equal(kp.Spec.MaxUnavailable))
	for _, ks := range k.all("Service") {
		cs := r.find("Service", mapName(ks.GetName()))
		g.Expect(typed[corev1.Service](t, cs).Spec.Ports).To(Equal(typed[corev1.Service](t, ks).Spec.Ports), cs.GetName())
	}
}

// TestChartPodDefaults checks the Deployment's and PodDisruptionBudget's
// defaults (checkPodDefaults) with the default values and with one and three
// replicas, and that a single replica gets no PodDisruptionBudget, even with
// minAvailable set.
func TestChartPodDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		pdbs int
	}{
		{"default values", nil, 1},
		{"one replica", []string{"--set", "replicas=1"}, 0},
		{"one replica, minAvailable 1", []string{"--set", "replicas=1,podDisruptionBudget.minAvailable=1"}, 0},
		{"three replicas", []string{"--set", "replicas=3"}, 1},
		{"three replicas, minAvailable 2", []string{"--set", "replicas=3,podDisruptionBudget.minAvailable=2"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := chartRender(t, "regcred", testenv.OperatorNamespace, tc.args...)
			checkPodDefaults(t, r)
			NewWithT(t).Expect(r.all("PodDisruptionBudget")).To(HaveLen(tc.pdbs))
		})
	}
	r := chartRender(t, "regcred", testenv.OperatorNamespace, "--set", "replicas=3,podDisruptionBudget.minAvailable=2")
	pdb := typed[policyv1.PodDisruptionBudget](t, r.only(t, "PodDisruptionBudget", nil))
	NewWithT(t).Expect(pdb.Spec.MaxUnavailable).To(BeNil(), "minAvailable replaces maxUnavailable")
	NewWithT(t).Expect(pdb.Spec.MinAvailable.IntValue()).To(Equal(2))
}

// TestChartCRDMatchesConfig checks that the chart's CRD is config/crd/bases'
// (its copy in files/crds byte for byte, the rendering field for field), with
// the keep annotation unless crds.keep is false, and absent when
// crds.enabled is false.
func TestChartCRDMatchesConfig(t *testing.T) {
	g := NewWithT(t)
	const file = "registry.regcred.dev_registrycredentials.yaml"
	base, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", file))
	g.Expect(err).NotTo(HaveOccurred())
	copied, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), chartPath, "files", "crds", file))
	g.Expect(err).NotTo(HaveOccurred())
	if !bytes.Equal(copied, base) {
		t.Fatalf("%s/files/crds/%s differs from config/crd/bases/%s: run `make manifests`", chartPath, file, file)
	}
	want := decodeFile(t, filepath.Join("config", "crd", "bases", file))
	g.Expect(want).To(HaveLen(1))

	r := chartRender(t, "regcred", testenv.OperatorNamespace)
	crd := r.only(t, "CustomResourceDefinition", nil)
	g.Expect(crd.GetName()).To(Equal(want[0].GetName()))
	g.Expect(crd.Object["spec"]).To(Equal(want[0].Object["spec"]))
	for k, v := range want[0].GetAnnotations() {
		g.Expect(crd.GetAnnotations()).To(HaveKeyWithValue(k, v))
	}
	g.Expect(crd.GetAnnotations()).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
	g.Expect(crd.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "Helm"))

	notKept := chartRender(t, "regcred", testenv.OperatorNamespace, "--set", "crds.keep=false")
	g.Expect(notKept.only(t, "CustomResourceDefinition", nil).GetAnnotations()).NotTo(HaveKey("helm.sh/resource-policy"))
	none := chartRender(t, "regcred", testenv.OperatorNamespace, "--set", "crds.enabled=false")
	g.Expect(none.all("CustomResourceDefinition")).To(BeEmpty())
	g.Expect(none.all("Deployment")).To(HaveLen(1))
}

// TestChartReadmeDocumentsEveryValue checks that the chart README's values
// table has a row for every value in values.yaml (a row for a map covers its
// keys), and no row for a value that does not exist.
func TestChartReadmeDocumentsEveryValue(t *testing.T) {
	g := NewWithT(t)
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), chartPath, "values.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	values := map[string]any{}
	g.Expect(yaml.Unmarshal(data, &values)).To(Succeed())
	readme, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), chartPath, "README.md"))
	g.Expect(err).NotTo(HaveOccurred())
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		documented = append(documented, m[1])
	}
	g.Expect(documented).NotTo(BeEmpty(), "the README has no values table")

	var leaves []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(prefix+k+".", sub)
				continue
			}
			leaves = append(leaves, prefix+k)
		}
	}
	walk("", values)
	g.Expect(len(leaves)).To(BeNumerically(">", 20))
	for _, leaf := range leaves {
		covered := slices.ContainsFunc(documented, func(d string) bool { return leaf == d || strings.HasPrefix(leaf, d+".") })
		g.Expect(covered).To(BeTrue(), "value %s is not in the README's values table", leaf)
	}
	for _, d := range documented {
		exists := slices.ContainsFunc(leaves, func(leaf string) bool { return leaf == d || strings.HasPrefix(leaf, d+".") })
		g.Expect(exists).To(BeTrue(), fmt.Sprintf("the README documents %s, which values.yaml does not have", d))
	}
}
