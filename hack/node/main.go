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

// Command node runs a one-node Kubernetes cluster on this machine: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler (v1.37), a kubelet
// and kube-proxy (v1.35, iptables) over Debian's containerd 1.6 and runc, with
// the CNI bridge, and two registries: an open one on localhost:5001 (as kind's
// local registry) and a private one served as private-registry.io (TLS from
// the node's own CA, basic auth), on :443 and :5000.
//
//	node up             start, print KUBECONFIG, run until SIGINT, then stop
//	                    everything it started and undo what it changed
//	node up --detach    the same in the background; returns once the node is Ready
//	node down           stop a detached node
//	node status         exit 0 when a detached node runs and is Ready
//	node image ...      build an image from a static binary and push it
//
// It must run as root (containerd, the kubelet and iptables need it). See
// docs/design.md, "A real node", for the versions and the layout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(os.Args[2:])
	case "down":
		err = down(os.Args[2:])
	case "image":
		err = imageCmd(os.Args[2:])
	case "status":
		err = status(os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  node up [--detach] [--state-dir bin/node]   start the one-node cluster (until SIGINT)
  node down [--state-dir bin/node]            stop a detached node
  node status [--state-dir bin/node]          exit 0 when a detached node runs and is Ready
  node image --binary FILE --name REF [...]   build an image from a static binary and push it
`)
}

// repoRoot is the checkout: the directory with go.mod above the working
// directory.
func repoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	root := repoRoot()
	cfg := config{}
	detach := fs.Bool("detach", false, "Run in the background; return once the node is Ready (stop it with `node down`).")
	fs.StringVar(&cfg.state, "state-dir", filepath.Join(root, "bin", "node"), "Where the node keeps its state, logs and KUBECONFIG.")
	fs.StringVar(&cfg.controlPlaneBin, "control-plane-bin", filepath.Join(root, "bin", "k8s", "v1.37.2-linux-amd64"), "etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl (make node-assets).")
	fs.StringVar(&cfg.nodeBin, "node-bin", filepath.Join(root, "bin", "k8s", "node-v1.35.4-linux-amd64"), "kubelet and kube-proxy (make node-assets).")
	fs.BoolVar(&cfg.install, "install-packages", true, "apt-get install containerd, runc, the CNI plugins, iptables and conntrack when one is missing.")
	timeout := fs.Duration("timeout", 5*time.Minute, "How long the node may take to become Ready.")
	_ = fs.Parse(args)
	cfg.root = root
	cfg.state, _ = filepath.Abs(cfg.state)
	if os.Geteuid() != 0 {
		return errors.New("the node needs root (containerd, the kubelet and iptables)")
	}
	if *detach {
		return detachUp(cfg, args, *timeout)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	n := &node{config: cfg}
	start := time.Now()
	upCtx, upCancel := context.WithTimeout(ctx, *timeout)
	err := n.start(upCtx)
	upCancel()
	if err != nil {
		n.logf("start failed: %v", err)
		n.stop()
		return err
	}
	n.logf("node Ready in %s", time.Since(start).Round(100*time.Millisecond))
	fmt.Printf("\nexport KUBECONFIG=%s\n\n", n.adminKubeconfig())
	fmt.Println(n.summary())
	if err := os.WriteFile(filepath.Join(cfg.state, "ready"), []byte(time.Now().Format(time.RFC3339)), 0o644); err != nil {
		n.stop()
		return err
	}
	n.logf("running until SIGINT (Ctrl-C) or SIGTERM")
	select {
	case <-ctx.Done():
	case err = <-n.exited:
		n.logf("a component stopped: %v", err)
	}
	n.stop()
	return err
}

// detachUp runs `node up` as a child in its own session, its output in
// state/node.log, and waits until it says Ready or exits.
func detachUp(cfg config, args []string, timeout time.Duration) error {
	if pid, ok := runningPID(cfg.state); ok {
		return fmt.Errorf("a node is already running (pid %d); stop it with `node down --state-dir %s`", pid, cfg.state)
	}
	if err := os.MkdirAll(cfg.state, 0o755); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(cfg.state, "ready"))
	logPath := filepath.Join(cfg.state, "node.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var childArgs []string
	for _, a := range args {
		if a != "--detach" && a != "-detach" && a != "--detach=true" {
			childArgs = append(childArgs, a)
		}
	}
	cmd := exec.Command(self, append([]string{"up"}, childArgs...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.state, "node.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	fmt.Fprintf(os.Stderr, "node: starting in the background (pid %d, log %s)\n", cmd.Process.Pid, logPath)
	deadline := time.After(timeout + 30*time.Second)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return fmt.Errorf("the node stopped before it was Ready (%v); the end of %s:\n%s", err, logPath, tail(logPath, 40))
		case <-deadline:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-done
			return fmt.Errorf("the node was not Ready in %s; the end of %s:\n%s", timeout, logPath, tail(logPath, 40))
		case <-tick.C:
			if _, err := os.Stat(filepath.Join(cfg.state, "ready")); err == nil {
				fmt.Printf("export KUBECONFIG=%s\n", filepath.Join(cfg.state, "kubeconfig"))
				return nil
			}
		}
	}
}

// down stops the detached node and waits until it has undone its changes.
func down(args []string) error {
	fs := flag.NewFlagSet("down", flag.ExitOnError)
	state := fs.String("state-dir", filepath.Join(repoRoot(), "bin", "node"), "The state directory of `node up --detach`.")
	wait := fs.Duration("timeout", 3*time.Minute, "How long to wait for the node to stop.")
	_ = fs.Parse(args)
	pid, ok := runningPID(*state)
	if !ok {
		fmt.Fprintln(os.Stderr, "node: no node running")
		return nil
	}
	p, _ := os.FindProcess(pid)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	deadline := time.Now().Add(*wait)
	for time.Now().Before(deadline) {
		if err := p.Signal(syscall.Signal(0)); err != nil {
			_ = os.Remove(filepath.Join(*state, "node.pid"))
			fmt.Fprintf(os.Stderr, "node: stopped; the end of its log:\n%s\n", tail(filepath.Join(*state, "node.log"), 15))
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the node (pid %d) did not stop in %s; see %s", pid, *wait, filepath.Join(*state, "node.log"))
}

// status tells whether a detached node runs and is Ready.
func status(args []string) error {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	state := fs.String("state-dir", filepath.Join(repoRoot(), "bin", "node"), "The state directory of `node up --detach`.")
	_ = fs.Parse(args)
	pid, ok := runningPID(*state)
	if !ok {
		return errors.New("no node running")
	}
	if _, err := os.Stat(filepath.Join(*state, "ready")); err != nil {
		return fmt.Errorf("node (pid %d) is not Ready yet", pid)
	}
	fmt.Printf("node running (pid %d); export KUBECONFIG=%s\n", pid, filepath.Join(*state, "kubeconfig"))
	return nil
}

func runningPID(state string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(state, "node.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if syscall.Kill(pid, 0) != nil {
		return 0, false
	}
	return pid, true
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
