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

// Command e2e runs the operator as a user would, on the one-node cluster of
// hack/node (`make e2e` starts it): the chart installed with the image built
// here, the seed's lesson pulled by a real kubelet from a private registry,
// a rotation, a deletion, an upgrade and an uninstall, then the same with
// dist/install.yaml. It prints one line per check and `N passed, M failed`,
// and exits 1 when a check failed.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type e2e struct {
	kubectlBin, helmBin, kubeconfig string
	state, root                     string
	imageRepo                       string
	tag1, tag2                      string
	installYAML                     string
	passed, failed                  int
	ns                              string // the operator's namespace
	registryUser, registryPass      string
	digestRef                       string
}

func main() {
	root, _ := os.Getwd()
	e := &e2e{ns: "regcred-system", root: root}
	flag.StringVar(&e.kubectlBin, "kubectl", filepath.Join(root, "bin/k8s/v1.37.2-linux-amd64/kubectl"), "kubectl")
	flag.StringVar(&e.helmBin, "helm", filepath.Join(root, "bin/helm"), "helm")
	flag.StringVar(&e.state, "node-state", filepath.Join(root, "bin/node"), "hack/node's state directory (KUBECONFIG, the private registry's users and CA)")
	flag.StringVar(&e.imageRepo, "image-repository", "localhost:5001/regcred-operator", "The operator image's repository (pushed by make image)")
	flag.StringVar(&e.tag1, "tag", "e2e-1", "The tag helm install uses")
	flag.StringVar(&e.tag2, "upgrade-tag", "e2e-2", "The tag helm upgrade moves to")
	flag.StringVar(&e.installYAML, "install-yaml", filepath.Join(root, "dist/install.yaml"), "make build-installer's bundle, with the image set")
	only := flag.String("only", "", "Run only the groups whose names contain this (helm, bundle)")
	flag.Parse()
	e.kubeconfig = filepath.Join(e.state, "kubeconfig")
	t0 := time.Now()
	fmt.Printf("e2e on the node of %s (KUBECONFIG=%s)\n", e.state, e.kubeconfig)
	if *only == "" || strings.Contains("helm", *only) {
		e.helmFlow()
	}
	if *only == "" || strings.Contains("bundle", *only) {
		e.bundleFlow()
	}
	fmt.Printf("\n%d passed, %d failed (%s)\n", e.passed, e.failed, time.Since(t0).Round(time.Second))
	if e.failed > 0 {
		os.Exit(1)
	}
}

// check runs one check and prints its line. A failed check does not stop
// the run, unless it is fatal for what follows (must).
func (e *e2e) check(name string, fn func() error) bool {
	t0 := time.Now()
	err := fn()
	d := time.Since(t0).Round(100 * time.Millisecond)
	if err != nil {
		e.failed++
		fmt.Printf("FAIL  %s (%s)\n      %s\n", name, d, strings.ReplaceAll(err.Error(), "\n", "\n      "))
		return false
	}
	e.passed++
	fmt.Printf("ok    %s (%s)\n", name, d)
	return true
}

func (e *e2e) kubectl(args ...string) (string, error) {
	return e.kubectlIn("", args...)
}

