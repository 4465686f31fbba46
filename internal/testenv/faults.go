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

package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// stopGrace is how long a stopped kube-apiserver may drain before it is
// killed.
const stopGrace = 5 * time.Second

// findProcess finds the running process whose command line has the binary's
// name as its first word and holds arg; it returns the PID and the full
// command line.
func findProcess(binary, arg string) (int, []string, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, nil, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if filepath.Base(args[0]) != binary {
			continue
		}
		for _, a := range args[1:] {
			if a == arg || strings.Contains(a, arg) {
				return pid, args, nil
			}
		}
	}
	return 0, nil, fmt.Errorf("no %s process with %q", binary, arg)
}

// PauseEtcd stops etcd with SIGSTOP; the returned function resumes it with
// SIGCONT. Nothing else changes: its connections stay open and hang.
func (e *Env) PauseEtcd() (resume func() error, err error) {
	pid, _, err := findProcess("etcd", e.Environment.ControlPlane.Etcd.URL.String())
	if err != nil {
		return nil, err
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return nil, err
	}
	return func() error { return syscall.Kill(pid, syscall.SIGCONT) }, nil
}

// StopAPIServer stops kube-apiserver (SIGTERM, as a node or an upgrade
// would) and waits until it has exited; the returned function starts it
// again with the same command line: same port, certificates and etcd, so
// every client's configuration stays valid.
func (e *Env) StopAPIServer(ctx context.Context) (start func(context.Context) error, err error) {
	port := e.Environment.ControlPlane.APIServer.SecureServing.Port
	pid, args, err := findProcess("kube-apiserver", "--secure-port="+port)
	if err != nil {
		return nil, err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return nil, err
	}
	gone := func(context.Context) (bool, error) {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		// gone, or a zombie waiting for envtest to reap it
		return err != nil || bytes.Contains(raw, []byte(") Z ")), nil
	}
	// kube-apiserver stops listening at once but drains open watches for up
	// to a minute; after stopGrace it is killed.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, stopGrace, true, gone); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, gone); err != nil {
			return nil, fmt.Errorf("kube-apiserver did not stop: %w", err)
		}
	}
	return func(ctx context.Context) error {
		log, err := os.OpenFile(filepath.Join(e.dir, "kube-apiserver-restarted.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return err
		}
		e.restarted = append(e.restarted, cmd)
		// back: /readyz answers ok (its storage and caches are ready, not
		// only /version).
		return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			err := e.Clientset.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
			return err == nil, nil
		})
	}, nil
}
