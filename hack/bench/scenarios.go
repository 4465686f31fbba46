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
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// generous is how long a bulk operation over the N namespaces may take
// before the run is declared failed: far beyond any expected figure.
func (b *bench) generous() time.Duration { return b.generousFor(b.cfg.n) }

// generousFor is generous for a bulk operation over n namespaces.
func (b *bench) generousFor(n int) time.Duration {
	return 3*time.Minute + time.Duration(n)*100*time.Millisecond
}

// profile captures CPU profiles of about d in the background when
// -profile-dir is set: of the operator (when it serves pprof) and of
// kube-apiserver (its /debug/pprof, through the admin client).
func (b *bench) profile(ctx context.Context, name string, d time.Duration) func() {
	if b.cfg.profileDir == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	if b.op != nil && b.op.pprofAddr != "" {
		path := filepath.Join(b.cfg.profileDir, name+".pprof")
		wg.Go(func() {
			if err := b.op.fetchProfile(ctx, d, path); err != nil {
				logf("profile %s: %v", name, err)
				return
			}
			logf("operator CPU profile: %s", path)
		})
	}
	path := filepath.Join(b.cfg.profileDir, "kube-apiserver-"+name+".pprof")
	wg.Go(func() {
		raw, err := b.admin.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", strconv.Itoa(max(1, int(d.Seconds())))).Timeout(d + 30*time.Second).DoRaw(ctx)
		if err == nil {
			err = os.WriteFile(path, raw, 0o644)
		}
		if err != nil {
			logf("kube-apiserver profile %s: %v", name, err)
			return
		}
		logf("kube-apiserver CPU profile: %s", path)
	})
	return wg.Wait
}

// scenarioFanout: one RegistryCredential selecting the N namespaces; time
// until every copy exists and every ServiceAccount lists it. That
// RegistryCredential stays for the rest of the run. Further rounds (-rounds)
// create another RegistryCredential each (own source and copy name,
// selecting only the N namespaces), measured the same way and deleted
// afterwards (deletionPolicy Delete: the operator removes its copies and
// entries, so each round starts from the same world); the best round counts.
func (b *bench) scenarioFanout(ctx context.Context) error {
	logf("fan-out: creating RegistryCredential %q selecting %d namespaces", credentialName, len(b.namespaces))
	rc := &registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: credentialName},
		Spec: registryv1alpha1.RegistryCredentialSpec{
			Server:            server,
			SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: sourceName},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelTarget: "true"}},
		},
	}
	paired := func() error {
		t, err := b.pairedFanoutTrial(ctx, b.namespaces)
		if err == nil {
			b.res.pairedFanout = append(b.res.pairedFanout, t)
		}
		return err
	}
	if err := paired(); err != nil {
		return err
	}
	waitProfile := b.profile(ctx, "fanout", max(5*time.Second, 3*b.res.baselineFanout.d))
	t0 := time.Now()
	t, err := b.fanoutRound(ctx, rc, targetName, b.namespaces)
	if err != nil {
		b.res.fanoutErr = err
		return err
	}
	b.res.fanoutRounds = append(b.res.fanoutRounds, t)
	logf("fan-out: %d copies and %d ServiceAccount entries in %s (paired baseline %s); %s",
		len(b.namespaces), len(serviceAccounts)*len(b.namespaces), round(t.d), round(b.res.pairedFanout[len(b.res.pairedFanout)-1].d), t)

	statusAt, err := b.waitStatus(ctx, credentialName, len(b.namespaces), b.generous())
	if err != nil {
		return err
	}
	b.res.fanoutStatus = statusAt.Sub(t0)
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous()); err != nil {
		return err
	}
	b.res.fanoutWrites = b.audit.count(operatorUser, t0, time.Now())
	logf("fan-out: status Ready after %s; operator writes: %s", round(b.res.fanoutStatus), b.res.fanoutWrites.breakdown())
	waitProfile()

	sleep(ctx, b.cfg.settle)
	if b.res.memFanout, err = b.memory(ctx); err != nil {
		return err
	}
	logf("fan-out: operator %s", b.res.memFanout)

	if b.cfg.rounds > 1 {
		if _, err := b.admin.CoreV1().Secrets(sourceNS).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: roundsSource, Namespace: sourceNS},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(b.sourceData)},
		}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	for r := 2; r <= b.cfg.rounds; r++ {
		name := fmt.Sprintf("%s-round%d", credentialName, r)
		target := fmt.Sprintf("%s-round%d", targetName, r)
		rc := &registryv1alpha1.RegistryCredential{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: registryv1alpha1.RegistryCredentialSpec{
				Server:            server,
				SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: roundsSource},
				TargetSecretName:  target,
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelRounds: "true"}},
				DeletionPolicy:    registryv1alpha1.DeletionPolicyDelete,
			},
		}
		if err := paired(); err != nil {
			return err
		}
		t, err := b.fanoutRound(ctx, rc, target, b.namespaces)
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		b.res.fanoutRounds = append(b.res.fanoutRounds, t)
		logf("fan-out round %d: %s", r, t)
		if err := b.deleteCredentials(ctx, rc); err != nil {
			return err
		}
	}
	return nil
}

