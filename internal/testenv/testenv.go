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

// Package testenv starts a real control plane for tests and benchmarks:
// envtest's etcd and kube-apiserver, plus (optionally) kube-controller-manager
// so that namespaces get their default ServiceAccount, deleted namespaces
// finish terminating and owned objects are garbage collected, as in a real
// cluster. The binaries come from KUBEBUILDER_ASSETS (make test builds them
// into bin/k8s with hack/build-envtest-assets.sh).
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// K8sVersion is the version of the control plane binaries hack/ builds.
const K8sVersion = "v1.37.2"

// Options choose what runs beside the API server.
type Options struct {
	// ControllerManager starts kube-controller-manager with the
	// serviceaccount, namespace, garbagecollector and replicaset controllers
	// (the last for the repair of Pods), and turns
	// the ServiceAccount admission plugin back on.
	ControllerManager bool
	// ControllerManagerArgs are extra kube-controller-manager flags.
	ControllerManagerArgs []string
	// Webhook, when set, is installed into the API server (envtest writes a
	// serving certificate to Webhook.LocalServingCertDir).
	Webhook *envtest.WebhookInstallOptions
	// Scheme for Client; defaults to client-go's.
	Client client.Options
	// AuditLog, when set, is where kube-apiserver writes an audit log of
	// every write (Metadata level, one JSON event per line).
	AuditLog string
}

// auditPolicy logs writes at Metadata level and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
`

// Env is a running control plane.
type Env struct {
	Environment *envtest.Environment
	// Config is an admin (system:masters) config.
	Config *rest.Config
	// Client talks to the API server directly (no cache).
	Client client.Client
	// Kubeconfig is the path of an admin kubeconfig file.
	Kubeconfig string

	// Clientset is a client-go clientset for the same admin.
	Clientset kubernetes.Interface

	kcm *exec.Cmd
	dir string
	// restarted are kube-apiservers StopAPIServer started again.
	restarted []*exec.Cmd
}

// RepoRoot finds the directory holding go.mod, walking up from this file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir is KUBEBUILDER_ASSETS, or the directory make builds into.
func AssetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin", "k8s", K8sVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH)
}

// Start starts etcd and kube-apiserver with the CRDs installed, and
// kube-controller-manager when asked.
func Start(opts Options) (*Env, error) {
	assets := AssetsDir()
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run `make envtest-assets` (or `make test`) first", assets)
	}
	e := &Env{Environment: &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}}
	if opts.Webhook != nil {
		e.Environment.WebhookInstallOptions = *opts.Webhook
	}
	if opts.ControllerManager {
		// Admit Pods as a real cluster does (envtest turns this plugin off).
		e.Environment.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins")
	}
	if opts.AuditLog != "" {
		policy := opts.AuditLog + ".policy.yaml"
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
			return nil, err
		}
		e.Environment.ControlPlane.GetAPIServer().Configure().
			Set("audit-policy-file", policy).
			Set("audit-log-path", opts.AuditLog).
			Set("audit-log-format", "json").
			Set("audit-log-mode", "blocking")
	}
	cfg, err := e.Environment.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	e.Config = cfg
	if opts.Webhook != nil {
		*opts.Webhook = e.Environment.WebhookInstallOptions
	}
	fail := func(err error) (*Env, error) {
		_ = e.Stop()
		return nil, err
	}
	if e.dir, err = os.MkdirTemp("", "regcred-testenv-"); err != nil {
		return fail(err)
	}
	user, err := e.Environment.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return fail(err)
	}
	e.Kubeconfig = filepath.Join(e.dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, kubeconfig, 0o600); err != nil {
		return fail(err)
	}
	if e.Client, err = client.New(cfg, opts.Client); err != nil {
		return fail(err)
	}
	if e.Clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		return fail(err)
	}
	if opts.ControllerManager {
		if err := e.startControllerManager(assets, opts.ControllerManagerArgs); err != nil {
			return fail(err)
		}
	}
	return e, nil
}

func (e *Env) startControllerManager(assets string, extra []string) error {
	bin := filepath.Join(assets, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("no kube-controller-manager in %s: run `make envtest-assets`", assets)
	}
	logFile, err := os.Create(filepath.Join(e.dir, "kube-controller-manager.log"))
	if err != nil {
		return err
	}
	e.kcm = exec.Command(bin, append([]string{
		"--kubeconfig=" + e.Kubeconfig,
		"--controllers=serviceaccount,namespace,garbagecollector,replicaset",
		"--leader-elect=false",
		"--secure-port=0",
	}, extra...)...)
	e.kcm.Stdout, e.kcm.Stderr = logFile, logFile
	e.kcm.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := e.kcm.Start(); err != nil {
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	// Ready when it creates the default ServiceAccount of a new namespace.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	probe := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kcm-probe-"}}
	if err := e.Client.Create(ctx, probe); err != nil {
		return err
	}
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		sa := &corev1.ServiceAccount{}
		err := e.Client.Get(ctx, client.ObjectKey{Namespace: probe.Name, Name: "default"}, sa)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("kube-controller-manager did not create a default ServiceAccount (log: %s): %w", logFile.Name(), err)
	}
	return e.Client.Delete(ctx, probe)
}

// Stop stops everything Start started.
func (e *Env) Stop() error {
	var errs []error
	if e.kcm != nil && e.kcm.Process != nil {
		_ = e.kcm.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- e.kcm.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = e.kcm.Process.Kill()
			<-done
		}
	}
	for _, cmd := range e.restarted {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	if err := e.Environment.Stop(); err != nil && len(e.restarted) == 0 {
		errs = append(errs, err)
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
	return errors.Join(errs...)
}

// OperatorNamespace and OperatorServiceAccount are where config/default
// installs the operator and the ServiceAccount it runs as.
const (
	OperatorNamespace      = "regcred-system"
	OperatorServiceAccount = "regcred-controller-manager"
)

// rbacKinds are the kinds OperatorConfig installs from config/default.
var rbacKinds = map[string]bool{
	"Namespace": true, "ServiceAccount": true,
	"Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true,
}

// RBACObjects renders config/default with the kubectl next to the control
// plane binaries and returns its ServiceAccount, roles and bindings (and
// namespace): exactly what a user's install grants the operator.
func RBACObjects() ([]*unstructured.Unstructured, error) {
	out, err := exec.Command(filepath.Join(AssetsDir(), "kubectl"), "kustomize", filepath.Join(RepoRoot(), "config", "default")).Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl kustomize config/default: %w", err)
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if rbacKinds[u.GetKind()] {
			objs = append(objs, u)
		}
	}
}

// OperatorConfig installs the operator's ServiceAccount, roles and bindings
// from config/default and returns a config that authenticates as that
// ServiceAccount (a token from the TokenRequest API): the suites run the
// manager with exactly the permissions a real install gives it, never as
// cluster admin.
func (e *Env) OperatorConfig(ctx context.Context) (*rest.Config, error) {
	objs, err := RBACObjects()
	if err != nil {
		return nil, err
	}
	for _, u := range objs {
		if err := e.Client.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	tr, err := e.Clientset.CoreV1().ServiceAccounts(OperatorNamespace).CreateToken(ctx, OperatorServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for %s/%s: %w", OperatorNamespace, OperatorServiceAccount, err)
	}
	cfg := rest.AnonymousClientConfig(e.Config)
	cfg.BearerToken = tr.Status.Token
	return cfg, nil
}
