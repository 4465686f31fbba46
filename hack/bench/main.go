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

// Command bench measures regcred-operator against a real control plane
// (envtest's etcd and kube-apiserver, plus kube-controller-manager) and
// prints one table. The operator runs as a separate process (bin/manager),
// so its memory can be read from /proc; every scenario is compared with a
// baseline: a plain client-go program making the same API writes with as
// much concurrency as helps, i.e. the physical limit of this API server on
// this machine.
//
//	make bench                 # N=1000 namespaces, about 10 minutes; updates docs/benchmarks.md
//	make bench ARGS=-short     # N=100, under 3 minutes (CI smoke check); bin/bench-results.md only
//	make bench ARGS=-scale     # adds 10,000 namespaces and 100 credentials × 1,000 namespaces
//	go run ./hack/bench -help  # flags
//
// Writes are counted exactly from the API server's audit log: the operator
// and the baseline each authenticate as their own user, and the audit policy
// logs every request of those two users (Lease writes reported apart).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/regcred/regcred-operator/internal/testenv"
)

// config is the command line.
type config struct {
	n                   int
	short               bool
	steady              time.Duration
	newNamespaces       int
	unrelated           int
	unrelatedNamespaces int
	pods                int
	podConcurrency      int
	tracePods           int
	rounds              int
	workers             []int
	operatorArgs        []string
	scenarios           map[string]bool
	out                 string
	manager             string
	managerSet          bool
	timeout             time.Duration
	settle              time.Duration
	restartWindow       time.Duration
	quiet               time.Duration // no operator writes for this long: it is done
	repairs             int
	scaleNamespaces     int
	scaleCredentials    int
	scaleCredNamespaces int
	docs                string
	cpuprofile          string
	profileDir          string
	keepLogs            bool
	auditLevel          string
	kcmQPS              int
	memoryLimit         int64 // bytes; the operator gets GOMEMLIMIT at 90% of it
}

// allScenarios are the normal scenarios, in the order they run; fanout runs
// whenever another of them does (they need its copies).
var allScenarios = []string{"fanout", "rotation", "newns", "repair", "steady", "memory", "restart", "webhook", "pulls"}

// scaleScenarios run after the normal ones with -scale, or alone when named
// in -scenarios. The restart runs first: its world is to hold its own
// RegistryCredentials only, and removing the 10,000-namespace one afterwards
// would cost 40,000 writes.
var scaleScenarios = []string{"scale-restart", "scale-fanout"}

