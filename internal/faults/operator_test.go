//go:build faults

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

package faults

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// operator is one replica of the operator binary.
type operator struct {
	name    string
	cmd     *exec.Cmd
	metrics string // host:port, plain HTTP
	health  string // host:port
	webhook int    // port, when serving the webhook
	exited  chan struct{}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeKubeconfig writes cfg (a token config) as a kubeconfig file.
func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	return clientcmd.WriteToFile(*kc, path)
}

// startOperator runs one replica with leader election, as config/default
// does, its log appended to the suite's log file.
func startOperator(t testing.TB, name string, extra ...string) *operator {
	t.Helper()
	o := &operator{
		name:    name,
		metrics: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		health:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		exited:  make(chan struct{}),
	}
	args := []string{
		"--kubeconfig=" + suite.kubeconfig,
		"--source-namespaces=" + sourceNS,
		"--leader-elect=true",
		"--leader-election-namespace=" + sourceNS,
		"--metrics-bind-address=" + o.metrics,
		"--metrics-secure=false",
		"--health-probe-bind-address=" + o.health,
		"--enable-tenancy-guard=false",
	}
	webhook := false
	for _, a := range extra {
		webhook = webhook || a == "--enable-pod-webhook=true"
	}
	if webhook {
		o.webhook = freePort(t)
		args = append(args, "--enable-cert-rotation=false", "--webhook-cert-path="+suite.certDir, "--webhook-port="+strconv.Itoa(o.webhook))
	} else {
		args = append(args, "--enable-pod-webhook=false")
	}
	args = append(args, extra...)
	o.cmd = exec.Command(suite.binary, args...)
	o.cmd.Env = append(os.Environ(), "GOGC=40")
	pr, pw := io.Pipe()
	o.cmd.Stdout, o.cmd.Stderr = pw, pw
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := o.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			suite.log(name, sc.Text())
		}
	}()
	go func() { _ = o.cmd.Wait(); _ = pw.Close(); close(o.exited) }()
	// a graceful stop releases the Lease, so the next case does not wait for it.
	t.Cleanup(o.stop)
	waitFor(t, 60*time.Second, "operator "+name+" healthy", func() error {
		select {
		case <-o.exited:
			return errStop(fmt.Errorf("operator %s exited: %v", name, o.cmd.ProcessState))
		default:
		}
		return o.get("/readyz", o.health)
	})
	return o
}

func (o *operator) get(path, addr string) error {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
	}
	return nil
}

// pid is the replica's process ID.
func (o *operator) pid() int { return o.cmd.Process.Pid }

// running reports whether the process is still there.
func (o *operator) running() bool {
	select {
	case <-o.exited:
		return false
	default:
		return true
	}
}

// kill stops the replica with SIGKILL: no cleanup, the Lease is not released.
func (o *operator) kill() {
	if o.running() {
		_ = o.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-o.exited
}

// stop stops the replica as the kubelet does, with SIGTERM, and waits.
func (o *operator) stop() {
	if o.running() {
		_ = o.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-o.exited:
	case <-time.After(45 * time.Second):
		o.kill()
	}
}

// writeRequests is how many write requests (POST, PUT, PATCH, DELETE) the
// replica has made, from client-go's request metric.
func (o *operator) writeRequests() (float64, error) {
	resp, err := http.Get("http://" + o.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "rest_client_requests_total{") {
			continue
		}
		for _, m := range []string{`method="POST"`, `method="PUT"`, `method="PATCH"`, `method="DELETE"`} {
			if strings.Contains(line, m) {
				v, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
				sum += v
			}
		}
	}
	return sum, sc.Err()
}

// waitIdle waits until the replica's two work queues are empty and stay so
// for a second.
func (o *operator) waitIdle(t testing.TB, timeout time.Duration) {
	t.Helper()
	var since time.Time
	waitFor(t, timeout, o.name+" idle", func() error {
		resp, err := http.Get("http://" + o.metrics + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		depth := 0.0
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "workqueue_depth{") || strings.HasPrefix(line, "controller_runtime_active_workers{") {
				v, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
				depth += v
			}
		}
		if depth > 0 {
			since = time.Time{}
			return fmt.Errorf("%v items queued or running", depth)
		}
		if since.IsZero() {
			since = time.Now()
		}
		if time.Since(since) < time.Second {
			return fmt.Errorf("idle for %v", time.Since(since))
		}
		return nil
	})
}

// errStop marks an error waitFor must not retry.
type stopError struct{ error }

func errStop(err error) error { return stopError{err} }

// waitFor polls fn every 50 ms until it returns nil, fails the test after
// timeout with fn's last error, and returns how long it took.
func waitFor(t testing.TB, timeout time.Duration, what string, fn func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var err error
	for {
		if err = fn(); err == nil {
			return time.Since(start)
		}
		if se, ok := err.(stopError); ok {
			t.Fatalf("%s: %v", what, se.error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond) // the poll interval
	}
}