const roundsSource = sourceName + "-rounds"

// pairedFanoutTrial runs the calibrated baseline fan-out over namespaces
// once more, right before one of the operator's rounds. The operator is stopped meanwhile (it watches every ServiceAccount, so it
// would receive the baseline's patches and take CPU from it) and started
// again afterwards, idle before the round begins; the round then starts
// with no connections open yet, as after any restart.
func (b *bench) pairedFanoutTrial(ctx context.Context, namespaces []string) (trial, error) {
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generousFor(len(namespaces))); err != nil {
		return trial{}, err
	}
	b.op.stop(30 * time.Second)
	bl := b.res.baselineFanout
	t, err := b.baselineFanoutTrial(ctx, namespaces, bl.workers, bl.contentType)
	if err != nil {
		return trial{}, fmt.Errorf("paired baseline fan-out: %w", err)
	}
	return t, b.startOperator(ctx, nil)
}

// fanoutRound creates rc and times it until every one of namespaces (those
// it selects) has the copy named target and every ServiceAccount lists it.
func (b *bench) fanoutRound(ctx context.Context, rc *registryv1alpha1.RegistryCredential, target string, namespaces []string) (timing, error) {
	w := b.obs.watch(namespaces, b.obs.syncedFor(target))
	cpu0 := sampleCPU(b.op.pid())
	t0 := time.Now()
	if err := b.crc.Create(ctx, rc); err != nil {
		return timing{}, err
	}
	last, err := b.obs.waitLogged(ctx, w, b.generousFor(len(namespaces)), "namespaces synced")
	if err != nil {
		return timing{}, err
	}
	cpu := cpu0.since(b.op.pid())
	t := b.timed(ctx, t0, last, "secrets", "serviceaccounts")
	t.cpu = cpu
	return t, nil
}

