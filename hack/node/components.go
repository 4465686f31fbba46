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
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// writePKI writes the cluster CA, the serving and client certificates, the
// service-account keys and the kubeconfigs.
func (n *node) writePKI() error {
	ca, err := newAuthority("regcred-node-ca")
	if err != nil {
		return err
	}
	n.ca = ca
	pki := n.path("pki")
	if err := os.WriteFile(filepath.Join(pki, "ca.crt"), ca.pem, 0o644); err != nil {
		return err
	}
	apiserver, err := ca.issue("kube-apiserver", nil, "127.0.0.1", nodeIP, kubernetesIP, "localhost",
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
	if err != nil {
		return err
	}
	if _, _, err := apiserver.write(pki, "apiserver"); err != nil {
		return err
	}
	// The API server's client identity towards the kubelet (logs, exec).
	kubeletClient, err := ca.issue("kube-apiserver-kubelet-client", []string{"system:masters"})
	if err != nil {
		return err
	}
	if _, _, err := kubeletClient.write(pki, "apiserver-kubelet-client"); err != nil {
		return err
	}
	kubeletServing, err := ca.issue("system:node:"+nodeName, []string{"system:nodes"}, nodeIP, nodeName, "127.0.0.1")
	if err != nil {
		return err
	}
	if _, _, err := kubeletServing.write(pki, "kubelet-serving"); err != nil {
		return err
	}
	if _, _, err := serviceAccountKeys(pki); err != nil {
		return err
	}
	server := "https://127.0.0.1:" + apiserverPort
	caFile := filepath.Join(pki, "ca.crt")
	for _, k := range []struct{ file, cn, org string }{
		{"kubeconfig", "regcred-node-admin", "system:masters"},
		{"pki/kube-controller-manager.kubeconfig", "system:kube-controller-manager", ""},
		{"pki/kube-scheduler.kubeconfig", "system:kube-scheduler", ""},
		{"pki/kubelet.kubeconfig", "system:node:" + nodeName, "system:nodes"},
		{"pki/kube-proxy.kubeconfig", "system:kube-proxy", ""},
	} {
		var orgs []string
		if k.org != "" {
			orgs = []string{k.org}
		}
		l, err := ca.issue(k.cn, orgs)
		if err != nil {
			return err
		}
		if err := kubeconfig(n.path(k.file), server, caFile, l); err != nil {
			return err
		}
	}
	return nil
}

func (n *node) startContainerd(ctx context.Context) error {
	cd := n.path("containerd")
	cfg := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  # This machine's root may not lower oom_score_adj (no CAP_SYS_RESOURCE):
  # keep the containers' scores no lower than containerd's.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[6]q
  # Registries: the open local registry over plain HTTP, the private one (both
  # listeners) over TLS from the node's registry CA. The CRI plugin's own
  # registry tables, not config_path: Debian's containerd 1.6.20 refuses every
  # hosts.toml ("invalid host tree").
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."localhost:5001"]
    endpoint = ["http://%[7]s"]
  [plugins."io.containerd.grpc.v1.cri".registry.configs."%[8]s".tls]
    ca_file = %[9]q
  [plugins."io.containerd.grpc.v1.cri".registry.configs."%[8]s:5000".tls]
    ca_file = %[9]q
`, filepath.Join(cd, "root"), filepath.Join(cd, "state"), n.containerdSocket(), filepath.Join(cd, "opt"),
		pauseImage, n.path("cni", "net.d"), localRegistry, registryHost, n.path("registry", "ca.crt"))
	if err := os.WriteFile(filepath.Join(cd, "config.toml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	// The CNI bridge: Pods on rcnbr0, addresses from host-local, masqueraded
	// when they leave the node.
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "regcred-node",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}
`, bridgeName, n.path("cni", "ipam"), podCIDR)
	if err := os.WriteFile(n.path("cni", "net.d", "10-regcred-node.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	p, err := n.spawn("containerd", "containerd", "--config", filepath.Join(cd, "config.toml"))
	if err != nil {
		return err
	}
	return n.waitFor(ctx, "containerd serving", p, func() error {
		_, err := exec.Command("ctr", "--address", n.containerdSocket(), "version").CombinedOutput()
		return err
	})
}

func (n *node) containerdSocket() string { return n.path("containerd", "containerd.sock") }

func (n *node) startControlPlane(ctx context.Context) error {
	pki := n.path("pki")
	etcd, err := n.spawn("etcd", filepath.Join(n.controlPlaneBin, "etcd"),
		"--data-dir", n.path("etcd"), "--name", nodeName,
		"--listen-client-urls", "http://127.0.0.1:"+etcdClientPort, "--advertise-client-urls", "http://127.0.0.1:"+etcdClientPort,
		"--listen-peer-urls", "http://127.0.0.1:"+etcdPeerPort, "--initial-advertise-peer-urls", "http://127.0.0.1:"+etcdPeerPort,
		"--initial-cluster", nodeName+"=http://127.0.0.1:"+etcdPeerPort, "--unsafe-no-fsync")
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, "etcd serving", etcd, func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+etcdClientPort, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		return err
	}
	apiserver, err := n.spawn("kube-apiserver", filepath.Join(n.controlPlaneBin, "kube-apiserver"),
		"--etcd-servers", "http://127.0.0.1:"+etcdClientPort,
		"--bind-address", "0.0.0.0", "--secure-port", apiserverPort, "--advertise-address", nodeIP,
		"--tls-cert-file", filepath.Join(pki, "apiserver.crt"), "--tls-private-key-file", filepath.Join(pki, "apiserver.key"),
		"--client-ca-file", filepath.Join(pki, "ca.crt"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", filepath.Join(pki, "sa.pub"), "--service-account-signing-key-file", filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range", serviceCIDR,
		"--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
		"--kubelet-client-certificate", filepath.Join(pki, "apiserver-kubelet-client.crt"),
		"--kubelet-client-key", filepath.Join(pki, "apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority", filepath.Join(pki, "ca.crt"),
		"--allow-privileged=true")
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, "kube-apiserver ready", apiserver, func() error {
		return n.httpsGet("https://127.0.0.1:"+apiserverPort+"/readyz", true)
	}); err != nil {
		return err
	}
	kcm, err := n.spawn("kube-controller-manager", filepath.Join(n.controlPlaneBin, "kube-controller-manager"),
		"--kubeconfig", filepath.Join(pki, "kube-controller-manager.kubeconfig"),
		"--authentication-kubeconfig", filepath.Join(pki, "kube-controller-manager.kubeconfig"),
		"--authorization-kubeconfig", filepath.Join(pki, "kube-controller-manager.kubeconfig"),
		"--service-account-private-key-file", filepath.Join(pki, "sa.key"), "--root-ca-file", filepath.Join(pki, "ca.crt"),
		"--use-service-account-credentials", "--service-cluster-ip-range", serviceCIDR,
		"--bind-address", "127.0.0.1", "--secure-port", "10257", "--leader-elect=false")
	if err != nil {
		return err
	}
	sched, err := n.spawn("kube-scheduler", filepath.Join(n.controlPlaneBin, "kube-scheduler"),
		"--kubeconfig", filepath.Join(pki, "kube-scheduler.kubeconfig"),
		"--authentication-kubeconfig", filepath.Join(pki, "kube-scheduler.kubeconfig"),
		"--authorization-kubeconfig", filepath.Join(pki, "kube-scheduler.kubeconfig"),
		"--bind-address", "127.0.0.1", "--secure-port", "10259", "--leader-elect=false")
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, "kube-controller-manager healthy", kcm, func() error {
		return n.httpsGet("https://127.0.0.1:10257/healthz", false)
	}); err != nil {
		return err
	}
	return n.waitFor(ctx, "kube-scheduler healthy", sched, func() error {
		return n.httpsGet("https://127.0.0.1:10259/healthz", false)
	})
}

