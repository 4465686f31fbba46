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
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// nodeIP is hack/node's node IP, where Pods reach the private registry
	// (the chart's hostAliases name it private-registry.io for the check).
	nodeIP      = "10.251.0.1"
	appImage    = "private-registry.io/apps/internal-app:1.0"
	release     = "regcred"
	deployment  = "regcred-regcred-operator-controller-manager"
	selectedNS  = "team-a"
	offNS       = "team-off"
	podTimeout  = 90 * time.Second
	pullTimeout = 60 * time.Second
)

// helmFlow: items 3 and 4 of issue 19 with the chart.
func (e *e2e) helmFlow() {
	fmt.Println("\n== the chart: helm install, the seed's lesson, rotation, deletion, upgrade, uninstall")
	if !e.installed("helm install (2 replicas, leader election, both webhooks, tenancy guard on) and the Deployment Available", deployment, func() error {
		_, err := e.helm("install", release, filepath.Join(e.root, "charts/regcred-operator"), "-n", e.ns, "--create-namespace",
			"--set", "image.repository="+e.imageRepo, "--set", "image.tag="+e.tag1, "--set", "replicas=2",
			"--set", "hostAliases[0].ip="+nodeIP, "--set", "hostAliases[0].hostnames[0]=private-registry.io",
			"--wait", "--timeout", "3m")
		return err
	}) {
		return
	}
	var copyName string
	e.check("kubectl create secret docker-registry regcred, a RegistryCredential for private-registry.io: Ready", func() error {
		if err := e.sourceSecret("regcred", "private-registry.io"); err != nil {
			return err
		}
		if err := e.registryCA(); err != nil {
			return err
		}
		if err := e.namespace(selectedNS, true); err != nil {
			return err
		}
		if err := e.namespace(offNS, false); err != nil {
			return err
		}
		if _, err := e.kubectlIn(rcYAML("private-registry", "private-registry.io", "regcred"), "apply", "-f", "-"); err != nil {
			return err
		}
		var err error
		copyName, err = e.waitReady("private-registry", time.Minute)
		if err != nil {
			return err
		}
		_, err = e.secretDigest(selectedNS, copyName)
		return err
	})
	e.check("both webhooks answer through their Service (dry-run Pod injected; tenancy guard refuses a user who may not read the Secret)", func() error {
		return e.webhooksAnswer(selectedNS, copyName)
	})
	e.check("internal-app-pod (no imagePullSecrets) in a selected namespace: Running, pulled by the kubelet", func() error {
		return e.runPod(selectedNS, "internal-app-pod", appImage, "Always")
	})
	e.check("internal-app-pod in a namespace that is not selected: the registry's 401 (ErrImagePull / ImagePullBackOff)", func() error {
		return e.refusedPod(offNS, "internal-app-pod", appImage, "Always")
	})
	e.check("a Deployment created together with its new namespace starts without a pull failure", func() error {
		if err := e.deploymentInNewNamespace("team-new", "internal-app"); err != nil {
			return err
		}
		var pod string
		if err := poll(podTimeout, func() error {
			out, err := e.jsonpath(`{range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}`, "get", "pods", "-n", "team-new", "-l", "app=internal-app")
			if err != nil {
				return err
			}
			f := strings.Fields(out)
			if len(f) == 2 && f[1] == "Running" {
				pod = f[0]
				return nil
			}
			return fmt.Errorf("pods: %q", out)
		}); err != nil {
			out, _ := e.kubectl("get", "events", "-n", "team-new")
			return fmt.Errorf("%v\n%s", err, out)
		}
		ev, err := e.kubectl("get", "events", "-n", "team-new", "--field-selector", "involvedObject.name="+pod+",reason=Failed", "--no-headers")
		if err != nil {
			return err
		}
		if strings.TrimSpace(ev) != "" && !strings.Contains(ev, "No resources found") {
			return fmt.Errorf("the Pod ran, but after a failure:\n%s", ev)
		}
		return nil
	})
	e.check("the :5000 spelling (a second listener, its own docker-registry Secret and RegistryCredential): Running", func() error {
		if err := e.sourceSecret("regcred-5000", "private-registry.io:5000"); err != nil {
			return err
		}
		if _, err := e.kubectlIn(rcYAML("private-registry-5000", "private-registry.io:5000", "regcred-5000"), "apply", "-f", "-"); err != nil {
			return err
		}
		if _, err := e.waitReady("private-registry-5000", time.Minute); err != nil {
			return err
		}
		return e.runPod(selectedNS, "port-pod", "private-registry.io:5000/apps/internal-app:1.0", "Always")
	})
	e.check("the digest spelling (private-registry.io/apps/internal-app@sha256:...): Running", func() error {
		digest, err := e.jsonpath(`{.status.containerStatuses[0].imageID}`, "get", "pod", "internal-app-pod", "-n", selectedNS)
		if err != nil {
			return err
		}
		_, d, ok := strings.Cut(digest, "@")
		if !ok {
			return fmt.Errorf("imageID %q has no digest", digest)
		}
		e.digestRef = "private-registry.io/apps/internal-app@" + d
		return e.runPod(selectedNS, "digest-pod", e.digestRef, "Always")
	})
	e.keySpellings()
	e.credentialHealth()
	e.rotation(copyName)
	e.deletion()
	e.upgrade()
	e.uninstall()
}

