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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The node's addresses. The node IP is a /32 on lo, so that Pods reach the
// API server (through the kubernetes Service) at an address outside
// 127.0.0.0/8; Pods get addresses from the CNI bridge.
const (
	nodeName       = "regcred-node"
	nodeIP         = "10.251.0.1"
	bridgeName     = "rcnbr0"
	podCIDR        = "10.88.0.0/16"
	serviceCIDR    = "10.96.0.0/16"
	kubernetesIP   = "10.96.0.1"
	apiserverPort  = "6443"
	etcdClientPort = "23790"
	etcdPeerPort   = "23800"
	// registryIP is where /etc/hosts sends private-registry.io.
	registryIP     = "127.0.0.2"
	registryHost   = "private-registry.io"
	localRegistry  = "127.0.0.1:5001"
	pauseImage     = "localhost:5001/pause:3.10"
	internalAppTag = registryHost + "/apps/internal-app:1.0"
)

type config struct {
	root, state              string
	controlPlaneBin, nodeBin string
	install                  bool
}

// node is one run of `node up`: what it started, and what it changed on the
// host, so that stop can undo exactly that.
type node struct {
	config
	mu     sync.Mutex
	procs  []*proc
	exited chan error
	host   hostChanges
	reg    *registries
	ca     *authority
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func (n *node) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[node %s] %s\n", time.Now().Format("15:04:05.0"), fmt.Sprintf(format, args...))
}

func (n *node) path(p ...string) string { return filepath.Join(append([]string{n.state}, p...)...) }

func (n *node) adminKubeconfig() string { return n.path("kubeconfig") }

func (n *node) summary() string {
	return fmt.Sprintf(`node %s (%s): control plane v1.37.2, kubelet and kube-proxy v1.35.4, containerd 1.6 (Debian)
registries:
  localhost:5001            open, plain HTTP (push: go run ./hack/node image --name localhost:5001/NAME:TAG ...)
  %s (:443, :5000)  TLS (CA %s), basic auth (users in %s, one user:password a line)
                            holds %s
logs: %s`, nodeName, nodeIP, registryHost, n.path("registry", "ca.crt"), n.path("registry", "users"), internalAppTag, n.path("logs"))
}

// start brings the node up, in order; each step says what it waits for.
func (n *node) start(ctx context.Context) error {
	n.exited = make(chan error, 8)
	t0 := time.Now()
	if err := n.checkPackages(); err != nil {
		return err
	}
	n.logf("packages present (%s)", time.Since(t0).Round(100*time.Millisecond))
	for _, b := range []string{filepath.Join(n.controlPlaneBin, "etcd"), filepath.Join(n.controlPlaneBin, "kube-apiserver"),
		filepath.Join(n.controlPlaneBin, "kube-controller-manager"), filepath.Join(n.controlPlaneBin, "kube-scheduler"),
		filepath.Join(n.nodeBin, "kubelet"), filepath.Join(n.nodeBin, "kube-proxy")} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s is missing: run `make node-assets` (it builds the Kubernetes binaries from the Go module proxy)", b)
		}
	}
	if err := checkPortsFree(); err != nil {
		return err
	}
	// A state directory left by a run that was killed is cleared first.
	if err := n.clearState(); err != nil {
		return err
	}
	for _, d := range []string{"pki", "logs", "etcd", "containerd", "kubelet", "cni/net.d", "cni/ipam", "registry", "pod-logs"} {
		if err := os.MkdirAll(n.path(d), 0o755); err != nil {
			return err
		}
	}
	if err := n.host.apply(n); err != nil {
		return fmt.Errorf("preparing the host: %w", err)
	}
	if err := n.writePKI(); err != nil {
		return err
	}
	var err error
	if n.reg, err = startRegistries(n); err != nil {
		return err
	}
	if err := n.pushNodeImages(ctx); err != nil {
		return err
	}
	n.logf("registries up, images pushed (%s)", time.Since(t0).Round(100*time.Millisecond))

	if err := n.startContainerd(ctx); err != nil {
		return err
	}
	if err := n.startControlPlane(ctx); err != nil {
		return err
	}
	n.logf("control plane up (%s)", time.Since(t0).Round(100*time.Millisecond))
	if err := n.startNode(ctx); err != nil {
		return err
	}
	return nil
}

func checkPortsFree() error {
	for _, a := range []string{"0.0.0.0:" + apiserverPort, "127.0.0.1:" + etcdClientPort, "127.0.0.1:" + etcdPeerPort,
		"127.0.0.1:10257", "127.0.0.1:10259", "0.0.0.0:10250", "127.0.0.1:10248", "127.0.0.1:10249", "127.0.0.1:10256",
		localRegistry} {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("port %s is in use (%v): stop what listens there (`ss -ltnp 'sport = :%s'`) or a node left running (`node down`)", a, err, a[strings.LastIndex(a, ":")+1:])
		}
		_ = l.Close()
	}
	return nil
}

// spawn starts a component with its output in logs/NAME.log. A component
// that exits while the node runs is reported on n.exited.
func (n *node) spawn(name string, bin string, args ...string) (*proc, error) {
	logPath := n.path("logs", name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	// Its own process group, so that Ctrl-C in the terminal reaches only us and
	// we stop the components in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	n.mu.Lock()
	n.procs = append(n.procs, p)
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		close(p.done)
		select {
		case n.exited <- fmt.Errorf("%s exited (%v); the end of %s:\n%s", name, err, logPath, tail(logPath, 20)):
		default:
		}
	}()
	n.logf("started %s (pid %d, log %s)", name, cmd.Process.Pid, logPath)
	return p, nil
}

// stopProc stops one component: SIGTERM, then SIGKILL after grace.
func (n *node) stopProc(p *proc, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		n.logf("%s did not stop in %s: SIGKILL", p.name, grace)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (n *node) proc(name string) *proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// alive tells whether a component was started and still runs.
func (n *node) alive(name string) bool {
	p := n.proc(name)
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// waitFor polls check until it returns nil, the context ends, or the
// component whose log explains a failure exits.
func (n *node) waitFor(ctx context.Context, what string, p *proc, check func() error) error {
	t0 := time.Now()
	var last error
	for {
		if last = check(); last == nil {
			n.logf("%s (%s)", what, time.Since(t0).Round(100*time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("timed out waiting until %s: %v", what, last)
			if p != nil {
				msg += fmt.Sprintf("\nthe end of %s:\n%s", p.log, tail(p.log, 30))
			}
			return errors.New(msg)
		case <-time.After(300 * time.Millisecond):
		}
		if p != nil {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited while waiting until %s; the end of %s:\n%s", p.name, what, p.log, tail(p.log, 30))
			default:
			}
		}
	}
}

// httpsGet fetches url with the admin's client certificate, checking the
// server's certificate against the cluster CA when verify is set
// (kube-controller-manager and kube-scheduler serve certificates of their own).
func (n *node) httpsGet(url string, verify bool) error {
	cert, err := tls.LoadX509KeyPair(n.path("kubeconfig-client.crt"), n.path("kubeconfig-client.key"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(n.ca.pem)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{cert}, InsecureSkipVerify: !verify,
	}}}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// kubectl runs the control plane's kubectl as the admin.
func (n *node) kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(n.controlPlaneBin, "kubectl"), append([]string{"--kubeconfig", n.adminKubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