func (n *node) startNode(ctx context.Context) error {
	pki := n.path("pki")
	resolv := "/etc/resolv.conf"
	if _, err := os.Stat(resolv); err != nil {
		resolv = ""
	}
	kubeletCfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has cgroup v1; the kubelet 1.35 refuses it unless told not to.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://%[1]s
address: %[2]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: %[3]s
tlsPrivateKeyFile: %[4]s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[5]s}
authorization: {mode: Webhook}
resolvConf: %[6]q
podLogsDir: %[7]s
serializeImagePulls: false
# The disk of a test machine may be fuller than a node's: evict on memory only.
evictionHard: {memory.available: "100Mi"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, n.containerdSocket(), nodeIP, filepath.Join(pki, "kubelet-serving.crt"), filepath.Join(pki, "kubelet-serving.key"),
		filepath.Join(pki, "ca.crt"), resolv, n.path("pod-logs"))
	if err := os.WriteFile(filepath.Join(pki, "kubelet-config.yaml"), []byte(kubeletCfg), 0o644); err != nil {
		return err
	}
	kubelet, err := n.spawn("kubelet", filepath.Join(n.nodeBin, "kubelet"),
		"--config", filepath.Join(pki, "kubelet-config.yaml"),
		"--kubeconfig", filepath.Join(pki, "kubelet.kubeconfig"),
		"--root-dir", n.path("kubelet"), "--cert-dir", filepath.Join(pki, "kubelet-certs"),
		"--hostname-override", nodeName, "--node-ip", nodeIP, "--v", "2")
	if err != nil {
		return err
	}
	proxy, err := n.spawn("kube-proxy", filepath.Join(n.nodeBin, "kube-proxy"),
		"--kubeconfig", filepath.Join(pki, "kube-proxy.kubeconfig"),
		"--hostname-override", nodeName, "--proxy-mode", "iptables", "--cluster-cidr", podCIDR,
		"--metrics-bind-address", "127.0.0.1:10249", "--healthz-bind-address", "127.0.0.1:10256",
		"--conntrack-max-per-core", "0")
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, "node "+nodeName+" Ready", kubelet, func() error {
		out, err := n.kubectl(ctx, "get", "node", nodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "True" {
			return fmt.Errorf("node Ready=%q", out)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := n.waitFor(ctx, "kube-proxy healthy", proxy, func() error {
		out, err := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
		if err != nil {
			return err
		}
		if !strings.Contains(string(out), "default/kubernetes:https") {
			return fmt.Errorf("no iptables rule for the kubernetes Service yet")
		}
		return nil
	}); err != nil {
		return err
	}
	return n.waitFor(ctx, "ServiceAccount default/default exists", nil, func() error {
		_, err := n.kubectl(ctx, "get", "serviceaccount", "default", "-n", "default")
		return err
	})
}

// stop stops the components in the reverse order of their start (the Pods
// first, through the kubelet, so that their network is released by CNI), then
// undoes the host changes.
func (n *node) stop() {
	n.logf("stopping")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if n.alive("kubelet") && n.alive("kube-apiserver") && n.alive("containerd") {
		// No new Pods: stop the controllers, then delete every Pod and wait
		// until the kubelet has torn their sandboxes down.
		for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
			if q := n.proc(name); q != nil {
				n.stopProc(q, 10*time.Second)
			}
		}
		if _, err := n.kubectl(ctx, "delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--wait=false"); err != nil {
			n.logf("deleting Pods: %v", err)
		}
		drain, cancelDrain := context.WithTimeout(ctx, 40*time.Second)
		_ = n.waitFor(drain, "no Pod sandboxes left", n.proc("containerd"), func() error {
			out, err := exec.Command("ctr", "--address", n.containerdSocket(), "-n", "k8s.io", "tasks", "ls", "-q").CombinedOutput()
			if err != nil {
				return err
			}
			if s := strings.TrimSpace(string(out)); s != "" {
				return fmt.Errorf("%d tasks left", len(strings.Fields(s)))
			}
			return nil
		})
		cancelDrain()
	}
	n.mu.Lock()
	procs := append([]*proc(nil), n.procs...)
	n.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		n.stopProc(procs[i], 15*time.Second)
	}
	if n.reg != nil {
		n.reg.close()
	}
	// Whatever containerd left (a task the kubelet did not reach), and the
	// mounts of the kubelet and containerd under the state directory.
	n.host.undo(n)
	n.logf("stopped; the host is as it was (logs kept in %s)", n.path("logs"))
}

// clearState removes the state of an earlier run, but for its logs.
func (n *node) clearState() error {
	entries, err := os.ReadDir(n.state)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	unmountUnder(n.state)
	for _, e := range entries {
		switch e.Name() {
		case "node.log", "node.pid":
			continue
		}
		if err := os.RemoveAll(filepath.Join(n.state, e.Name())); err != nil {
			return fmt.Errorf("clearing %s: %w", n.state, err)
		}
	}
	return nil
}