func parseFlags() config {
	var c config
	root := testenv.RepoRoot()
	var workers, scen, opArgs string
	var scale bool
	flag.IntVar(&c.n, "n", 1000, "Namespaces selected by the RegistryCredential (each with 3 ServiceAccounts). -short: 100.")
	flag.BoolVar(&c.short, "short", false, "Quick run (N=100, 1 minute steady state, 3 rounds, baseline workers 16 and 64, fewer Secrets, Pods and repairs): under 3 minutes, for CI; writes -out only, never -docs.")
	flag.DurationVar(&c.steady, "steady", 5*time.Minute, "Steady-state window in which operator writes are counted. -short: 1m.")
	flag.IntVar(&c.newNamespaces, "new-namespaces", 200, "Namespaces created one at a time for the new-namespace latency.")
	flag.IntVar(&c.unrelated, "unrelated-secrets", 20000, "Unrelated 10 KiB Secrets added for the memory scenario. -short: 2000.")
	flag.IntVar(&c.unrelatedNamespaces, "unrelated-namespaces", 100, "Namespaces the unrelated Secrets are spread over.")
	flag.IntVar(&c.pods, "pods", 1000, "Pods created per webhook measurement. -short: 300.")
	flag.IntVar(&c.podConcurrency, "pod-concurrency", 50, "Concurrent Pod creators in the webhook scenario.")
	flag.IntVar(&c.tracePods, "trace-pods", 10000, "Pods the pull-tracing scenario creates (1% of them fail to pull). -short: 2000.")
	flag.IntVar(&c.rounds, "rounds", 5, "Fan-out and rotation rounds, each right after a baseline trial (paired); the table compares the medians. -short: 3.")
	flag.StringVar(&workers, "workers", "8,16,32,64", "Worker counts the baseline tries (the best is kept).")
	flag.StringVar(&opArgs, "operator-args", "", "Extra operator flags, space separated (e.g. \"--parallel-writes=32 --kube-api-qps=-1\").")
	flag.IntVar(&c.repairs, "repairs", 50, "Copies edited, then deleted, one at a time for the repair latency. -short: 10.")
	flag.BoolVar(&scale, "scale", false, "Also run the scale scenarios ("+strings.Join(scaleScenarios, ", ")+") after the others; not in CI.")
	flag.IntVar(&c.scaleNamespaces, "scale-namespaces", 10000, "Namespaces (3 ServiceAccounts each) of the scale fan-out.")
	flag.IntVar(&c.scaleCredentials, "scale-credentials", 100, "RegistryCredentials of the scale restart, each selecting its own group of namespaces.")
	flag.IntVar(&c.scaleCredNamespaces, "scale-credential-namespaces", 1000, "Namespaces (3 ServiceAccounts each) the scale restart's RegistryCredentials share out between them.")
	flag.StringVar(&scen, "scenarios", "all", "Comma-separated subset of "+strings.Join(allScenarios, ",")+" (all: every one of them), "+strings.Join(scaleScenarios, ",")+"; fanout runs whenever another of the first list does.")
	flag.StringVar(&c.docs, "docs", filepath.Join(root, "docs", "benchmarks.md"), "The page whose generated sections a complete run without -short rewrites (every normal scenario: the results; both scale scenarios: the scale results); empty: none.")
	flag.StringVar(&c.out, "out", filepath.Join(root, "bin", "bench-results.md"), "Where the table is written (markdown).")
	flag.StringVar(&c.manager, "manager", filepath.Join(root, "bin", "manager"), "Operator binary (rebuilt when older than the sources, unless given explicitly).")
	flag.DurationVar(&c.timeout, "timeout", 0, "Overall limit (default: 10m with -short, 60m otherwise; 45m more with -scale).")
	flag.DurationVar(&c.settle, "settle", 0, "Pause before reading memory (default: 3s with -short, 10s otherwise).")
	flag.DurationVar(&c.restartWindow, "restart-window", 0, "After a restart, how long writes are counted once the operator is idle (default: 5s with -short, 15s otherwise).")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "Write a CPU profile of the bench process (the baselines run in it).")
	flag.StringVar(&c.profileDir, "profile-dir", "", "Save operator CPU profiles of fan-out and rotation here (needs a manager with --pprof-bind-address).")
	flag.BoolVar(&c.keepLogs, "keep-logs", false, "Copy the API server audit log to bin/bench-audit.log (the operator log is always in bin/bench-operator.log).")
	flag.StringVar(&c.auditLevel, "audit-level", "Metadata", "Audit level for the operator's and the baseline's requests: Metadata, or Request/RequestResponse to see bodies (debugging; costs API server time).")
	flag.Func("operator-memory-limit", "Run the operator as in a container with this memory limit (e.g. 256Mi): GOMEMLIMIT at 90% of it, as automemlimit sets it. Default: none, as a process on the host.", func(v string) error {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return err
		}
		c.memoryLimit = q.Value()
		return nil
	})
	flag.IntVar(&c.kcmQPS, "kcm-qps", 200, "kube-controller-manager's --kube-api-qps (burst: twice that); 0 keeps its default of 20, which throttles the default ServiceAccounts once namespaces arrive faster than about 20 per second.")
	flag.Parse()

	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	c.managerSet = set["manager"]
	if c.short {
		if !set["n"] {
			c.n = 100
		}
		if !set["steady"] {
			c.steady = time.Minute
		}
		if !set["unrelated-secrets"] {
			c.unrelated = 2000
		}
		if !set["pods"] {
			c.pods = 300
		}
		if !set["trace-pods"] {
			c.tracePods = 2000
		}
		if !set["rounds"] {
			c.rounds = 3
		}
		if !set["repairs"] {
			c.repairs = 10
		}
	}
	if c.timeout == 0 {
		c.timeout = 60 * time.Minute
		if c.short {
			c.timeout = 10 * time.Minute
		}
		if scale {
			c.timeout += 45 * time.Minute
		}
	}
	if c.settle == 0 {
		c.settle = 10 * time.Second
		if c.short {
			c.settle = 3 * time.Second
		}
	}
	c.quiet = 2 * time.Second
	if c.short {
		c.quiet = time.Second
	}
	if c.restartWindow == 0 {
		c.restartWindow = 15 * time.Second
		if c.short {
			c.restartWindow = 5 * time.Second
		}
	}
	for _, w := range strings.Split(workers, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(w), &n); err == nil && n > 0 {
			c.workers = append(c.workers, n)
		}
	}
	if len(c.workers) == 0 {
		c.workers = []int{32}
	}
	if c.short && !set["workers"] {
		c.workers = []int{16, 64} // a shorter calibration
	}
	c.operatorArgs = strings.Fields(opArgs)
	c.scenarios = map[string]bool{}
	for _, s := range strings.Split(scen, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "all":
			for _, a := range allScenarios {
				c.scenarios[a] = true
			}
		case slices.Contains(allScenarios, s) || slices.Contains(scaleScenarios, s):
			c.scenarios[s] = true
		case s != "":
			fmt.Fprintf(os.Stderr, "unknown scenario %q (want %s)\n", s, strings.Join(append(slices.Clone(allScenarios), scaleScenarios...), ","))
			os.Exit(2)
		}
	}
	if scale {
		for _, s := range scaleScenarios {
			c.scenarios[s] = true
		}
	}
	if c.ran(allScenarios...) > 0 {
		c.scenarios["fanout"] = true
	}
	return c
}

// ran counts how many of the named scenarios this run runs.
func (c config) ran(names ...string) int {
	n := 0
	for _, s := range names {
		if c.scenarios[s] {
			n++
		}
	}
	return n
}

var benchStart = time.Now()

// logf prints progress to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(benchStart).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	cfg := parseFlags()
	benchStart = time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)

	b := &bench{cfg: cfg, root: testenv.RepoRoot()}
	err := b.run(ctx)
	interrupted := ctx.Err() != nil && context.Cause(ctx) != context.DeadlineExceeded && err != nil
	cancel()
	stop()
	b.cleanup()
	if err != nil {
		if interrupted {
			fmt.Fprintln(os.Stderr, "bench interrupted:", err)
		} else {
			fmt.Fprintln(os.Stderr, "bench failed:", err)
		}
		os.Exit(1)
	}
}
