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
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// The scale scenarios (-scale) run after the normal ones, each in a world of
// its own namespaces (3 ServiceAccounts each, as the N namespaces), with
// every RegistryCredential the normal scenarios left deleted first: the
// scale restart is over its own RegistryCredentials only. The namespaces of
// the earlier scenarios stay, and are in the operator's cache.

// scaleRestartResult: a restart over many RegistryCredentials, each
// selecting its own few namespaces.
type scaleRestartResult struct {
	credentials, namespaces int
	sync                    time.Duration // from creating the RegistryCredentials to every namespace synced
	*restartResult
	cluster string // what the cluster held (all in the operator's cache)
}

// scaleFanoutResult: one RegistryCredential over -scale-namespaces
// namespaces, against the baseline making the same writes right before.
type scaleFanoutResult struct {
	namespaces int
	paired     trial
	round      timing
	status     time.Duration // from the create to Ready with every namespace synced
	writes     requestCounts
	mem        memSample
	cluster    string
}

const scaleFanoutCredential = credentialName + "-scale"

// scenarioScaleRestart: -scale-credentials RegistryCredentials, each
// selecting its own group of the -scale-credential-namespaces namespaces;
// once synced, the operator restarts over that world (as the restart
// scenario does), and the RegistryCredentials are deleted afterwards.
func (b *bench) scenarioScaleRestart(ctx context.Context) error {
	if err := b.clearCredentials(ctx); err != nil {
		return err
	}
	creds := max(1, b.cfg.scaleCredentials)
	per := max(1, b.cfg.scaleCredNamespaces/creds)
	group := func(i int) string { return fmt.Sprintf("group-%04d", i) }
	namespaces := namespaceNames(nsPrefix+"group-", creds*per)
	logf("scale restart: %d RegistryCredentials, each selecting its own %d of %d namespaces", creds, per, len(namespaces))
	if err := b.createWorld(ctx, namespaces, func(i int) map[string]string { return map[string]string{labelScale: group(i / per)} }); err != nil {
		return err
	}
	rcs := make([]*registryv1alpha1.RegistryCredential, creds)
	for i := range rcs {
		rcs[i] = b.credential(fmt.Sprintf("%s-%s", credentialName, group(i)), map[string]string{labelScale: group(i)})
	}
	w := b.obs.watch(namespaces, b.obs.synced)
	t0 := time.Now()
	if _, err := pool(ctx, 8, creds, func(ctx context.Context, i int) error { return b.crc.Create(ctx, rcs[i]) }); err != nil {
		return err
	}
	if _, err := b.obs.waitLogged(ctx, w, b.generousFor(len(namespaces)), "namespaces synced"); err != nil {
		return err
	}
	res := &scaleRestartResult{credentials: creds, namespaces: len(namespaces), sync: time.Since(t0)}
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generousFor(len(namespaces))); err != nil {
		return err
	}
	logf("scale restart: %d namespaces synced %s after the RegistryCredentials were created; operator writes: %s",
		len(namespaces), round(res.sync), b.audit.count(operatorUser, t0, time.Now()).breakdown())
	var err error
	if res.restartResult, err = b.restart(ctx, "scale restart"); err != nil {
		return err
	}
	res.cluster = b.clusterSize(ctx)
	b.res.scaleRestart = res
	t1 := time.Now()
	if err := b.deleteCredentials(ctx, rcs...); err != nil {
		return err
	}
	b.note("scale restart: deleting its %d RegistryCredentials (deletionPolicy Delete) took %s until they were gone and the operator wrote no more for %s; operator writes: %s",
		creds, round(time.Since(t1)), b.cfg.quiet, b.audit.count(operatorUser, t1, time.Now()).breakdown())
	return nil
}

