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
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// operator is one replica of the operator binary, run as the kubelet runs
// a Pod's container (restartPolicy Always): when the process exits on its
// own (not through kill or stop, which the test asks for), it is started
// again with the same arguments and environment, at once the first time,
// then after the kubelet's CrashLoopBackOff (10 s, doubling up to 5 min;
// reset once a process has run 10 min).
type operator struct {
	name     string // the replica's name in the log
	identity string // POD_NAME: its leader election identity
	args     []string
	env      []string
	metrics  string // host:port, plain HTTP
	health   string // host:port
	webhook  int    // port, when serving the webhook
	t        testing.TB

	mu       sync.Mutex
	cmd      *exec.Cmd     // the current process
	exited   chan struct{} // closed when the current process has exited
	started  time.Time     // when the current process started
	halted   bool          // kill or stop asked: no more restarts
	halt     chan struct{} // closed with halted
	restarts int
	backoff  time.Duration // the next restart's delay; 0: at once
}

// The kubelet's CrashLoopBackOff (pkg/kubelet: initial, maximum, and how
// long a container runs before its back-off is forgotten).
const (
	crashBackoffInitial = 10 * time.Second
	crashBackoffMax     = 5 * time.Minute
	crashBackoffReset   = 2 * crashBackoffMax
)

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
// does, its log appended to the suite's log file; its identity (POD_NAME)
// is its name.
func startOperator(t testing.TB, name string, extra ...string) *operator {
	t.Helper()
	return startOperatorAs(t, name, name, extra...)
}

// startOperatorAs runs a replica whose leader election identity (POD_NAME,
// as the Deployment sets it) is identity: a restart of the same Pod's
// container reuses the Pod's identity.
func startOperatorAs(t testing.TB, name, identity string, extra ...string) *operator {
	t.Helper()
	o := &operator{
		name:     name,
		identity: identity,
		metrics:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		health:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		t:        t,
		halt:     make(chan struct{}),
	}
	o.args = []string{
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
		o.args = append(o.args, "--enable-cert-rotation=false", "--webhook-cert-path="+suite.certDir, "--webhook-port="+strconv.Itoa(o.webhook))
	} else {
		o.args = append(o.args, "--enable-pod-webhook=false")
	}
	o.args = append(o.args, extra...)
	// the Deployment's environment: POD_NAME from the downward API; GOGC
	// as the image leaves it (the runtime's default).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POD_NAME=") && !strings.HasPrefix(kv, "GOGC=") {
			o.env = append(o.env, kv)
		}
	}
	o.env = append(o.env, "POD_NAME="+identity)
	o.mu.Lock()
	err := o.spawn()
	o.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	// a graceful stop releases the Lease, so the next case does not wait for it.
	t.Cleanup(o.stop)
	waitFor(t, 60*time.Second, "operator "+name+" healthy", func() error {
		if err := o.get("/readyz", o.health); err != nil {
			return fmt.Errorf("%w (restarts %d)", err, o.restartCount())
		}
		return nil
	})
	return o
}

// spawn starts a process (o.mu held) and the goroutine that waits for it.
func (o *operator) spawn() error {
	cmd := exec.Command(suite.binary, o.args...)
	cmd.Env = o.env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = pw.Close()
		return err
	}
	exited := make(chan struct{})
	o.cmd, o.exited, o.started = cmd, exited, time.Now()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			suite.log(o.name, sc.Text())
		}
	}()
	go func() {
		_ = cmd.Wait()
		_ = pw.Close()
		o.mu.Lock()
		defer o.mu.Unlock()
		close(exited)
		if !o.halted {
			o.restartLocked(cmd.ProcessState)
		}
	}()
	return nil
}

// restartLocked is the kubelet's answer to a process that exited on its
// own (o.mu held): start it again, at once or after the back-off.
func (o *operator) restartLocked(state *os.ProcessState) {
	ran := time.Since(o.started)
	if ran >= crashBackoffReset {
		o.backoff = 0
	}
	delay := o.backoff
	o.backoff = min(max(2*o.backoff, crashBackoffInitial), crashBackoffMax)
	o.restarts++
	n := o.restarts
	suite.log(o.name, fmt.Sprintf("harness: exited (%v) after %v; restart %d in %v", state, ran.Round(time.Millisecond), n, delay))
	start := func() {
		if err := o.spawn(); err != nil {
			o.t.Errorf("restarting %s: %v", o.name, err)
			return
		}
		o.t.Logf("RESTARTED %s after exit: %v (ran %v; restart %d, after %v)", o.name, state, ran.Round(time.Millisecond), n, delay)
	}
	if delay == 0 {
		start()
		return
	}
	go func() {
		select {
		case <-o.halt:
			return
		case <-time.After(delay):
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if !o.halted {
			start()
		}
	}()
}

// restartCount is how many times the replica was restarted after exiting
// on its own.
func (o *operator) restartCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.restarts
}

// current is the current process and its exit channel.
func (o *operator) current() (*exec.Cmd, chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cmd, o.exited
}

// stopping ends restarts (kill or stop asked) and returns the current
// process.
func (o *operator) stopping() (*exec.Cmd, chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.halted {
		o.halted = true
		close(o.halt)
	}
	return o.cmd, o.exited
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

// pid is the current process's ID.
func (o *operator) pid() int {
	cmd, _ := o.current()
	return cmd.Process.Pid
}

// running reports whether the current process is still there.
func (o *operator) running() bool {
	_, exited := o.current()
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// kill stops the replica with SIGKILL: no cleanup, the Lease is not
// released, and no restart.
func (o *operator) kill() {
	cmd, exited := o.stopping()
	_ = cmd.Process.Signal(syscall.SIGKILL) // an error: it has exited
	<-exited
}

// stop stops the replica as the kubelet does, with SIGTERM, and waits; no
// restart.
func (o *operator) stop() {
	cmd, exited := o.stopping()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
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