// deleteCredentials deletes the RegistryCredentials and waits until they are
// gone (the operator has removed their finalizer) and it writes no more.
func (b *bench) deleteCredentials(ctx context.Context, rcs ...*registryv1alpha1.RegistryCredential) error {
	for _, rc := range rcs {
		if err := b.crc.Delete(ctx, rc); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	deadline := time.Now().Add(b.generous())
	for _, rc := range rcs {
		for {
			err := b.crc.Get(ctx, client.ObjectKeyFromObject(rc), &registryv1alpha1.RegistryCredential{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("RegistryCredential %s not gone after %s (%v)", rc.Name, b.generous(), err)
			}
			if !sleep(ctx, 100*time.Millisecond) {
				return ctx.Err()
			}
		}
	}
	return b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous())
}

// timing is how long the operator took for a bulk change.
type timing struct {
	d        time.Duration // from the change to the last write's completion
	watch    time.Duration // from the change to the bench's watch seeing the last of it
	reaction time.Duration // from the change to the first write
	writes   int
	cpu      cpuUsage // from the change until the bench's watch saw the end state
}

func (t timing) String() string {
	return fmt.Sprintf("first write after %s, %d writes, last one done after %s, seen by the bench's watch after %s; %s",
		round(t.reaction), t.writes, round(t.d), round(t.watch), t.cpu)
}

// timed measures, like the baseline's wall time, from t0 (the change was
// sent) to the completion of the last of the operator's writes to
// resources that the API server received before the bench's watch saw the
// end state (at seen). Without audit records it falls back to the watch.
func (b *bench) timed(ctx context.Context, t0, seen time.Time, resources ...string) timing {
	b.audit.sync(ctx, seen)
	first, last, n := b.audit.writeSpan(operatorUser, t0, seen, resources...)
	t := timing{d: seen.Sub(t0), watch: seen.Sub(t0), writes: n}
	if n > 0 {
		t.d, t.reaction = last.Sub(t0), first.Sub(t0)
	}
	return t
}

// waitStatus polls the RegistryCredential name until Ready is True with
// synced namespaces >= want.
func (b *bench) waitStatus(ctx context.Context, name string, want int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		rc := &registryv1alpha1.RegistryCredential{}
		if err := b.crc.Get(ctx, client.ObjectKey{Name: name}, rc); err != nil {
			return time.Time{}, err
		}
		if int(rc.Status.SyncedNamespaces) >= want && apimeta.IsStatusConditionTrue(rc.Status.Conditions, registryv1alpha1.ConditionReady) {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("RegistryCredential status not Ready with %d synced namespaces after %s: %+v", want, timeout, rc.Status)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// scenarioRotation: new data in the source; time until every copy has it.
// Repeated -rounds times; the best round counts.
func (b *bench) scenarioRotation(ctx context.Context) (err error) {
	defer func() {
		if derr := b.deleteRotationSecrets(ctx); err == nil {
			err = derr
		}
	}()
	for r := 1; r <= b.cfg.rounds; r++ {
		bl := b.res.baselineRotation
		pt, err := b.baselineRotationTrial(ctx, bl.workers, bl.contentType)
		if err != nil {
			return fmt.Errorf("paired baseline rotation: %w", err)
		}
		b.res.pairedRotation = append(b.res.pairedRotation, pt)
		data := dockerConfig("bench", fmt.Sprintf("password-%d", r+1), server)
		logf("rotation: changing the source's data (round %d)", r)
		w := b.obs.watch(b.namespaces, b.obs.copyHolds(data))
		waitProfile := func() {}
		if r == 1 {
			waitProfile = b.profile(ctx, "rotation", max(5*time.Second, 3*b.res.baselineRotation.d))
		}
		cpu0 := sampleCPU(b.op.pid())
		t0 := time.Now()
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s, err := b.admin.CoreV1().Secrets(sourceNS).Get(ctx, sourceName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			s.Data = map[string][]byte{corev1.DockerConfigJsonKey: []byte(data)}
			_, err = b.admin.CoreV1().Secrets(sourceNS).Update(ctx, s, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return err
		}
		b.sourceData = data
		last, err := b.obs.wait(ctx, w, b.generous())
		if err != nil {
			b.res.rotationErr = err
			return err
		}
		cpu := cpu0.since(b.op.pid())
		t := b.timed(ctx, t0, last, "secrets")
		t.cpu = cpu
		b.res.rotationRounds = append(b.res.rotationRounds, t)
		if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous()); err != nil {
			return err
		}
		if r == 1 {
			b.res.rotationWrites = b.audit.count(operatorUser, t0, time.Now())
		}
		logf("rotation round %d: %d copies updated in %s (paired baseline %s); %s; operator writes: %s",
			r, len(b.namespaces), round(t.d), round(pt.d), t, b.audit.count(operatorUser, t0, time.Now()).breakdown())
		waitProfile()
	}
	return nil
}

// newNSResult are the per-namespace figures of the new-namespace scenario.
type newNSResult struct {
	// served: per namespace, the longest the operator left something
	// unserved, each thing timed from its own creation: the copy from the
	// namespace's, each ServiceAccount's entry from that ServiceAccount's
	// appearance.
	served *latencies
	// withDefault: from the namespace's creation until the copy and the
	// default ServiceAccount's entry are there (kube-controller-manager's
	// creation of that ServiceAccount included).
	withDefault *latencies
	// all: from the namespace's creation until the copy and all three
	// entries are there, the bench's own ServiceAccount creates included.
	all                                  *latencies
	copy, kcmDefault, afterDefault, user *latencies
	count                                int
	writes                               requestCounts
}

// scenarioNewNamespaces: namespaces created one at a time, each right away
// followed by its two extra ServiceAccounts; kube-controller-manager adds
// default. Timestamped by watches.
//
// The target figure times each thing the operator serves from that thing's
// own creation: the copy from the namespace's, each ServiceAccount's entry
// from that ServiceAccount's appearance. Creates that follow a namespace's
// within milliseconds (kube-controller-manager's default ServiceAccount, the
// bench's own two) are sometimes held 50 ms by kube-apiserver
// (NamespaceLifecycle admission waits that long for its informer to see a
// namespace it does not know yet); timing their entries from the namespace's
// creation would measure that wait, not the operator. That figure is
// printed beside it, with kube-controller-manager's part on its own.
func (b *bench) scenarioNewNamespaces(ctx context.Context) error {
	n := b.cfg.newNamespaces
	logf("new namespaces: creating %d namespaces one at a time", n)
	var served, withDefault, all, cp, kcm, after, user []time.Duration
	waitProfile := b.profile(ctx, "newns", 10*time.Second)
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("%snew-%04d", nsPrefix, i)
		w := b.obs.watch([]string{name}, b.obs.synced)
		t0 := time.Now()
		if err := b.createNamespace(ctx, name, map[string]string{labelTarget: "true"}); err != nil {
			return err
		}
		last, err := b.obs.wait(ctx, w, 60*time.Second)
		if err != nil {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
		b.newNS = append(b.newNS, name)
		fs := b.obs.timesOf(name)
		worst := max(fs.copyAt.Sub(t0), fs.entryAt["default"].Sub(fs.defaultAt))
		for _, sa := range extraSAs {
			d := fs.entryAt[sa].Sub(fs.saAt[sa])
			user = append(user, d)
			worst = max(worst, d)
		}
		served = append(served, worst)
		withDefault = append(withDefault, max(fs.copyAt.Sub(t0), fs.entryAt["default"].Sub(t0)))
		all = append(all, last.Sub(t0))
		cp = append(cp, fs.copyAt.Sub(t0))
		kcm = append(kcm, fs.defaultAt.Sub(t0))
		after = append(after, fs.entryAt["default"].Sub(fs.defaultAt))
	}
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous()); err != nil {
		return err
	}
	r := &newNSResult{served: summarize(served), withDefault: summarize(withDefault), all: summarize(all), copy: summarize(cp), kcmDefault: summarize(kcm),
		afterDefault: summarize(after), user: summarize(user), count: n,
		writes: b.audit.count(operatorUser, start, time.Now())}
	b.res.newNS = r
	waitProfile()
	logf("new namespaces: served (each thing from its own creation) p50 %s p99 %s; copy and default ServiceAccount's entry from the namespace's creation p50 %s p99 %s; everything from the namespace's creation p50 %s p99 %s; copy p50 %s p99 %s; default ServiceAccount (kube-controller-manager) p50 %s p99 %s, its entry after it p50 %s p99 %s; bench ServiceAccounts' entries p50 %s p99 %s",
		round(r.served.p50), round(r.served.p99), round(r.withDefault.p50), round(r.withDefault.p99), round(r.all.p50), round(r.all.p99), round(r.copy.p50), round(r.copy.p99),
		round(r.kcmDefault.p50), round(r.kcmDefault.p99), round(r.afterDefault.p50), round(r.afterDefault.p99), round(r.user.p50), round(r.user.p99))
	logf("new namespaces: operator writes: %s (409 conflicts %d)", r.writes.breakdown(), r.writes.conflicts)
	return nil
}

// repairResult: how soon copies someone changed or deleted were restored.
type repairResult struct {
	edited, deleted *latencies
	writes          requestCounts
}

// scenarioRepair: a user changes a copy's data, or deletes a copy, in one of
// the N namespaces at a time (-repairs of each); timed from the response to
// that write until the bench's watch sees the copy with the source's data
// again.
func (b *bench) scenarioRepair(ctx context.Context) error {
	n := min(b.cfg.repairs, len(b.namespaces))
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous()); err != nil {
		return err
	}
	logf("repair: changing the data of %d copies, then deleting them, one at a time", n)
	foreign, _ := json.Marshal(map[string]any{"data": map[string][]byte{corev1.DockerConfigJsonKey: []byte(dockerConfig("someone", "else", server))}})
	edit := func(ctx context.Context, ns string) error {
		_, err := b.admin.CoreV1().Secrets(ns).Patch(ctx, targetName, types.MergePatchType, foreign, metav1.PatchOptions{})
		return err
	}
	remove := func(ctx context.Context, ns string) error {
		return b.admin.CoreV1().Secrets(ns).Delete(ctx, targetName, metav1.DeleteOptions{})
	}
	start := time.Now()
	var edited, deleted []time.Duration
	for _, ns := range b.namespaces[:n] {
		d, err := b.repairOne(ctx, ns, edit)
		if err != nil {
			return err
		}
		edited = append(edited, d)
		if d, err = b.repairOne(ctx, ns, remove); err != nil {
			return err
		}
		deleted = append(deleted, d)
	}
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous()); err != nil {
		return err
	}
	r := &repairResult{edited: summarize(edited), deleted: summarize(deleted), writes: b.audit.count(operatorUser, start, time.Now())}
	b.res.repair = r
	logf("repair: changed copy restored p50 %s p99 %s (max %s); deleted copy recreated p50 %s p99 %s (max %s); operator writes: %s (409 conflicts %d)",
		round(r.edited.p50), round(r.edited.p99), round(r.edited.max), round(r.deleted.p50), round(r.deleted.p99), round(r.deleted.max), r.writes.breakdown(), r.writes.conflicts)
	return nil
}