// scenarioScaleFanout: one RegistryCredential selecting -scale-namespaces
// new namespaces, timed as a fan-out round, after a paired baseline trial
// over the same namespaces; then the operator's memory.
func (b *bench) scenarioScaleFanout(ctx context.Context) error {
	if err := b.clearCredentials(ctx); err != nil {
		return err
	}
	namespaces := namespaceNames(nsPrefix+"scale-", b.cfg.scaleNamespaces)
	logf("scale fan-out: %d namespaces", len(namespaces))
	if err := b.createWorld(ctx, namespaces, func(int) map[string]string { return map[string]string{labelScale: "fanout"} }); err != nil {
		return err
	}
	res := &scaleFanoutResult{namespaces: len(namespaces)}
	var err error
	if res.paired, err = b.pairedFanoutTrial(ctx, namespaces); err != nil {
		return err
	}
	rc := b.credential(scaleFanoutCredential, map[string]string{labelScale: "fanout"})
	logf("scale fan-out: creating RegistryCredential %q selecting %d namespaces", rc.Name, len(namespaces))
	t0 := time.Now()
	if res.round, err = b.fanoutRound(ctx, rc, targetName, namespaces); err != nil {
		return err
	}
	logf("scale fan-out: %d copies and %d ServiceAccount entries in %s (paired baseline %s); %s",
		len(namespaces), len(serviceAccounts)*len(namespaces), round(res.round.d), round(res.paired.d), res.round)
	statusAt, err := b.waitStatus(ctx, rc.Name, len(namespaces), b.generousFor(len(namespaces)))
	if err != nil {
		return err
	}
	res.status = statusAt.Sub(t0)
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generousFor(len(namespaces))); err != nil {
		return err
	}
	res.writes = b.audit.count(operatorUser, t0, time.Now())
	sleep(ctx, b.cfg.settle)
	if res.mem, err = b.memory(ctx); err != nil {
		return err
	}
	res.cluster = b.clusterSize(ctx)
	b.res.scaleFanout = res
	logf("scale fan-out: status Ready after %s; operator writes: %s (409 conflicts %d); operator %s, peak RSS %s; %s",
		round(res.status), res.writes.breakdown(), res.writes.conflicts, res.mem, mib(res.mem.peak), res.cluster)
	return nil
}

// credential is a RegistryCredential for the bench's source, with the
// default copy name, selecting namespaces by labels; deletionPolicy Delete,
// so deleting it leaves nothing behind.
func (b *bench) credential(name string, labels map[string]string) *registryv1alpha1.RegistryCredential {
	return &registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: registryv1alpha1.RegistryCredentialSpec{
			Server:            server,
			SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: sourceName},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: labels},
			DeletionPolicy:    registryv1alpha1.DeletionPolicyDelete,
		},
	}
}

// clearCredentials deletes every RegistryCredential there is (those the
// normal scenarios left) and waits until they are gone.
func (b *bench) clearCredentials(ctx context.Context) error {
	list := &registryv1alpha1.RegistryCredentialList{}
	if err := b.crc.List(ctx, list); err != nil {
		return err
	}
	if len(list.Items) == 0 {
		return nil
	}
	rcs := make([]*registryv1alpha1.RegistryCredential, len(list.Items))
	for i := range list.Items {
		rcs[i] = &list.Items[i]
	}
	logf("deleting the %d RegistryCredentials of the earlier scenarios", len(rcs))
	t0 := time.Now()
	if err := b.deleteCredentials(ctx, rcs...); err != nil {
		return err
	}
	logf("deleted in %s; operator writes: %s", round(time.Since(t0)), b.audit.count(operatorUser, t0, time.Now()).breakdown())
	return nil
}

// clusterSize says how many namespaces and ServiceAccounts the cluster
// holds (the operator caches every one of them).
func (b *bench) clusterSize(ctx context.Context) string {
	one := metav1.ListOptions{Limit: 1}
	count := func(l runtime.Object, err error) int {
		if err != nil {
			return -1
		}
		n := apimeta.LenList(l)
		if r := l.(metav1.ListInterface).GetRemainingItemCount(); r != nil {
			n += int(*r)
		}
		return n
	}
	return fmt.Sprintf("the cluster held %d namespaces and %d ServiceAccounts, all in the operator's cache",
		count(b.admin.CoreV1().Namespaces().List(ctx, one)), count(b.admin.CoreV1().ServiceAccounts("").List(ctx, one)))
}
