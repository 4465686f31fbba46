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

// spanOf is a round's or trial's time and the CPU used meanwhile.
func spanOf[T timing | trial](x T) (time.Duration, cpuUsage) {
	switch v := any(x).(type) {
	case timing:
		return v.d, v.cpu
	case trial:
		return v.d, v.cpu
	}
	return 0, cpuUsage{}
}

// durationsOf are the rounds' or trials' times.
func durationsOf[T timing | trial](xs []T) []time.Duration {
	ds := make([]time.Duration, len(xs))
	for i, x := range xs {
		ds[i], _ = spanOf(x)
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

// perAPIServerSecond is the median, over rounds or trials, of wall time per
// second of kube-apiserver CPU. The same writes cost the API server about
// the same CPU whoever sends them, so this compares ours with the baseline
// with the machine's speed of the moment factored out: on this saturated
// VM that speed moves the plain wall-time ratio by more than the operator
// does. 0 when no CPU was measured.
func perAPIServerSecond[T timing | trial](xs []T) float64 {
	var vs []time.Duration
	for _, x := range xs {
		d, cpu := spanOf(x)
		if api := cpu.procs["kube-apiserver"]; api > 0 {
			vs = append(vs, time.Duration(float64(d)/api.Seconds())) // wall per CPU second, as a Duration
		}
	}
	return median(vs).Seconds()
}

// apiServerNormalised is "ours X s, baseline Y s: Z.ZZx" of
// perAPIServerSecond, or "not measured".
func apiServerNormalised[T timing | trial, U timing | trial](ours []T, base []U) string {
	o, b := perAPIServerSecond(ours), perAPIServerSecond(base)
	if o <= 0 || b <= 0 {
		return "not measured"
	}
	return fmt.Sprintf("ours %.3f s, paired baseline %.3f s: %.2fx", o, b, o/b)
}

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
	if b.cfg.scenarios["fanout"] {
		bulk(fmt.Sprintf("1. Fan-out: %d copies + %d ServiceAccount entries (median)", n, 3*n), "≤ 1.25x", 1.25, r.fanoutErr, r.fanoutRounds, r.pairedFanout, r.baselineFanout)
	}
	if b.cfg.scenarios["rotation"] {
		bulk(fmt.Sprintf("2. Rotation: %d copies (median)", n), "≤ 1.25x", 1.25, r.rotationErr, r.rotationRounds, r.pairedRotation, r.baselineRotation)
	}
	// 3. new namespaces
	if x := r.newNS; x != nil {
		rows = append(rows, row{
			fmt.Sprintf("3. New namespace (%d) → copy + 3 ServiceAccount entries, each from its own creation (p50 / p99)", x.count),
			ms(x.served.p50) + " / " + ms(x.served.p99),
			"-", "-", "p99 ≤ 50 ms", passMark(x.served.p99 <= 50*time.Millisecond),
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
		rows = append(rows, memRow(fmt.Sprintf("5a. Operator RSS after fan-out (N=%d)", n), m.heapText(), m.rss, 64))
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
		rows = append(rows, x.row("6. Restart over a synced world: start → reconciled and idle; writes"))
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
	// 8. repair
	if x := r.repair; x != nil {
		rows = append(rows, row{
			fmt.Sprintf("8a. Repair: copy whose data someone changed (%d) → restored, from the change's response to the bench's watch (p50 / p99)", x.edited.count),
			ms(x.edited.p50) + " / " + ms(x.edited.p99), "-", "-", "p99 < 1 s", passMark(x.edited.count > 0 && x.edited.p99 < time.Second),
		}, row{
			fmt.Sprintf("8b. Repair: copy someone deleted (%d) → recreated, from the delete's response to the bench's watch (p50 / p99)", x.deleted.count),
			ms(x.deleted.p50) + " / " + ms(x.deleted.p99), "-", "-", "p99 < 1 s", passMark(x.deleted.count > 0 && x.deleted.p99 < time.Second),
		})
	}
	// 11. the Pod watch (pull tracing)
	if x := r.pulls; x != nil {
		rows = append(rows, x.row())
	}
	return rows
}

// scaleRows are the table rows of the scale scenarios.
func (b *bench) scaleRows() []row {
	var rows []row
	if x := b.res.scaleFanout; x != nil {
		rs, _ := ratioOf(x.round.d, x.paired.d)
		rows = append(rows, row{
			fmt.Sprintf("9a. Scale fan-out: %d copies + %d ServiceAccount entries, 1 RegistryCredential (1 round)", x.namespaces, len(serviceAccounts)*x.namespaces),
			secs(x.round.d), fmt.Sprintf("%s (%s, %d workers)", secs(x.paired.d), x.paired.contentType, x.paired.workers), rs, "-", "-",
		}, memRow(fmt.Sprintf("9b. Operator RSS after the scale fan-out (%s)", x.cluster), x.mem.heapText(), x.mem.rss, 128))
	}
	if x := b.res.scaleRestart; x != nil {
		world := fmt.Sprintf("%d RegistryCredentials × %d namespaces each (%d namespaces)", x.credentials, x.namespaces/x.credentials, x.namespaces)
		rows = append(rows, x.row("10a. Scale restart over "+world+": start → reconciled and idle; writes"),
			memRow("10b. Operator peak RSS (VmHWM) during the scale restart", fmt.Sprintf("%s (at the end of the window: RSS %s, Go heap in use %s)", mib(x.mem.peak), mib(x.mem.rss), mib(x.mem.heap)), x.mem.peak, 128),
			row{"10c. Scale restart: the pair controller's queue: items queued (workqueue_adds_total) / peak workqueue_depth (sampled every 20 ms)",
				fmt.Sprintf("%d / %d", int(x.work[pairController].adds), int(x.peakPairDepth)), "-", "-", "-", "-"})
	}
	return rows
}

// memRow is a row of the operator's memory (text) whose rss must be at most
// limit MiB.
func memRow(label, text string, rss, limit int64) row {
	return row{label, text, "-", "-", fmt.Sprintf("≤ %d MiB", limit), passMark(rss > 0 && rss <= limit<<20)}
}

// row is the table row of a restart: time until idle and writes.
func (x *restartResult) row(label string) row {
	return row{label,
		fmt.Sprintf("%s (workers at %s); %d writes (leader election apart: %d)", secs(x.idle), secs(x.workers), x.counts.writes, x.counts.leaseWrites),
		"-", "-", "idle ≤ 2 s, 0 writes", passMark(x.counts.writes == 0 && x.idle > 0 && x.idle <= 2*time.Second)}
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

// header describes the run: when, the sizes, the machine, the operator.
func (b *bench) header() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "- run: %s, wall time %s, `go run ./hack/bench %s`\n", time.Now().Format("2006-01-02 15:04 MST"), round(b.res.wall), strings.Join(os.Args[1:], " "))
	if b.cfg.ran(allScenarios...) > 0 {
		fmt.Fprintf(&sb, "- N = %d namespaces × 3 ServiceAccounts (default from kube-controller-manager + 2); %d new namespaces; %d repairs of each kind; %d unrelated Secrets in %d namespaces; %d Pods per webhook measurement\n",
			len(b.namespaces), b.cfg.newNamespaces, b.cfg.repairs, b.cfg.unrelated, b.cfg.unrelatedNamespaces, b.cfg.pods)
	}
	if b.cfg.ran(scaleScenarios...) > 0 {
		fmt.Fprintf(&sb, "- scale: fan-out over %d namespaces; restart over %d RegistryCredentials sharing %d namespaces; 3 ServiceAccounts in each namespace\n",
			b.cfg.scaleNamespaces, b.cfg.scaleCredentials, b.cfg.scaleCredNamespaces)
	}
	fmt.Fprintf(&sb, "- machine: %d CPUs (%s), %s RAM; %s; kube-apiserver %s (envtest etcd + kube-apiserver + kube-controller-manager %s); controller-runtime %s, client-go %s\n",
		runtime.NumCPU(), cpuModel(), memTotal(), runtime.Version(), b.k8sVersion, testenv.K8sVersion,
		depVersion("sigs.k8s.io/controller-runtime"), depVersion("k8s.io/client-go"))
	fmt.Fprintf(&sb, "- operator: `%s %s` (own user, system:masters); environment %s\n", rel(b.root, b.cfg.manager), strings.Join(b.opArgs, " "), b.opEnv)
	return sb.String()
}

// table is the rows as a markdown table.
func table(rows []row) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "| scenario | ours | baseline | ratio | target | pass |\n|---|---|---|---|---|---|\n")
	for _, x := range rows {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s |\n", x.scenario, x.ours, x.baseline, x.ratio, x.target, x.pass)
	}
	return sb.String()
}

// report prints the table and the details; a complete run (write) also
// writes them to -out and, unless -short, updates -docs.
func (b *bench) report(write bool) error {
	r := &b.res
	var sb strings.Builder
	fmt.Fprintf(&sb, "# regcred-operator benchmark\n\n%s\n%s\n", b.header(), table(append(b.rows(), b.scaleRows()...)))
	if b.cfg.scenarios["fanout"] {
		fmt.Fprintf(&sb, "Fan-out and rotation compare medians: %d rounds of ours against %d paired baseline trials, each trial run right before one of our rounds, so both sample the same minutes of the machine (its speed drifts by tens of percent within minutes). "+
			"Ours runs from the change being sent to the completion of the operator's last write, as the baseline's wall time runs from its first request to its last response; the bench's watch confirms the end state. "+
			"Baseline: a plain client-go program (own user, no client-side rate limit) doing the same writes, with the fastest configuration of a calibration before the operator started: %s. "+
			"No operator runs during a fan-out trial: it is stopped for the paired trial (it watches every ServiceAccount, so it would receive the baseline's patches) and started again, idle, before its round, which so begins with no connections open. It runs during the paired rotation trials, whose Secrets it does not watch.\n",
			b.cfg.rounds, b.cfg.rounds, strings.Join(r.baselineTrials, "; "))
	}
	fmt.Fprintf(&sb, "Writes are counted from the API server's audit log (the operator authenticates as its own user; every request it makes is logged once), leader election (Lease writes and the \"became leader\" Event on the Lease) apart. "+
		"CPU figures are user + system time from /proc over the timed span, for kube-apiserver, etcd, kube-controller-manager, the operator and the bench (its watch and audit-log reader; in a baseline trial also the writing client). "+
		"The operator counts as idle once both its controllers (%s) have had nothing queued or running, and finished no reconcile, for %s.\n\n", strings.Join(operatorControllers, ", "), idleStable)
	if fanout := fastest(r.fanoutRounds); fanout.d > 0 {
		pb := fastest(r.pairedFanout)
		bs, _ := ratioOf(fanout.d, pb.d)
		fmt.Fprintf(&sb, "- fan-out: paired baseline %s; ours %s; best against best %s; wall time per second of kube-apiserver CPU (medians; the machine's speed factored out, see docs/benchmarks.md) %s. Our best round: %s; status Ready after %s (round 1); operator writes (round 1) %s (409 conflicts %d, other failures %d). Best paired baseline trial: %s\n",
			listSecs(durationsOf(r.pairedFanout)), listSecs(durationsOf(r.fanoutRounds)), bs, apiServerNormalised(r.fanoutRounds, r.pairedFanout), fanout, secs(r.fanoutStatus), r.fanoutWrites.breakdown(), r.fanoutWrites.conflicts, r.fanoutWrites.failed, pb.cpu)
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
	if x := r.repair; x != nil {
		fmt.Fprintf(&sb, "- repair: the slowest changed copy restored after %s, the slowest deleted copy after %s; operator writes %s (409 conflicts %d)\n",
			ms(x.edited.max), ms(x.deleted.max), x.writes.breakdown(), x.writes.conflicts)
	}
	if x := r.restart; x != nil {
		fmt.Fprintf(&sb, "- restart: %s\n", x.details())
	}
	if x := r.scaleFanout; x != nil {
		fmt.Fprintf(&sb, "- scale fan-out: ours %s; status Ready after %s; operator writes %s (409 conflicts %d, other failures %d); memory %s, peak RSS %s. Paired baseline trial: %d writes, %s\n",
			x.round, secs(x.status), x.writes.breakdown(), x.writes.conflicts, x.writes.failed, x.mem, mib(x.mem.peak), x.paired.writes, x.paired.cpu)
	}
	if x := r.scaleRestart; x != nil {
		fmt.Fprintf(&sb, "- scale restart: the %d RegistryCredentials had synced their %d namespaces %s after they were created; then %s; %s\n",
			x.credentials, x.namespaces, secs(x.sync), x.details(), x.cluster)
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
		fmt.Fprintf(&sb, " operator CPU while admitting (while not called), cores:")
		for _, p := range w.runs {
			fmt.Fprintf(&sb, " %d RC %.2f (%.2f);", p.ours.credentials, p.ours.operatorCores, p.base.operatorCores)
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
		logf("incomplete run: %s and %s left as they were", b.cfg.out, b.cfg.docs)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(b.cfg.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(b.cfg.out, []byte(out), 0o644); err != nil {
		return err
	}
	logf("table written to %s", b.cfg.out)
	return b.updateDocs()
}

// details are a restart's figures beyond the table's.
func (x *restartResult) details() string {
	return fmt.Sprintf("SIGTERM → exit %s (Lease released); %s; requests in the first %s: %s, %d completed reads; memory at the end %s, peak RSS %s",
		secs(x.shutdown), x.queued(), round(x.window), x.counts.breakdown(), x.counts.reads, x.mem, mib(x.mem.peak))
}

// Marker lines around the generated sections of -docs.
const (
	docsResults = "results" // the normal scenarios
	docsScale   = "scale"   // the scale scenarios
)

func docsMarkers(section string) (begin, end string) {
	return "<!-- bench:" + section + ":begin -->", "<!-- bench:" + section + ":end -->"
}

// updateDocs rewrites the generated sections of -docs: the results after a
// run of every normal scenario, the scale results after a run of both scale
// scenarios; never after -short.
func (b *bench) updateDocs() error {
	var sections []string
	if b.cfg.docs == "" || b.cfg.short {
		return nil
	}
	if b.cfg.ran(allScenarios...) == len(allScenarios) {
		sections = append(sections, docsResults)
	}
	if b.cfg.ran(scaleScenarios...) == len(scaleScenarios) {
		sections = append(sections, docsScale)
	}
	if len(sections) == 0 {
		return nil
	}
	raw, err := os.ReadFile(b.cfg.docs)
	if err != nil {
		return err
	}
	doc := string(raw)
	for _, section := range sections {
		rows := b.rows()
		if section == docsScale {
			rows = b.scaleRows()
		}
		body := fmt.Sprintf("<!-- written by `make bench` (hack/bench); what stands between these markers is replaced by the next run -->\n\n%s\n%s", b.header(), table(rows))
		if doc, err = replaceSection(doc, section, body); err != nil {
			return fmt.Errorf("%s: %w", b.cfg.docs, err)
		}
	}
	if err := os.WriteFile(b.cfg.docs, []byte(doc), 0o644); err != nil {
		return err
	}
	logf("%s: %s section(s) rewritten", rel(b.root, b.cfg.docs), strings.Join(sections, " and "))
	return nil
}

// replaceSection puts body between the marker lines of section in doc.
func replaceSection(doc, section, body string) (string, error) {
	begin, end := docsMarkers(section)
	i := strings.Index(doc, begin+"\n")
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("no lines %q ... %q (in this order) to write the %s between", begin, end, section)
	}
	i += len(begin) + 1
	return doc[:i] + body + doc[j:], nil
}
