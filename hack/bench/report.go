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
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/regcred/regcred-operator/internal/testenv"
)

type row struct{ scenario, ours, baseline, ratio, target, pass string }

func passMark(ok bool) string {
	if ok {
		return "yes"
	}
	return "**NO**"
}

func ratioOf(ours, base time.Duration) (string, float64) {
	if base <= 0 || ours <= 0 {
		return "-", 0
	}
	r := float64(ours) / float64(base)
	return fmt.Sprintf("%.2fx", r), r
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// median is the middle value (the mean of the two middle ones for an even
// count); 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// durationsOf are the rounds' or trials' times.
func durationsOf[T timing | trial](xs []T) []time.Duration {
	ds := make([]time.Duration, len(xs))
	for i, x := range xs {
		switch v := any(x).(type) {
		case timing:
			ds[i] = v.d
		case trial:
			ds[i] = v.d
		}
	}
	return ds
}

// fastest is the quickest round or trial (the zero value for none).
func fastest[T timing | trial](xs []T) (top T) {
	ds := durationsOf(xs)
	best := -1
	for i, d := range ds {
		if best < 0 || d < ds[best] {
			best = i
		}
	}
	if best >= 0 {
		top = xs[best]
	}
	return top
}

func medianTiming(ts []timing) time.Duration { return median(durationsOf(ts)) }

func medianTrial(ts []trial) time.Duration { return median(durationsOf(ts)) }

// listSecs is "1.23 s, 4.56 s, ...".
func listSecs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = secs(d)
	}
	return strings.Join(parts, ", ")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func (b *bench) rows() []row {
	r := &b.res
	n := len(b.namespaces)
	var rows []row
	// 1. fan-out, 2. rotation: medians of the rounds against medians of the
	// paired baseline trials.
	bulk := func(label, target string, limit float64, err error, ours []timing, paired []trial, cal trial) {
		base := "-"
		if len(paired) > 0 {
			base = fmt.Sprintf("%s (%s, %d workers)", secs(medianTrial(paired)), cal.contentType, cal.workers)
		}
		switch {
		case err != nil:
			rows = append(rows, row{label, "failed (timeout)", base, "-", target, "**NO**"})
		case len(ours) > 0:
			rs, rv := ratioOf(medianTiming(ours), medianTrial(paired))
			rows = append(rows, row{label, secs(medianTiming(ours)), base, rs, target, passMark(rv > 0 && rv <= limit)})
		}
	}
	bulk(fmt.Sprintf("1. Fan-out: %d copies + %d ServiceAccount entries (median)", n, 3*n), "≤ 1.1x", 1.1, r.fanoutErr, r.fanoutRounds, r.pairedFanout, r.baselineFanout)
	if b.cfg.scenarios["rotation"] {
		bulk(fmt.Sprintf("2. Rotation: %d copies (median)", n), "≤ 1.3x", 1.3, r.rotationErr, r.rotationRounds, r.pairedRotation, r.baselineRotation)
	}
	// 3. new namespaces
	if x := r.newNS; x != nil {
		rows = append(rows, row{
			fmt.Sprintf("3. New namespace (%d) → copy + 3 ServiceAccount entries, each from its own creation (p50 / p99)", x.count),
			ms(x.served.p50) + " / " + ms(x.served.p99),
			"-", "-", "p99 < 50 ms", passMark(x.served.p99 < 50*time.Millisecond),
		}, row{
			"3b. The same namespaces → copy + default ServiceAccount's entry, from the namespace's creation (p50 / p99)",
			ms(x.withDefault.p50) + " / " + ms(x.withDefault.p99),
			"kube-controller-manager creating the default ServiceAccount: " + ms(x.kcmDefault.p50) + " / " + ms(x.kcmDefault.p99),
			"-", "-", "-",
		})
	}
	// 4. steady state
	if s := r.steady; s != nil {
		rows = append(rows, row{
			fmt.Sprintf("4. Steady state %s: operator writes", round(r.steadyDur)),
			fmt.Sprintf("%d (leader election apart: %d)", s.writes, s.leaseWrites),
			"-", "-", "0", passMark(s.writes == 0),
		})
	}
	// 5. memory
	if m := r.memFanout; m.rss > 0 {
		rows = append(rows, row{
			fmt.Sprintf("5a. Operator RSS after fan-out (N=%d)", n),
			fmt.Sprintf("%s (Go heap in use %s)", mib(m.rss), mib(m.heap)),
			"-", "-", "< 64 MiB", passMark(m.rss < 64<<20),
		})
	}
	if r.memoryDone {
		p := pct(r.memBefore.rss, r.memAfter.rss)
		rows = append(rows, row{
			fmt.Sprintf("5b. Operator RSS before → after %d unrelated 10 KiB Secrets", b.cfg.unrelated),
			fmt.Sprintf("%s → %s (%+.1f%%; heap %s → %s)", mib(r.memBefore.rss), mib(r.memAfter.rss), p, mib(r.memBefore.heap), mib(r.memAfter.heap)),
			"-", "-", "within 5%", passMark(p <= 5 && p >= -5),
		})
	}
	// 6. restart
	if x := r.restart; x != nil {
		rows = append(rows, row{
			"6. Restart over a synced world: start → reconciled and idle; writes",
			fmt.Sprintf("%s (workers at %s); %d writes (leader election apart: %d)", secs(x.idle), secs(x.workers), x.counts.writes, x.counts.leaseWrites),
			"-", "-", "0 writes", passMark(x.counts.writes == 0),
		})
	}
	// 7. webhook
	if w := r.webhook; w != nil {
		if w.skipped != "" {
			rows = append(rows, row{"7. Pod admission latency (webhook)", w.skipped, "-", "-", "-", "-"})
		} else {
			for _, pair := range w.runs {
				run := pair.ours
				base := ms(pair.base.lat.p50) + " / " + ms(pair.base.lat.p99) + " (webhook not called)"
				rs, _ := ratioOf(run.lat.p99, pair.base.lat.p99)
				rows = append(rows, row{
					fmt.Sprintf("7. Pod CREATE at %d concurrent, %d RegistryCredential(s) (p50 / p99)", b.cfg.podConcurrency, run.credentials),
					fmt.Sprintf("%s / %s (%d/%d injected)", ms(run.lat.p50), ms(run.lat.p99), run.injected, run.pods),
					base, rs + " (p99)", "-", "-",
				})
			}
		}
	}
	return rows
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	return "?"
}

func depVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "?"
}

func (b *bench) report(write bool) error {
	r := &b.res
	var sb strings.Builder
	fmt.Fprintf(&sb, "# regcred-operator benchmark\n\n")
	fmt.Fprintf(&sb, "- run: %s, wall time %s, `go run ./hack/bench %s`\n", time.Now().Format("2006-01-02 15:04 MST"), round(r.wall), strings.Join(os.Args[1:], " "))
	fmt.Fprintf(&sb, "- N = %d namespaces × 3 ServiceAccounts (default from kube-controller-manager + 2); %d new namespaces; %d unrelated Secrets in %d namespaces; %d Pods per webhook measurement\n",
		len(b.namespaces), b.cfg.newNamespaces, b.cfg.unrelated, b.cfg.unrelatedNamespaces, b.cfg.pods)
	fmt.Fprintf(&sb, "- machine: %d CPUs (%s), %s RAM; %s; kube-apiserver %s (envtest etcd + kube-apiserver + kube-controller-manager %s); controller-runtime %s, client-go %s\n",
		runtime.NumCPU(), cpuModel(), memTotal(), runtime.Version(), b.k8sVersion, testenv.K8sVersion,
		depVersion("sigs.k8s.io/controller-runtime"), depVersion("k8s.io/client-go"))
	fmt.Fprintf(&sb, "- operator: `%s %s` (own user, system:masters)\n\n", rel(b.root, b.cfg.manager), strings.Join(b.opArgs, " "))

	rows := b.rows()
	fmt.Fprintf(&sb, "| scenario | ours | baseline | ratio | target | pass |\n|---|---|---|---|---|---|\n")
	for _, x := range rows {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s |\n", x.scenario, x.ours, x.baseline, x.ratio, x.target, x.pass)
	}
	fmt.Fprintf(&sb, "\nFan-out and rotation compare medians: %d rounds of ours against %d paired baseline trials, each trial run right before one of our rounds, so both sample the same minutes of the machine (its speed drifts by tens of percent within minutes). "+
		"Ours runs from the change being sent to the completion of the operator's last write, as the baseline's wall time runs from its first request to its last response; the bench's watch confirms the end state. "+
		"Baseline: a plain client-go program (own user, no client-side rate limit) doing the same writes, with the fastest configuration of a calibration before the operator started: %s. "+
		"No operator runs during a fan-out trial: it is stopped for the paired trial (it watches every ServiceAccount, so it would receive the baseline's patches) and started again, idle, before its round, which so begins with no connections open. It runs during the paired rotation trials, whose Secrets it does not watch.\n",
		b.cfg.rounds, b.cfg.rounds, strings.Join(r.baselineTrials, "; "))
	fmt.Fprintf(&sb, "Writes are counted from the API server's audit log (the operator authenticates as its own user; every request it makes is logged once), leader election (Lease writes and the \"became leader\" Event on the Lease) apart. "+
		"CPU figures are user + system time from /proc over the timed span, for kube-apiserver, etcd, kube-controller-manager, the operator and the bench (its watch and audit-log reader; in a baseline trial also the writing client).\n\n")
	if fanout := fastest(r.fanoutRounds); fanout.d > 0 {
		pb := fastest(r.pairedFanout)
		bs, _ := ratioOf(fanout.d, pb.d)
		fmt.Fprintf(&sb, "- fan-out: paired baseline %s; ours %s; best against best %s. Our best round: %s; status Ready after %s (round 1); operator writes (round 1) %s (409 conflicts %d, other failures %d). Best paired baseline trial: %s\n",
			listSecs(durationsOf(r.pairedFanout)), listSecs(durationsOf(r.fanoutRounds)), bs, fanout, secs(r.fanoutStatus), r.fanoutWrites.breakdown(), r.fanoutWrites.conflicts, r.fanoutWrites.failed, pb.cpu)
	}
	if rotation := fastest(r.rotationRounds); rotation.d > 0 {
		pb := fastest(r.pairedRotation)
		bs, _ := ratioOf(rotation.d, pb.d)
		fmt.Fprintf(&sb, "- rotation: paired baseline %s; ours %s; best against best %s. Our best round: %s; operator writes (round 1) %s (409 conflicts %d). Best paired baseline trial: %s\n",
			listSecs(durationsOf(r.pairedRotation)), listSecs(durationsOf(r.rotationRounds)), bs, rotation, r.rotationWrites.breakdown(), r.rotationWrites.conflicts, pb.cpu)
	}
	if x := r.newNS; x != nil {
		fmt.Fprintf(&sb, "- new namespace: row 3 times the copy from the namespace's creation and each ServiceAccount's entry from that ServiceAccount's appearance; row 3b times the default ServiceAccount's entry from the namespace's creation, kube-controller-manager's part included. Creates that follow a namespace's within milliseconds (kube-controller-manager's default ServiceAccount, the bench's two) are sometimes held 50 ms by kube-apiserver's NamespaceLifecycle admission, which waits that long for its informer to see a namespace it does not know yet. "+
			"Copy alone p50 %s / p99 %s; default ServiceAccount's entry after its appearance p50 %s / p99 %s; the bench's ServiceAccounts' entries after their appearance p50 %s / p99 %s; worst per namespace max %s. "+
			"Everything from the namespace's creation, the bench's ServiceAccount creates included: p50 %s / p99 %s. Operator writes %s (409 conflicts %d)\n",
			ms(x.copy.p50), ms(x.copy.p99), ms(x.afterDefault.p50), ms(x.afterDefault.p99), ms(x.user.p50), ms(x.user.p99), ms(x.served.max),
			ms(x.all.p50), ms(x.all.p99), x.writes.breakdown(), x.writes.conflicts)
	}
	if m := r.memFanout; m.rss > 0 {
		fmt.Fprintf(&sb, "- memory after fan-out: %s", m)
		if r.memoryDone {
			fmt.Fprintf(&sb, "; before the unrelated Secrets: %s; after: %s (%d reconciles meanwhile)", r.memBefore, r.memAfter, int(r.memReconciles))
		}
		fmt.Fprintf(&sb, "\n")
	}
	if s := r.steady; s != nil {
		fmt.Fprintf(&sb, "- steady state: %s; %d completed reads\n", s.breakdown(), s.reads)
	}
	if x := r.restart; x != nil {
		fmt.Fprintf(&sb, "- restart: SIGTERM → exit %s (Lease released); %d reconciles; requests in the first %s: %s, %d completed reads\n",
			secs(x.shutdown), int(x.reconciles), round(x.window), x.counts.breakdown(), x.counts.reads)
	}
	if w := r.webhook; w != nil && w.skipped == "" {
		fmt.Fprintf(&sb, "- webhook: Pod creates/s with the webhook (not called)")
		for _, p := range w.runs {
			fmt.Fprintf(&sb, "; %d RC: %.0f (%.0f)", p.ours.credentials, p.ours.rate, p.base.rate)
		}
		fmt.Fprintf(&sb, "; mean webhook call as the API server times it / handler time in the operator:")
		for _, p := range w.runs {
			fmt.Fprintf(&sb, " %d RC %s / %s;", p.ours.credentials, ms(p.ours.apiserverCall), ms(p.ours.handler))
		}
		fmt.Fprintf(&sb, "\n")
	}
	for _, n := range r.notes {
		fmt.Fprintf(&sb, "- %s\n", n)
	}
	out := sb.String()
	fmt.Println()
	fmt.Print(out)
	if !write {
		logf("incomplete run: %s left as it was", b.cfg.out)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(b.cfg.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(b.cfg.out, []byte(out), 0o644); err != nil {
		return err
	}
	logf("table written to %s", b.cfg.out)
	return nil
}