func (e *e2e) kubectlIn(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.kubectlBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (e *e2e) helm(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.helmBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig, "HELM_CACHE_HOME="+filepath.Join(e.state, "helm/cache"),
		"HELM_CONFIG_HOME="+filepath.Join(e.state, "helm/config"), "HELM_DATA_HOME="+filepath.Join(e.state, "helm/data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// poll calls fn until it returns nil or the timeout passes; the error says
// what was last seen.
func poll(timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// jsonpath reads one field of an object.
func (e *e2e) jsonpath(path string, args ...string) (string, error) {
	out, err := e.kubectl(append(args, "-o", "jsonpath="+path)...)
	return strings.TrimSpace(out), err
}

// podStatus is what a Pod's first container shows: its phase, and the
// waiting reason and message when it waits.
type podStatus struct{ phase, reason, message string }

func (e *e2e) podStatus(ns, name string) (podStatus, error) {
	out, err := e.kubectl("get", "pod", name, "-n", ns, "-o", "json")
	if err != nil {
		return podStatus{}, err
	}
	var p struct {
		Status struct {
			Phase             string `json:"phase"`
			ContainerStatuses []struct {
				State struct {
					Waiting *struct{ Reason, Message string } `json:"waiting"`
				} `json:"state"`
			} `json:"containerStatuses"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return podStatus{}, err
	}
	s := podStatus{phase: p.Status.Phase}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Waiting != nil {
			s.reason, s.message = c.State.Waiting.Reason, c.State.Waiting.Message
		}
	}
	return s, nil
}

// events are a Pod's events, one a line, for a failure's message.
func (e *e2e) events(ns, name string) string {
	out, err := e.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name="+name,
		"--sort-by=.lastTimestamp", "-o", "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message", "--no-headers")
	if err != nil {
		return err.Error()
	}
	return "events of " + ns + "/" + name + ":\n" + strings.TrimSpace(out)
}

// waitRunning waits until the Pod runs; a Pod that does not is reported
// with its state and events.
func (e *e2e) waitRunning(ns, name string, timeout time.Duration) error {
	var last podStatus
	err := poll(timeout, func() error {
		s, err := e.podStatus(ns, name)
		if err != nil {
			return err
		}
		last = s
		if s.phase == "Running" {
			return nil
		}
		return fmt.Errorf("phase %s %s %s", s.phase, s.reason, s.message)
	})
	if err != nil {
		return fmt.Errorf("Pod %s/%s is not Running (%s %s): %v\n%s", ns, name, last.phase, last.reason, err, e.events(ns, name))
	}
	return nil
}

// waitPullRefused waits until the kubelet reports that the registry refused
// the pull with 401.
func (e *e2e) waitPullRefused(ns, name string, timeout time.Duration) error {
	var last podStatus
	err := poll(timeout, func() error {
		s, err := e.podStatus(ns, name)
		if err != nil {
			return err
		}
		last = s
		if s.phase == "Running" {
			return fmt.Errorf("the Pod runs: it must not have pulled")
		}
		if (s.reason == "ErrImagePull" || s.reason == "ImagePullBackOff") && strings.Contains(s.message, "401") {
			return nil
		}
		return fmt.Errorf("waiting %s: %s", s.reason, s.message)
	})
	if err != nil {
		return fmt.Errorf("Pod %s/%s: want ErrImagePull or ImagePullBackOff with the registry's 401, have %s %q: %v\n%s",
			ns, name, last.reason, last.message, err, e.events(ns, name))
	}
	return nil
}

func podYAML(ns, name, image, pullPolicy string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: %s
    imagePullPolicy: %s
`, name, ns, image, pullPolicy)
}

func (e *e2e) namespace(name string, selected bool) error {
	label := "regcred-e2e=off"
	if selected {
		label = "regcred-e2e=selected"
	}
	if _, err := e.kubectl("create", "namespace", name); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
		return err
	}
	_, err := e.kubectl("label", "namespace", name, label, "--overwrite")
	return err
}

func rcYAML(name, server, secret string) string {
	return fmt.Sprintf(`apiVersion: registry.regcred.dev/v1alpha1
kind: RegistryCredential
metadata:
  name: %s
spec:
  server: %s
  secretRef:
    namespace: regcred-system
    name: %s
  namespaceSelector:
    matchLabels:
      regcred-e2e: selected
  check:
    image: apps/internal-app:1.0
    caBundle:
      configMap: {name: registry-ca, key: ca.crt}
`, name, server, secret)
}

// waitReady waits until a RegistryCredential is Ready and returns the
// name of its copies.
func (e *e2e) waitReady(name string, timeout time.Duration) (string, error) {
	var target string
	err := poll(timeout, func() error {
		out, err := e.jsonpath(`{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason} {.status.targetSecretName}`,
			"get", "registrycredential", name)
		if err != nil {
			return err
		}
		f := strings.Fields(out)
		if len(f) == 3 && f[0] == "True" {
			target = f[2]
			return nil
		}
		msg, _ := e.jsonpath(`{.status.conditions[?(@.type=="Ready")].message}`, "get", "registrycredential", name)
		return fmt.Errorf("Ready: %s (%s)", out, msg)
	})
	return target, err
}

// secretDigest is a hash of a Secret's .dockerconfigjson, to compare copies
// without printing credential bytes.
func (e *e2e) secretDigest(ns, name string) (string, error) {
	out, err := e.jsonpath(`{.data.\.dockerconfigjson}`, "get", "secret", name, "-n", ns)
	if err != nil {
		return "", err
	}
	if out == "" {
		return "", fmt.Errorf("secret %s/%s has no .dockerconfigjson", ns, name)
	}
	sum := sha256.Sum256([]byte(out))
	return hex.EncodeToString(sum[:8]), nil
}

func (e *e2e) readRegistryUser() error {
	b, err := os.ReadFile(filepath.Join(e.state, "registry", "users"))
	if err != nil {
		return err
	}
	u, p, ok := strings.Cut(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]), ":")
	if !ok {
		return fmt.Errorf("no user in the registry's users file")
	}
	e.registryUser, e.registryPass = u, p
	return nil
}

// sourceSecret creates or replaces a docker-registry Secret in the
// operator's namespace, as `kubectl create secret docker-registry` makes it.
func (e *e2e) sourceSecret(name, server string) error {
	return e.pullSecret(e.ns, name, server)
}

// pullSecret creates a docker-registry Secret for the registry's user,
// keyed server, in namespace ns.
func (e *e2e) pullSecret(ns, name, server string) error {
	return e.secretWith(ns, name, server, e.registryUser, e.registryPass)
}

// secretWith creates or replaces a docker-registry Secret for user and pass.
func (e *e2e) secretWith(ns, name, server, user, pass string) error {
	y, err := e.kubectl("create", "secret", "docker-registry", name, "-n", ns, "--docker-server="+server,
		"--docker-username="+user, "--docker-password="+pass, "--dry-run=client", "-o", "yaml")
	if err != nil {
		return fmt.Errorf("kubectl create secret docker-registry %s (output withheld: it holds the password)", name)
	}
	if _, err := e.kubectlIn(y, "apply", "-f", "-"); err != nil {
		return fmt.Errorf("applying Secret %s: %v", name, strings.ReplaceAll(err.Error(), pass, "***"))
	}
	return nil
}

// registryCA puts the node registry's CA in the ConfigMap registry-ca of
// the operator's namespace, for spec.check.caBundle.
func (e *e2e) registryCA() error {
	y, err := e.kubectl("create", "configmap", "registry-ca", "-n", e.ns, "--from-file=ca.crt="+filepath.Join(e.state, "registry", "ca.crt"), "--dry-run=client", "-o", "yaml")
	if err != nil {
		return err
	}
	_, err = e.kubectlIn(y, "apply", "-f", "-")
	return err
}

// deploymentAvailable waits until the operator's Deployment is Available
// with every replica updated and ready.
func (e *e2e) deploymentAvailable(name string, timeout time.Duration) error {
	return poll(timeout, func() error {
		out, err := e.jsonpath(`{.status.conditions[?(@.type=="Available")].status} {.spec.replicas} {.status.updatedReplicas} {.status.readyReplicas} {.status.replicas}`,
			"get", "deployment", name, "-n", e.ns)
		if err != nil {
			return err
		}
		f := strings.Fields(out)
		if len(f) == 5 && f[0] == "True" && f[1] == f[2] && f[1] == f[3] && f[1] == f[4] {
			return nil
		}
		pods, _ := e.kubectl("get", "pods", "-n", e.ns, "-o", "wide")
		return fmt.Errorf("Available, replicas, updated, ready, total: %q\n%s", out, pods)
	})
}

// webhooksAnswer is the equivalent of a helm test: a server-side dry run
// of a Pod in a selected namespace comes back with the pull secret (the
// Pod webhook answered), and a RegistryCredential whose author may not read
// its Secret is refused by the tenancy guard.
func (e *e2e) webhooksAnswer(selectedNS, copyName string) error {
	out, err := e.kubectlIn(podYAML(selectedNS, "dry-run", "private-registry.io/apps/internal-app:1.0", "IfNotPresent"),
		"create", "--dry-run=server", "-f", "-", "-o", "jsonpath={.spec.imagePullSecrets[*].name}")
	if err != nil {
		return err
	}
	if !strings.Contains(out, copyName) {
		return fmt.Errorf("Pod webhook: a dry-run Pod came back with imagePullSecrets %q, want %s", out, copyName)
	}
	rbac := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-tenancy-editor}
rules:
- apiGroups: [registry.regcred.dev]
  resources: [registrycredentials]
  verbs: [create, get, list, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-tenancy-editor}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-tenancy-editor}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: e2e-tenancy-editor}
