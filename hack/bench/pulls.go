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
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// pullsResult is what watching Pods costs the operator: its memory over the
// same Pods with the Pod watch off and on.
type pullsResult struct {
	pods, failing int
	off, on       memSample
	allPhases     memSample     // --trace-pull-failures-all-phases
	traced        time.Duration // operator start (watch on) until the status counts every failing Pod
}

// pullsLimit is the target: the Pod watch costs at most this much
// more RSS over 10,000 Pods of which 100 fail to pull.
const pullsLimit = 20 << 20

func (x *pullsResult) row() row {
	d := x.on.rss - x.off.rss
	return row{
		fmt.Sprintf("11. Pod watch: operator RSS over %d Pods (%d Pending, failing to pull; the rest Running), --trace-pull-failures=false → true", x.pods, x.failing),
		fmt.Sprintf("%s → %s (%+.1f MiB; heap %s → %s); all %d failures in the status %s after start; every phase cached (--trace-pull-failures-all-phases): %s (%+.1f MiB; heap %s)",
			mib(x.off.rss), mib(x.on.rss), float64(d)/(1<<20), mib(x.off.heap), mib(x.on.heap), x.failing, round(x.traced),
			mib(x.allPhases.rss), float64(x.allPhases.rss-x.off.rss)/(1<<20), mib(x.allPhases.heap)),
		"-", "-", "≤ +20 MiB", passMark(x.on.rss > 0 && d <= pullsLimit),
	}
}

// pullMessage is what containerd reports for a registry that refuses the
// credential.
const pullMessage = `failed to pull and unpack image "` + podImage + `": failed to resolve reference "` + podImage +
	`": unexpected status from HEAD request to https://` + server + `/v2/team/app/manifests/1.0: 401 Unauthorized`

// scenarioPulls creates tracePods Pods in the selected namespaces, writes a
// kubelet's status on each (ErrImagePull and Pending on 1% of them, Running
// on the rest), and reads the operator's memory with the Pod watch off, on
// (the default: Pending Pods only) and on for every phase (three restarts
// over the same Pods), waiting with the watch on until the status counts
// every failure.
func (b *bench) scenarioPulls(ctx context.Context) error {
	x := &pullsResult{pods: b.cfg.tracePods, failing: max(1, b.cfg.tracePods/100)}
	logf("pulls: creating %d Pods in %d namespaces, %d of them failing to pull", x.pods, len(b.namespaces), x.failing)
	t0 := time.Now()
	_, err := pool(ctx, 32, x.pods, func(ctx context.Context, i int) error {
		ns := b.namespaces[i%len(b.namespaces)]
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("trace-%05d", i), Namespace: ns,
				Labels: map[string]string{"app": "trace", "pod-template-hash": "5d8f7c9b6"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: podImage,
				Env:       []corev1.EnvVar{{Name: "MODE", Value: "bench"}},
				Resources: corev1.ResourceRequirements{},
			}}},
		}
		created, err := b.admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		// As a kubelet would write it: 1% wait on a refused pull, the rest run.
		status := corev1.ContainerStatus{Name: "app", Image: podImage, ImageID: podImage + "@sha256:" + strings.Repeat("ab", 32), Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}
		created.Status.Phase = corev1.PodRunning
		if i%100 == 0 {
			created.Status.Phase = corev1.PodPending
			status = corev1.ContainerStatus{Name: "app", Image: podImage,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: pullMessage}}}
		}
		created.Status.ContainerStatuses = []corev1.ContainerStatus{status}
		_, err = b.admin.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return err
	}
	logf("pulls: created in %s", round(time.Since(t0)))
	defer b.deletePods(ctx)

	// Off: today's operator (no Pod watch).
	if err := b.restartWith(ctx, "--trace-pull-failures=false"); err != nil {
		return err
	}
	sleep(ctx, b.cfg.settle)
	if x.off, err = b.memory(ctx); err != nil {
		return err
	}
	// On: the default.
	if err := b.restartWith(ctx, "--trace-pull-failures=true"); err != nil {
		return err
	}
	if x.traced, err = b.waitTraced(ctx, x.failing); err != nil {
		return err
	}
	if x.on, err = b.settledMemory(ctx); err != nil {
		return err
	}
	// Every phase (--trace-pull-failures-all-phases): every Pod is cached.
	if err := b.restartWith(ctx, "--trace-pull-failures-all-phases=true"); err != nil {
		return err
	}
	if _, err = b.waitTraced(ctx, x.failing); err != nil {
		return err
	}
	if x.allPhases, err = b.settledMemory(ctx); err != nil {
		return err
	}
	b.res.pulls = x
	logf("pulls: %s", x.row().ours)
	return nil
}

// waitTraced waits until the bench's RegistryCredential counts failing
// pull failures, and returns how long after the operator's start.
func (b *bench) waitTraced(ctx context.Context, failing int) (time.Duration, error) {
	start := b.op.startedAt()
	deadline := time.Now().Add(b.generous())
	for {
		rc := &registryv1alpha1.RegistryCredential{}
		if err := b.crc.Get(ctx, client.ObjectKey{Name: credentialName}, rc); err != nil {
			return 0, err
		}
		if pf := rc.Status.PullFailures; pf != nil && int(pf.Count) == failing {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) || !sleep(ctx, 200*time.Millisecond) {
			return 0, fmt.Errorf("status.pullFailures did not reach %d: %+v", failing, rc.Status.PullFailures)
		}
	}
}

// settledMemory reads the operator's memory once it makes no writes and
// after the settle pause.
func (b *bench) settledMemory(ctx context.Context) (memSample, error) {
	if err := b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous()); err != nil {
		return memSample{}, err
	}
	sleep(ctx, b.cfg.settle)
	return b.memory(ctx)
}

// restartWith restarts the operator with an extra flag (and the Pod webhook
// off, as in the other scenarios), and waits until it is idle.
func (b *bench) restartWith(ctx context.Context, flag string) error {
	b.op.stop(30 * time.Second)
	args, _, err := b.operatorArgs([]string{"--enable-pod-webhook=false", flag})
	if err != nil {
		return err
	}
	if err := b.op.start(args); err != nil {
		return err
	}
	if _, err := b.op.waitWorkers(ctx, 2*time.Minute); err != nil {
		return err
	}
	_, err = b.waitIdle(ctx, b.op.startedAt(), 0, idleStable, b.generous())
	return err
}

// deletePods removes the scenario's Pods.
func (b *bench) deletePods(ctx context.Context) {
	for _, ns := range b.namespaces {
		if err := b.admin.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)},
			metav1.ListOptions{LabelSelector: "app=trace"}); err != nil {
			logf("pulls: deleting Pods in %s: %v", ns, err)
		}
	}
}