// repairOne makes one change to the copy in ns and times it from the
// change's response until the watch sees the copy as the source again.
func (b *bench) repairOne(ctx context.Context, ns string, change func(context.Context, string) error) (time.Duration, error) {
	w := b.obs.watch([]string{ns}, b.obs.restored(targetName, b.sourceData))
	if err := change(ctx, ns); err != nil {
		return 0, err
	}
	t0 := time.Now()
	last, err := b.obs.wait(ctx, w, time.Minute)
	if err != nil {
		return 0, fmt.Errorf("repair in %s: %w", ns, err)
	}
	return last.Sub(t0), nil
}

// scenarioSteady: nothing changes; count the operator's writes.
func (b *bench) scenarioSteady(ctx context.Context) error {
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet+time.Second, b.generous()); err != nil {
		return err
	}
	logf("steady state: counting operator writes for %s", b.cfg.steady)
	t0 := time.Now()
	if !sleep(ctx, b.cfg.steady) {
		return ctx.Err()
	}
	t1 := time.Now()
	if err := b.op.running(); err != nil {
		return err
	}
	b.audit.sync(ctx, t1)
	c := b.audit.count(operatorUser, t0, t1)
	b.res.steady, b.res.steadyDur = &c, t1.Sub(t0)
	logf("steady state: %d writes, %d Lease writes, %d completed reads in %s (%s)", c.writes, c.leaseWrites, c.reads, round(t1.Sub(t0)), c.breakdown())
	return nil
}