`
	if _, err := e.kubectlIn(rbac, "apply", "-f", "-"); err != nil {
		return err
	}
	_, err = e.kubectlIn(rcYAML("e2e-guard", "private-registry.io", "regcred"), "--as=e2e-tenancy-editor", "create", "--dry-run=server", "-f", "-")
	if err == nil {
		return fmt.Errorf("tenancy guard: a user who may not read regcred-system/regcred created a RegistryCredential for it")
	}
	if !strings.Contains(err.Error(), "denied the request") {
		return fmt.Errorf("tenancy guard: want a webhook denial, got: %v", err)
	}
	return nil
}

// snapshot records the resourceVersions of the copies and ServiceAccounts of
// the given namespaces, to show that an upgrade rewrote nothing.
func (e *e2e) snapshot(namespaces ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, ns := range namespaces {
		for _, kind := range []string{"secrets", "serviceaccounts"} {
			s, err := e.kubectl("get", kind, "-n", ns, "-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.uid}/{.metadata.resourceVersion}{"\n"}{end}`)
			if err != nil {
				return nil, err
			}
			for _, l := range strings.Fields(s) {
				k, v, _ := strings.Cut(l, "=")
				out[ns+"/"+kind+"/"+k] = v
			}
		}
	}
	return out, nil
}

func diff(before, after map[string]string) []string {
	var d []string
	for k, v := range before {
		if after[k] != v {
			d = append(d, fmt.Sprintf("%s: %s -> %s", k, v, after[k]))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			d = append(d, k+": new")
		}
	}
	sort.Strings(d)
	return d
}
