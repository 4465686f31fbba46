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

// Command demo starts a real local control plane (etcd, kube-apiserver and
// kube-controller-manager, built from source by hack/build-envtest-assets.sh),
// installs the CRD and the Pod webhook, creates a few namespaces, a source
// Secret and a RegistryCredential, and runs the operator (bin/manager) in the
// foreground. Ctrl-C stops everything. Run it with `make demo`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	root := testenv.RepoRoot()
	manager := filepath.Join(root, "bin", "manager")
	if _, err := os.Stat(manager); err != nil {
		return fmt.Errorf("%s not found: run `make demo` (it builds it)", manager)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(registryv1alpha1.AddToScheme(scheme))

	fmt.Println("==> starting etcd, kube-apiserver and kube-controller-manager ...")
	start := time.Now()
	webhook := &envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook", "manifests.yaml")}}
	env, err := testenv.Start(testenv.Options{ControllerManager: true, Webhook: webhook, Client: client.Options{Scheme: scheme}})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("==> stopping the control plane")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	fmt.Printf("    control plane up in %.1fs\n", time.Since(start).Seconds())

	dir := filepath.Join(root, "bin", "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	raw, err := os.ReadFile(env.Kubeconfig)
	if err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfig, raw, 0o600); err != nil {
		return err
	}
	defer os.Remove(kubeconfig)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := createWorld(ctx, env.Client); err != nil {
		return err
	}

	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--source-namespaces=regcred-system",
		"--health-probe-bind-address=0",
		"--metrics-bind-address=0",
		"--enable-cert-rotation=false",
		"--webhook-port=" + strconv.Itoa(webhook.LocalServingPort),
		"--webhook-cert-path=" + webhook.LocalServingCertDir,
	}
	cmd := exec.CommandContext(ctx, manager, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		if err := createCredential(ctx, env.Client); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return
		}
		createPod(ctx, env.Client)
		printHelp(kubeconfig, testenv.AssetsDir())
	}()
	err = cmd.Wait()
	if ctx.Err() != nil {
		return nil // Ctrl-C
	}
	return fmt.Errorf("operator exited: %v", err)
}

func createWorld(ctx context.Context, c client.Client) error {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "regcred-system"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"pull-from": "private-registry"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b", Labels: map[string]string{"pull-from": "private-registry"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-c"}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "regcred-system"},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(
				`{"auths":{"private-registry.io":{"username":"robot","password":"demo-password","auth":"cm9ib3Q6ZGVtby1wYXNzd29yZA=="}}}`)},
		},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	fmt.Println("==> created namespaces team-a, team-b (labelled pull-from=private-registry), team-c (not labelled)")
	fmt.Println("    and Secret regcred-system/regcred")
	return nil
}

// createCredential creates the RegistryCredential once the operator serves
// the tenancy guard (the API server asks it about every new secretRef, and
// refuses while nobody answers).
func createCredential(ctx context.Context, c client.Client) error {
	rc := &registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: "private-registry"},
		Spec: registryv1alpha1.RegistryCredentialSpec{
			Server:            "private-registry.io",
			SecretRef:         registryv1alpha1.SecretReference{Namespace: "regcred-system", Name: "regcred"},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pull-from": "private-registry"}},
		},
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return c.Create(ctx, rc) == nil, nil
	})
	if err != nil {
		return fmt.Errorf("creating RegistryCredential private-registry: %w", err)
	}
	fmt.Println("==> created RegistryCredential private-registry")
	return nil
}

// createPod shows the webhook: a Pod pulling from the registry gets the pull
// secret. It retries until the namespace's default ServiceAccount exists.
func createPod(ctx context.Context, c client.Client) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a"},
		Spec: corev1.PodSpec{
			Containers:       []corev1.Container{{Name: "app", Image: "private-registry.io/team/app:1.0"}},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "users-own"}},
		},
	}
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		return c.Create(ctx, pod) == nil, nil
	})
}

func printHelp(kubeconfig, assets string) {
	kubectl := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		kubectl = "kubectl"
	}
	fmt.Printf(`
==> the operator is running. In another terminal:

  export KUBECONFIG=%s
  alias kubectl=%s

  kubectl get registrycredentials                  # SERVER, SOURCE, SYNCED, READY, REASON
  kubectl get secrets -A -l app.kubernetes.io/managed-by=regcred-operator
  kubectl -n team-a get serviceaccount default -o yaml   # imagePullSecrets: [regcred]
  kubectl -n team-a get pod app -o jsonpath='{.spec.imagePullSecrets}'   # injected by the webhook
  kubectl label namespace team-c pull-from=private-registry   # team-c gets the copy within a second
  kubectl -n regcred-system edit secret regcred                # rotation reaches every copy
  kubectl describe registrycredential private-registry       # conditions and events

Ctrl-C stops the operator and the control plane.
`, kubeconfig, kubectl)
}