// scenarioMemory: RSS before and after unrelated Secrets (10 KiB each)
// appear in other namespaces.
func (b *bench) scenarioMemory(ctx context.Context) error {
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous()); err != nil {
		return err
	}
	sleep(ctx, b.cfg.settle)
	var err error
	if b.res.memBefore, err = b.memory(ctx); err != nil {
		return err
	}
	nsCount := max(1, b.cfg.unrelatedNamespaces)
	logf("memory: operator %s; adding %d unrelated 10 KiB Secrets in %d namespaces", b.res.memBefore, b.cfg.unrelated, nsCount)
	reconciles := func() float64 {
		w, _ := b.work(ctx)
		return w.reconciles()
	}
	r0 := reconciles()
	t0 := time.Now()
	if _, err := pool(ctx, 16, nsCount, func(ctx context.Context, i int) error {
		_, err := b.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%03d", i)}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
		return err
	}); err != nil {
		return err
	}
	payload := make([]byte, 10<<10)
	if _, err := rand.Read(payload); err != nil {
		return err
	}
	d, err := pool(ctx, 32, b.cfg.unrelated, func(ctx context.Context, i int) error {
		data := append([]byte(fmt.Sprintf("%08d", i)), payload[8:]...)
		_, err := b.admin.CoreV1().Secrets(fmt.Sprintf("unrelated-%03d", i%nsCount)).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%05d", i), Labels: map[string]string{"app": "unrelated"}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"payload": data},
		}, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return err
	}
	logf("memory: created %d Secrets in %s", b.cfg.unrelated, round(d))
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous()); err != nil {
		return err
	}
	sleep(ctx, b.cfg.settle)
	if b.res.memAfter, err = b.memory(ctx); err != nil {
		return err
	}
	b.res.memoryDone = true
	b.res.memReconciles = reconciles() - r0
	w := b.audit.count(operatorUser, t0, time.Now())
	logf("memory: operator %s (%+.1f%% RSS); meanwhile %d reconciles (namespace and ServiceAccount events) and writes: %s",
		b.res.memAfter, pct(b.res.memBefore.rss, b.res.memAfter.rss), int(b.res.memReconciles), w.breakdown())
	return nil
}