// keySpellings asks the kubelet about docker config keys that it reads in
// its own way, and checks that the operator's verdict on a source keyed so
// (Synced, or ServerNotInSource) is the kubelet's: a Pod in a namespace that
// no RegistryCredential selects, listing a Secret with that one key, pulls
// or gets the registry's 401.
func (e *e2e) keySpellings() {
	cases := []struct{ key, server string }{
		{"https://private-registry.io/v2/", "private-registry.io"}, // "/v2/" dropped
		{"Private-Registry.io", "private-registry.io"},             // hosts compared case-sensitively
		{"private-registry.io/app", "private-registry.io/apps"},    // a plain string prefix
	}
	for i, c := range cases {
		name := fmt.Sprintf("key-%d", i)
		e.check(fmt.Sprintf("source keyed %q for server %s: the operator's verdict is the kubelet's", c.key, c.server), func() error {
			if err := e.sourceSecret(name, c.key); err != nil {
				return err
			}
			if err := e.pullSecret(offNS, name, c.key); err != nil {
				return err
			}
			rc := strings.Replace(rcYAML(name, c.server, name), "regcred-e2e: selected", "regcred-e2e: none", 1)
			if _, err := e.kubectlIn(rc, "apply", "-f", "-"); err != nil {
				return err
			}
			var reason string
			if err := poll(time.Minute, func() error {
				out, err := e.jsonpath(`{.status.conditions[?(@.type=="Ready")].reason}`, "get", "registrycredential", name)
				if err != nil {
					return err
				}
				if reason = strings.TrimSpace(out); reason != "Synced" && reason != "ServerNotInSource" {
					return fmt.Errorf("Ready reason %q", reason)
				}
				return nil
			}); err != nil {
				return err
			}
			pod := podYAML(offNS, name+"-pod", appImage, "Always") + "  imagePullSecrets:\n  - name: " + name + "\n"
			if _, err := e.kubectlIn(pod, "apply", "-f", "-"); err != nil {
				return err
			}
			var kubelet error
			if reason == "Synced" {
				kubelet = e.waitRunning(offNS, name+"-pod", podTimeout)
			} else {
				kubelet = e.waitPullRefused(offNS, name+"-pod", pullTimeout)
			}
			if kubelet != nil {
				return fmt.Errorf("the operator says %s, the kubelet disagrees: %v", reason, kubelet)
			}
			fmt.Printf("      operator: %s; kubelet: %s\n", reason, map[bool]string{true: "pulled", false: "401"}[reason == "Synced"])
			_, err := e.kubectl("delete", "registrycredential", name, "--wait=true", "--timeout=60s")
			if err == nil {
				_, err = e.kubectl("delete", "secret", name, "-n", e.ns)
			}
			return err
		})
	}
}

