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
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ensureManager builds bin/manager from the repository root when it is
// missing or older than a Go source, go.mod or go.sum. Another engineer may
// be mid-edit: a failing build is retried, and an existing binary is used
// (with a warning) when it keeps failing.
func ensureManager(ctx context.Context, root, bin string) error {
	stale, why, err := managerStale(root, bin)
	if err != nil {
		return err
	}
	if !stale {
		return nil
	}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		logf("building %s (%s)", rel(root, bin), why)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		lastErr = fmt.Errorf("go build: %w\n%s", err, out)
		if attempt < 3 {
			logf("build failed (attempt %d), retrying in 30s:\n%s", attempt, out)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(30 * time.Second):
			}
		}
	}
	if _, err := os.Stat(bin); err == nil {
		logf("WARNING: cannot rebuild %s, using the existing (older) binary: %v", bin, lastErr)
		return nil
	}
	return lastErr
}

func managerStale(root, bin string) (bool, string, error) {
	st, err := os.Stat(bin)
	if err != nil {
		return true, "missing", nil
	}
	built := st.ModTime()
	var newer string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			switch {
			case path == root:
				return nil
			case name == "bin" || name == "hack" || strings.HasPrefix(name, "."):
				return filepath.SkipDir
			}
			return nil
		}
		if (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) || name == "go.mod" || name == "go.sum" {
			if info, err := d.Info(); err == nil && info.ModTime().After(built) {
				newer = rel(root, path)
				return filepath.SkipAll
			}
		}
		return nil
	})
	if newer != "" {
		return true, newer + " is newer", err
	}
	return false, "", err
}

// managerFeatures are the optional flags the binary offers.
type managerFeatures struct {
	podWebhook   bool // --enable-pod-webhook (and the certificate flags)
	tenancyGuard bool // --enable-tenancy-guard
	pprof        bool // --pprof-bind-address
	help         string
}

func probeManager(ctx context.Context, bin string) managerFeatures {
	out, _ := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	h := string(out)
	has := func(flag string) bool { return strings.Contains(h, "-"+flag+" ") || strings.Contains(h, "-"+flag+"\n") }
	return managerFeatures{
		podWebhook:   has("enable-pod-webhook") && has("webhook-port") && has("webhook-cert-path") && has("enable-cert-rotation"),
		tenancyGuard: has("enable-tenancy-guard"),
		pprof:        has("pprof-bind-address"),
		help:         h,
	}
}

// operator is the manager binary running as a child process.
type operator struct {
	bin         string
	env         []string // added to the bench's environment
	logPath     string
	metricsAddr string // 127.0.0.1:port, plain HTTP
	pprofAddr   string // "" unless the binary serves pprof

	mu        sync.Mutex
	cmd       *exec.Cmd
	args      []string
	started   time.Time
	workersAt map[string]time.Time // controller -> its "Starting workers" line
	exited    chan struct{}
	exitErr   error
}

// operatorEnv is what the operator's environment adds to the bench's. The
// Deployment (config/manager/manager.yaml) sets no GOGC, and in a container
// automemlimit sets GOMEMLIMIT to 90% of the memory limit; memoryLimit
// (bytes, 0: none, as the bench has no container) does the same here. A GOGC
// or GOMEMLIMIT in the bench's own environment is inherited. It returns the
// setting as the report shows it.
func operatorEnv(memoryLimit int64) (env []string, shown string) {
	var parts []string
	if v, ok := os.LookupEnv("GOGC"); ok {
		parts = append(parts, "GOGC="+v+" (from the bench's environment)")
	} else {
		parts = append(parts, "Go's default GOGC (as the Deployment)")
	}
	switch v, ok := os.LookupEnv("GOMEMLIMIT"); {
	case ok:
		parts = append(parts, "GOMEMLIMIT="+v+" (from the bench's environment)")
	case memoryLimit > 0:
		limit := memoryLimit / 10 * 9
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%d", limit))
		parts = append(parts, fmt.Sprintf("GOMEMLIMIT=%.1fMiB (90%% of a %.0fMiB container limit, as automemlimit sets it)", float64(limit)/(1<<20), float64(memoryLimit)/(1<<20)))
	default:
		parts = append(parts, "no GOMEMLIMIT (no container limit)")
	}
	return env, strings.Join(parts, ", ")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the operator with args; its output goes to logPath (appended).
func (o *operator) start(args []string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd != nil {
		return errors.New("operator already running")
	}
	logFile, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "\n===== %s %s %s\n", time.Now().Format(time.RFC3339Nano), o.bin, strings.Join(args, " "))
	cmd := exec.Command(o.bin, args...)
	cmd.Env = append(os.Environ(), o.env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	// The operator dies with the bench, whatever happens to the bench.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	o.started = time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", o.bin, err)
	}
	o.cmd, o.args, o.workersAt = cmd, args, map[string]time.Time{}
	o.exited = make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			if name, ok := startingWorkers(line); ok {
				now := time.Now()
				o.mu.Lock()
				if _, seen := o.workersAt[name]; !seen {
					o.workersAt[name] = now
				}
				o.mu.Unlock()
			}
			fmt.Fprintln(logFile, line)
		}
		_, _ = io.Copy(logFile, pr)
		logFile.Close()
	}()
	exited := o.exited
	go func() {
		err := cmd.Wait()
		pw.Close()
		o.mu.Lock()
		o.exitErr = err
		o.mu.Unlock()
		close(exited)
	}()
	return nil
}