func pct(before, after int64) float64 {
	if before == 0 {
		return 0
	}
	return 100 * float64(after-before) / float64(before)
}

// restartResult is what a restart over a synced world cost.
type restartResult struct {
	shutdown time.Duration // SIGTERM to exit (the Lease is released)
	workers  time.Duration // process start to the last controller's "Starting workers"
	idle     time.Duration // process start to both controllers idle (see waitIdle, idleStable), from when that began
	window   time.Duration // writes were counted from start to idle + restartWindow
	counts   requestCounts
	// at the end of the window (the process's counters start at its start):
	work          operatorWork // reconciles and workqueue adds per controller
	peakPairDepth float64      // the pair controller's highest workqueue_depth, sampled every 20 ms until idle
	mem           memSample    // peak: VmHWM, the highest RSS since the process started
}

// scenarioRestart: stop the operator (SIGTERM) and start it again over the
// synced world; time until it has reconciled and is idle, and the writes it
// makes.
func (b *bench) scenarioRestart(ctx context.Context) (err error) {
	b.res.restart, err = b.restart(ctx, "restart")
	return err
}

// restart stops the operator (SIGTERM) once it writes no more, starts it
// again with the same flags and measures it until restartWindow after it is
// idle.
func (b *bench) restart(ctx context.Context, scenario string) (*restartResult, error) {
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous()); err != nil {
		return nil, err
	}
	r := &restartResult{}
	logf("%s: stopping the operator", scenario)
	r.shutdown = b.op.stop(30 * time.Second)
	args, _, err := b.operatorArgs(nil)
	if err != nil {
		return nil, err
	}
	if err := b.op.start(args); err != nil {
		return nil, err
	}
	t0 := b.op.startedAt()
	idle, err := b.waitIdle(ctx, t0, 1, idleStable, b.generous())
	if err != nil {
		return nil, err
	}
	workersAt, err := b.op.waitWorkers(ctx, time.Minute)
	if err != nil {
		return nil, err
	}
	r.workers, r.idle, r.peakPairDepth = workersAt.Sub(t0), idle.at.Sub(t0), idle.peakPairDepth
	sleep(ctx, b.cfg.restartWindow)
	t1 := time.Now()
	b.audit.sync(ctx, t1)
	r.window = t1.Sub(t0)
	r.counts = b.audit.count(operatorUser, t0, t1)
	if r.work, err = b.work(ctx); err != nil {
		return nil, err
	}
	if r.mem, err = b.memory(ctx); err != nil {
		return nil, err
	}
	b.explainEvents(ctx, scenario, t0)
	logf("%s: shutdown %s; workers started after %s, reconciled and idle after %s; %s; %d writes, %d Lease writes in %s (%s); peak RSS %s",
		scenario, round(r.shutdown), round(r.workers), round(r.idle), r.queued(), r.counts.writes, r.counts.leaseWrites, round(r.window), r.counts.breakdown(), mib(r.mem.peak))
	return r, nil
}

// queued says what each controller did after a restart.
func (r *restartResult) queued() string {
	cred, pair := r.work[credentialController], r.work[pairController]
	return fmt.Sprintf("%d status reconciles; pair controller: %d items queued (workqueue_adds_total), peak depth %d (sampled), %d reconciles",
		int(cred.reconciles), int(pair.adds), int(r.peakPairDepth), int(pair.reconciles))
}

// explainEvents notes the Events the operator recorded since t0 (a restart
// over a synced world should record none).
func (b *bench) explainEvents(ctx context.Context, scenario string, t0 time.Time) {
	list, err := b.admin.EventsV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, e := range list.Items {
		if e.ReportingController != managedByValue || e.Regarding.Kind == "Lease" || e.CreationTimestamp.Time.Before(t0.Truncate(time.Second)) {
			continue
		}
		b.note("%s: the operator recorded Event %s %s (%s) on %s %s: %q", scenario, e.Type, e.Reason, e.Action, e.Regarding.Kind, e.Regarding.Name, e.Note)
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