// credentialHealth: the credential check against the node's registry (a
// wrong password is Unauthorized before any Pod tries it), and the tracing
// of a Pod that does not list the copy, repaired by an eviction.
func (e *e2e) credentialHealth() {
	e.check("the credential check: private-registry Verified; a wrong password in a source is CredentialsVerified=False/Unauthorized (Ready False) before any Pod is created", func() error {
		if err := poll(time.Minute, func() error {
			out, err := e.jsonpath(`{.status.conditions[?(@.type=="CredentialsVerified")].reason}`, "get", "registrycredential", "private-registry")
			if err != nil || out != "Verified" {
				msg, _ := e.jsonpath(`{.status.conditions[?(@.type=="CredentialsVerified")].message}`, "get", "registrycredential", "private-registry")
				return fmt.Errorf("private-registry: CredentialsVerified %q (%s) %v", out, msg, err)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := e.secretWith(e.ns, "wrong-password", "private-registry.io", e.registryUser, "not-"+e.registryPass); err != nil {
			return err
		}
		rc := strings.Replace(rcYAML("wrong-password", "private-registry.io", "wrong-password"), "regcred-e2e: selected", "regcred-e2e: none", 1)
		if _, err := e.kubectlIn(rc, "apply", "-f", "-"); err != nil {
			return err
		}
		if err := poll(time.Minute, func() error {
			out, err := e.jsonpath(`{.status.conditions[?(@.type=="CredentialsVerified")].status} {.status.conditions[?(@.type=="CredentialsVerified")].reason} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}`,
				"get", "registrycredential", "wrong-password")
			if err != nil || out != "False Unauthorized False Unauthorized" {
				return fmt.Errorf("CredentialsVerified and Ready: %q %v", out, err)
			}
			return nil
		}); err != nil {
			return err
		}
		msg, _ := e.jsonpath(`{.status.conditions[?(@.type=="CredentialsVerified")].message}`, "get", "registrycredential", "wrong-password")
		if strings.Contains(msg, e.registryPass) {
			return fmt.Errorf("the message holds the password")
		}
		fmt.Printf("      wrong-password: %s\n", msg)
		return e.printRegcreds()
	})
	e.check("a Pod admitted while the operator and its webhook were down: NotReferenced in status.pullFailures; with spec.repair.restartPodsNotReferenced it is evicted, replaced and Running", func() error {
		if _, err := e.kubectl("scale", "deployment", deployment, "-n", e.ns, "--replicas=0"); err != nil {
			return err
		}
		if err := poll(time.Minute, func() error {
			out, err := e.jsonpath(`{.items[*].metadata.name}`, "get", "pods", "-n", e.ns, "-l", "app.kubernetes.io/name=regcred-operator")
			if err != nil || out != "" {
				return fmt.Errorf("operator Pods left: %q %v", out, err)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := e.deploymentInNewNamespace("team-late", "late-app"); err != nil {
			return err
		}
		var first string
		if err := poll(pullTimeout, func() error {
			out, err := e.jsonpath(`{.items[0].metadata.name}`, "get", "pods", "-n", "team-late", "-l", "app=late-app")
			if err != nil || out == "" {
				return fmt.Errorf("no Pod yet: %v", err)
			}
			first = out
			return e.waitPullRefused("team-late", first, 5*time.Second)
		}); err != nil {
			return err
		}
		if _, err := e.kubectl("scale", "deployment", deployment, "-n", e.ns, "--replicas=2"); err != nil {
			return err
		}
		if err := e.deploymentAvailable(deployment, 2*time.Minute); err != nil {
			return err
		}
		if err := poll(time.Minute, func() error {
			out, err := e.jsonpath(`{range .status.pullFailures.pods[*]}{.namespace}/{.pod} {.reason}{"\n"}{end}`, "get", "registrycredential", "private-registry")
			if err != nil || !strings.Contains(out, "team-late/"+first+" NotReferenced") {
				return fmt.Errorf("status.pullFailures.pods: %q %v", out, err)
			}
			return nil
		}); err != nil {
			return err
		}
		ev, _ := e.kubectl("get", "events", "-n", "team-late", "--field-selector", "involvedObject.name="+first+",reason=NotReferenced", "-o", "custom-columns=MESSAGE:.message", "--no-headers")
		if !strings.Contains(ev, "RegistryCredential private-registry") {
			return fmt.Errorf("no NotReferenced Event on the Pod naming the credential: %q", ev)
		}
		if err := e.printRegcreds(); err != nil {
			return err
		}
		if _, err := e.kubectl("patch", "registrycredential", "private-registry", "--type=merge", "-p", `{"spec":{"repair":{"restartPodsNotReferenced":true}}}`); err != nil {
			return err
		}
		if err := poll(podTimeout, func() error {
			out, err := e.jsonpath(`{range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}`, "get", "pods", "-n", "team-late", "-l", "app=late-app")
			if err != nil {
				return err
			}
			f := strings.Fields(out)
			if len(f) == 2 && f[0] != first && f[1] == "Running" {
				return nil
			}
			return fmt.Errorf("pods: %q", out)
		}); err != nil {
			return fmt.Errorf("%v\n%s", err, e.events("team-late", first))
		}
		rcEvents, _ := e.kubectl("get", "events", "--all-namespaces", "--field-selector", "involvedObject.kind=RegistryCredential,involvedObject.name=private-registry,reason=Evicted", "-o", "custom-columns=MESSAGE:.message", "--no-headers")
		if !strings.Contains(rcEvents, first) {
			return fmt.Errorf("no Evicted Event on the RegistryCredential naming %s: %q", first, rcEvents)
		}
		fmt.Printf("      %s evicted, replaced and Running\n", first)
		if err := poll(time.Minute, func() error {
			n, err := e.jsonpath(`{.status.pullFailures.count}`, "get", "registrycredential", "private-registry")
			if err != nil || n != "0" {
				return fmt.Errorf("status.pullFailures.count %q %v", n, err)
			}
			return nil
		}); err != nil {
			return err
		}
		if _, err := e.kubectl("patch", "registrycredential", "private-registry", "--type=json", "-p", `[{"op":"remove","path":"/spec/repair"}]`); err != nil {
			return err
		}
		_, err := e.kubectl("delete", "namespace", "team-late", "--wait=false")
		return err
	})
}

// deploymentInNewNamespace applies a selected namespace and, in it, a
// Deployment of one Pod (label app=name) pulling appImage.
func (e *e2e) deploymentInNewNamespace(ns, name string) error {
	y := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
  labels: {regcred-e2e: selected}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[2]s}}
  template:
    metadata: {labels: {app: %[2]s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: app, image: %[3]s, imagePullPolicy: Always}
`, ns, name, appImage)
	_, err := e.kubectlIn(y, "apply", "-f", "-")
	return err
}

// printRegcreds prints kubectl get regcred -o wide, indented.
func (e *e2e) printRegcreds() error {
	out, err := e.kubectl("get", "registrycredentials", "-o", "wide")
	if err != nil {
		return err
	}
	fmt.Printf("      $ kubectl get regcred -o wide\n      %s\n", strings.ReplaceAll(strings.TrimSpace(out), "\n", "\n      "))
	return nil
}

// rotation: the registry's password and the source Secret change; new Pods
// pull with the new password, and the kubelet (1.35: it re-checks images it
// pulled with credentials) lets an IfNotPresent Pod start with it.
func (e *e2e) rotation(copyName string) {
	e.check("rotate the registry's password and the source Secret: the copy follows", func() error {
		before, err := e.secretDigest(selectedNS, copyName)
		if err != nil {
			return err
		}
		users := filepath.Join(e.state, "registry", "users")
		e.registryPass = fmt.Sprintf("rotated-%d", time.Now().UnixNano())
		if err := os.WriteFile(users, []byte(e.registryUser+":"+e.registryPass+"\n"), 0o600); err != nil {
			return err
		}
		if err := e.sourceSecret("regcred", "private-registry.io"); err != nil {
			return err
		}
		return poll(30*time.Second, func() error {
			after, err := e.secretDigest(selectedNS, copyName)
			if err != nil {
				return err
			}
			if after == before {
				return fmt.Errorf("the copy in %s still holds the old bytes", selectedNS)
			}
			return nil
		})
	})
	e.check("after the rotation a new Pod (imagePullPolicy Always) pulls with the new password: Running", func() error {
		return e.runPod(selectedNS, "rotated-pod", appImage, "Always")
	})
	e.check("after the rotation an IfNotPresent Pod on the node that has the image: Running (the kubelet re-checks with the new Secret)", func() error {
		return e.runPod(selectedNS, "cached-pod", e.digestRefOr(appImage), "IfNotPresent")
	})
	e.check("an IfNotPresent Pod without the Secret (namespace not selected) is refused although the image is on the node", func() error {
		return e.refusedPod(offNS, "cached-pod", appImage, "IfNotPresent")
	})
}

func (e *e2e) digestRefOr(s string) string {
	if e.digestRef != "" {
		return e.digestRef
	}
	return s
}

// deletion: deleting a RegistryCredential (deletionPolicy Delete) removes
// its copies and ServiceAccount entries; running Pods keep running.
func (e *e2e) deletion() {
	e.check("delete the RegistryCredentials (Delete): copies and ServiceAccount entries gone, running Pods keep running", func() error {
		copyName, err := e.jsonpath(`{.status.targetSecretName}`, "get", "registrycredential", "private-registry")
		if err != nil {
			return err
		}
		if _, err := e.kubectl("delete", "registrycredential", "private-registry", "private-registry-5000", "--wait=true", "--timeout=60s"); err != nil {
			return err
		}
		for _, ns := range []string{selectedNS, "team-new"} {
			if out, err := e.kubectl("get", "secret", copyName, "-n", ns, "--ignore-not-found", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
				return fmt.Errorf("the copy %s/%s is still there (%v)", ns, copyName, err)
			}
			sa, err := e.jsonpath(`{.imagePullSecrets[*].name}`, "get", "serviceaccount", "default", "-n", ns)
			if err != nil {
				return err
			}
			if strings.Contains(sa, copyName) {
				return fmt.Errorf("ServiceAccount %s/default still lists %s", ns, copyName)
			}
		}
		for _, p := range []string{"internal-app-pod", "port-pod", "digest-pod", "rotated-pod"} {
			s, err := e.podStatus(selectedNS, p)
			if err != nil {
				return err
			}
			if s.phase != "Running" {
				return fmt.Errorf("Pod %s/%s is %s after the deletion", selectedNS, p, s.phase)
			}
		}
		return nil
	})
}

// upgrade: helm upgrade to a second image tag while a credential exists:
// no copy is lost, and nothing is written again.
func (e *e2e) upgrade() {
	e.check("helm upgrade to a second image tag with a credential in place: no copy lost, no copy or ServiceAccount rewritten", func() error {
		if _, err := e.kubectlIn(rcYAML("private-registry", "private-registry.io", "regcred"), "apply", "-f", "-"); err != nil {
			return err
		}
		if _, err := e.waitReady("private-registry", time.Minute); err != nil {
			return err
		}
		// Let the kube-controller-manager's own writes (token controllers) settle.
		before, err := e.snapshot(selectedNS, "team-new")
		if err != nil {
			return err
		}
		if _, err := e.helm("upgrade", release, filepath.Join(e.root, "charts/regcred-operator"), "-n", e.ns,
			"--reuse-values", "--set", "image.tag="+e.tag2, "--wait", "--timeout", "3m"); err != nil {
			return err
		}
		if err := e.deploymentAvailable(deployment, 2*time.Minute); err != nil {
			return err
		}
		img, err := e.jsonpath(`{.spec.template.spec.containers[0].image}`, "get", "deployment", deployment, "-n", e.ns)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(img, ":"+e.tag2) {
			return fmt.Errorf("the Deployment runs %s, want tag %s", img, e.tag2)
		}
		if _, err := e.waitReady("private-registry", time.Minute); err != nil {
			return err
		}
		after, err := e.snapshot(selectedNS, "team-new")
		if err != nil {
			return err
		}
		if d := diff(before, after); len(d) > 0 {
			return fmt.Errorf("changed by the upgrade:\n%s", strings.Join(d, "\n"))
		}
		return nil
	})
}

// uninstall: with the RegistryCredentials deleted first, helm uninstall
// leaves nothing of the operator (the CRD stays: crds.keep).
func (e *e2e) uninstall() {
	e.check("helm uninstall after the RegistryCredentials are deleted: nothing left but the kept CRD", func() error {
		if _, err := e.kubectl("delete", "registrycredentials", "--all", "--wait=true", "--timeout=60s"); err != nil {
			return err
		}
		if _, err := e.kubectl("delete", "secret", "wrong-password", "-n", e.ns, "--ignore-not-found"); err != nil {
			return err
		}
		if _, err := e.helm("uninstall", release, "-n", e.ns, "--wait", "--timeout", "2m"); err != nil {
			return err
		}
		return poll(60*time.Second, func() error { return e.nothingLeft("secret/regcred", "secret/regcred-5000") })
	})
}

// nothingLeft fails while anything of the operator is left: its objects in
// its namespace (but for the Secrets keep), its cluster-scoped objects, and
// any Secret in the namespaces it copied into.
func (e *e2e) nothingLeft(keep ...string) error {
	var left []string
	queries := [][]string{{"get", "clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations", "-o", "name"}}
	if out, _ := e.kubectl("get", "namespace", e.ns, "--ignore-not-found", "-o", "name"); strings.TrimSpace(out) != "" {
		queries = append(queries, []string{"get", "all,serviceaccounts,roles,rolebindings,secrets,configmaps,leases", "-n", e.ns, "-o", "name"})
	}
	for _, q := range queries {
		out, err := e.kubectl(q...)
		if err != nil {
			return err
		}
		for _, l := range strings.Fields(out) {
			kept := false
			for _, k := range keep {
				kept = kept || l == k
			}
			if !kept && (strings.Contains(l, "regcred") || strings.HasPrefix(l, "secret/") ||
				strings.HasPrefix(l, "lease") || strings.HasPrefix(l, "pod/")) {
				left = append(left, l)
			}
		}
	}
	for _, ns := range []string{selectedNS, "team-new"} {
		out, err := e.kubectl("get", "secrets", "-n", ns, "-o", "name")
		if err != nil {
			return err
		}
		for _, l := range strings.Fields(out) {
			left = append(left, ns+"/"+l)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("left after the removal: %s", strings.Join(left, " "))
	}
	return nil
}

// bundleFlow: the same install with dist/install.yaml (make build-installer).
func (e *e2e) bundleFlow() {
	fmt.Println("\n== the bundle: kubectl apply -f dist/install.yaml")
	const bundleDeployment = "regcred-controller-manager"
	if !e.installed("kubectl apply --server-side -f dist/install.yaml: the Deployment Available", bundleDeployment, func() error {
		_, err := e.kubectl("apply", "--server-side", "-f", e.installYAML)
		return err
	}) {
		return
	}
	var copyName string
	e.check("a RegistryCredential for private-registry.io: Ready, and both webhooks answer", func() error {
		if err := e.sourceSecret("regcred", "private-registry.io"); err != nil {
			return err
		}
		if err := e.namespace(selectedNS, true); err != nil {
			return err
		}
		// Available counts ready Pods; the Service's endpoints and kube-proxy's
		// rules follow a moment later, and the tenancy guard's failurePolicy
		// is Fail: retry while the API server cannot reach it yet.
		if err := poll(30*time.Second, func() error {
			_, err := e.kubectlIn(rcYAML("private-registry", "private-registry.io", "regcred"), "apply", "-f", "-")
			if err != nil && !strings.Contains(err.Error(), "failed calling webhook") {
				return fmt.Errorf("%w (not retried)", err)
			}
			return err
		}); err != nil {
			return err
		}
		var err error
		if copyName, err = e.waitReady("private-registry", time.Minute); err != nil {
			return err
		}
		return e.webhooksAnswer(selectedNS, copyName)
	})
	e.check("a new Pod in a selected namespace pulls from the private registry: Running", func() error {
		return e.runPod(selectedNS, "bundle-pod", appImage, "Always")
	})
	e.check("remove: the RegistryCredentials, then kubectl delete -f dist/install.yaml: nothing left", func() error {
		if _, err := e.kubectl("delete", "registrycredentials", "--all", "--wait=true", "--timeout=60s"); err != nil {
			return err
		}
		if _, err := e.kubectl("delete", "-f", e.installYAML, "--wait=true", "--timeout=120s", "--ignore-not-found"); err != nil {
			return err
		}
		// The bundle's namespace goes with it, the source Secret included.
		return poll(90*time.Second, func() error { return e.nothingLeft() })
	})
}

// installed runs an install check: install, then the Deployment
// Available; on failure it prints what the operator's Pods say. It also reads
// the private registry's user, which the checks after it need.
func (e *e2e) installed(name, deploymentName string, install func() error) bool {
	if !e.check(name, func() error {
		if err := install(); err != nil {
			return err
		}
		return e.deploymentAvailable(deploymentName, 2*time.Minute)
	}) {
		e.dumpOperator()
		return false
	}
	if err := e.readRegistryUser(); err != nil {
		e.check("read the private registry's user", func() error { return err })
		return false
	}
	return true
}

// runPod creates a Pod and waits until it runs.
func (e *e2e) runPod(ns, name, image, pullPolicy string) error {
	if _, err := e.kubectlIn(podYAML(ns, name, image, pullPolicy), "apply", "-f", "-"); err != nil {
		return err
	}
	return e.waitRunning(ns, name, podTimeout)
}

// refusedPod creates a Pod and waits until the registry refuses its pull.
func (e *e2e) refusedPod(ns, name, image, pullPolicy string) error {
	if _, err := e.kubectlIn(podYAML(ns, name, image, pullPolicy), "apply", "-f", "-"); err != nil {
		return err
	}
	return e.waitPullRefused(ns, name, pullTimeout)
}

// dumpOperator prints what the operator's Pods say, after a failed install.
func (e *e2e) dumpOperator() {
	out, _ := e.kubectl("get", "pods,events", "-n", e.ns, "-o", "wide")
	fmt.Printf("      %s\n", strings.ReplaceAll(strings.TrimSpace(out), "\n", "\n      "))
	logs, _ := e.kubectl("logs", "-n", e.ns, "-l", "app.kubernetes.io/name=regcred-operator", "--tail=20", "--all-containers", "--prefix")
	fmt.Printf("      %s\n", strings.ReplaceAll(strings.TrimSpace(logs), "\n", "\n      "))
}