func (o *operator) pid() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd == nil || o.cmd.Process == nil {
		return 0
	}
	return o.cmd.Process.Pid
}

// running fails when the operator has exited.
func (o *operator) running() error {
	o.mu.Lock()
	exited := o.exited
	o.mu.Unlock()
	if exited == nil {
		return errors.New("operator not started")
	}
	select {
	case <-exited:
		o.mu.Lock()
		defer o.mu.Unlock()
		return fmt.Errorf("operator exited (%v); see %s", o.exitErr, o.logPath)
	default:
		return nil
	}
}

// stop sends SIGTERM (the manager releases its Lease) and waits; SIGKILL
// after timeout.
func (o *operator) stop(timeout time.Duration) time.Duration {
	o.mu.Lock()
	cmd, exited := o.cmd, o.exited
	o.mu.Unlock()
	if cmd == nil {
		return 0
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
	}
	o.mu.Lock()
	o.cmd = nil
	o.mu.Unlock()
	return time.Since(start)
}

// startingWorkers reports which controller a "Starting workers" log line
// (JSON, as the manager logs) is about.
func startingWorkers(line string) (controller string, ok bool) {
	if !strings.Contains(line, `"Starting workers"`) {
		return "", false
	}
	_, rest, ok := strings.Cut(line, `"controller":"`)
	if !ok {
		return "", false
	}
	controller, _, ok = strings.Cut(rest, `"`)
	return controller, ok
}

// workersStarted is when the last of the operator's controllers logged
// "Starting workers"; zero while one has not.
func (o *operator) workersStarted() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	var last time.Time
	for _, name := range operatorControllers {
		t, ok := o.workersAt[name]
		if !ok {
			return time.Time{}
		}
		if t.After(last) {
			last = t
		}
	}
	return last
}

func (o *operator) startedAt() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.started
}

// waitWorkers waits for the "Starting workers" log line of each of the
// operator's controllers and returns when the last one came.
func (o *operator) waitWorkers(ctx context.Context, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		if t := o.workersStarted(); !t.IsZero() {
			return t, nil
		}
		if err := o.running(); err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("operator did not start the workers of its controllers %s within %s; see %s", strings.Join(operatorControllers, ", "), timeout, o.logPath)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// procMemory is the operator's resident memory from /proc/<pid>/status:
// VmRSS, its anonymous (heap, stacks) and file-backed (the binary's pages)
// parts, and VmHWM, the highest VmRSS since the process started.
type procMemory struct{ rss, anon, file, peak int64 }

func (o *operator) procMemory() (procMemory, error) {
	pid := o.pid()
	if pid == 0 {
		return procMemory{}, errors.New("operator not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMemory{}, err
	}
	var m procMemory
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			m.rss = kb * 1024
		case "RssAnon":
			m.anon = kb * 1024
		case "RssFile":
			m.file = kb * 1024
		case "VmHWM":
			m.peak = kb * 1024
		}
	}
	if m.rss == 0 {
		return m, errors.New("no VmRSS in /proc status")
	}
	return m, nil
}

var metricsHTTP = &http.Client{Timeout: 5 * time.Second}

// metrics scrapes the operator's Prometheus endpoint.
func (o *operator) metrics(ctx context.Context) (promText, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+o.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := metricsHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	return promText(b), err
}

// promText is the Prometheus text exposition format.
type promText []byte

// sum adds up the samples of metric name whose labels contain every
// name="value" pair in match; found is false when there is none.
func (p promText) sum(name string, match ...string) (total float64, found bool) {
	for _, line := range strings.Split(string(p), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var labels string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer name with this prefix
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			if !strings.Contains(","+labels+",", ","+match[i]+"=\""+match[i+1]+"\",") {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		total += v
		found = true
	}
	return total, found
}

// fetchProfile saves a CPU profile of the operator over d (only when the
// binary serves pprof).
func (o *operator) fetchProfile(ctx context.Context, d time.Duration, path string) error {
	return o.savePprof(ctx, fmt.Sprintf("profile?seconds=%d", max(1, int(d.Seconds()))), d, path)
}

// fetchHeap saves a heap profile of the operator (only when the binary serves
// pprof).
func (o *operator) fetchHeap(ctx context.Context, path string) error {
	return o.savePprof(ctx, "heap?gc=1", 0, path)
}

func (o *operator) savePprof(ctx context.Context, query string, d time.Duration, path string) error {
	if o.pprofAddr == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("http://%s/debug/pprof/%s", o.pprofAddr, query), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return r
	}
	return path
}
