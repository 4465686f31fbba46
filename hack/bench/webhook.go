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
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

const (
	podNS        = nsPrefix + "pods"     // the webhook is called for Pods here
	podNSOff     = nsPrefix + "pods-off" // opted out: the API server does not call it
	labelWebhook = "bench.regcred.dev/webhook"
	labelOptOut  = "registry.regcred.dev/inject"
	extraSource  = "regcred-extra"
	extraPrefix  = "bench-extra-"
	podImage     = server + "/team/app:1.0"
)

type webhookRun struct {
	credentials int
	lat         *latencies
	rate        float64 // Pods/s
	injected    int
	pods        int
	// means over the run, from histograms' _sum/_count: the webhook call as
	// the API server times it, and the handler inside the operator.
	apiserverCall, handler time.Duration
	// operatorCores is the operator's CPU over the timed creates, in cores.
	operatorCores float64
}

// webhookPair is one measurement and the baseline measured right before it
// (same number of Pods, webhook not called), so drift between runs does not
// show up as webhook cost.
type webhookPair struct {
	ours, base webhookRun
}

type webhookResult struct {
	skipped string
	runs    []webhookPair
}

// scenarioWebhook: admission latency of Pod CREATE through the real API
// server at -pod-concurrency concurrent creators, with 1, 10 and 100
// RegistryCredentials, beside the same creates in a namespace the webhook is
// not called for.
func (b *bench) scenarioWebhook(ctx context.Context) error {
	res := &webhookResult{}
	b.res.webhook = res
	switch {
	case !b.features.podWebhook:
		res.skipped = "n/a (no --enable-pod-webhook)"
		logf("webhook: the operator binary has no --enable-pod-webhook; skipped")
		return nil
	case b.webhookOpts == nil:
		res.skipped = "n/a (no config/webhook/manifests.yaml)"
		logf("webhook: config/webhook/manifests.yaml missing; skipped")
		return nil
	}
	o := b.webhookOpts
	logf("webhook: restarting the operator with the Pod webhook on %s:%d", o.LocalServingHost, o.LocalServingPort)
	b.op.stop(30 * time.Second)
	if err := b.startOperator(ctx, []string{
		"--enable-pod-webhook=true",
		"--enable-cert-rotation=false",
		"--webhook-port=" + strconv.Itoa(o.LocalServingPort),
		"--webhook-cert-path=" + o.LocalServingCertDir,
	}); err != nil {
		return err
	}
	if err := waitTLS(ctx, net.JoinHostPort(o.LocalServingHost, strconv.Itoa(o.LocalServingPort)), time.Minute); err != nil {
		return err
	}

	nss := []string{podNS, podNSOff}
	w := b.obs.watch(nss, b.obs.synced)
	if err := b.createNamespace(ctx, podNS, map[string]string{labelTarget: "true", labelWebhook: "true"}); err != nil {
		return err
	}
	if err := b.createNamespace(ctx, podNSOff, map[string]string{labelTarget: "true", labelWebhook: "true", labelOptOut: "false"}); err != nil {
		return err
	}
	if _, err := b.obs.wait(ctx, w, time.Minute); err != nil {
		return err
	}

	extras := 0
	for _, total := range []int{1, 10, 100} {
		if want := total - 1; want > extras {
			if err := b.addExtraCredentials(ctx, extras, want); err != nil {
				return err
			}
			extras = want
		}
		base, err := b.createPods(ctx, podNSOff, 0)
		if err != nil {
			return err
		}
		var waitProfile func()
		if total == 100 {
			waitProfile = b.profile(ctx, "webhook", 3*time.Second)
		}
		before := b.webhookSums(ctx)
		run, err := b.createPods(ctx, podNS, total)
		if err != nil {
			return err
		}
		after := b.webhookSums(ctx)
		run.apiserverCall, run.handler = after.sub(before)
		if waitProfile != nil {
			waitProfile()
		}
		res.runs = append(res.runs, webhookPair{ours: run, base: base})
		logf("webhook: %d RegistryCredential(s): p50 %s p99 %s, %.0f Pods/s, %d/%d Pods got the secret injected; not called: p50 %s p99 %s, %.0f Pods/s; mean webhook call (API server) %s, handler (operator) %s; operator CPU %.2f cores (%.2f while not called)",
			total, round(run.lat.p50), round(run.lat.p99), run.rate, run.injected, run.pods, round(base.lat.p50), round(base.lat.p99), base.rate,
			round(run.apiserverCall), round(run.handler), run.operatorCores, base.operatorCores)
	}
	return nil
}

// webhookSums are histogram sums and counts of the webhook's latency.
type webhookSums struct {
	apiSum, apiCount, handlerSum, handlerCount float64
}

func (b *bench) webhookSums(ctx context.Context) webhookSums {
	var w webhookSums
	if raw, err := b.admin.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx); err == nil {
		m := promText(raw)
		w.apiSum, _ = m.sum("apiserver_admission_webhook_admission_duration_seconds_sum", "name", "mpod.registry.regcred.dev")
		w.apiCount, _ = m.sum("apiserver_admission_webhook_admission_duration_seconds_count", "name", "mpod.registry.regcred.dev")
	}
	if m, err := b.op.metrics(ctx); err == nil {
		w.handlerSum, _ = m.sum("controller_runtime_webhook_latency_seconds_sum", "webhook", "/mutate-v1-pod")
		w.handlerCount, _ = m.sum("controller_runtime_webhook_latency_seconds_count", "webhook", "/mutate-v1-pod")
	}
	return w
}

// sub returns the mean API server call and handler time between two samples.
func (w webhookSums) sub(before webhookSums) (apiserver, handler time.Duration) {
	mean := func(sum, count float64) time.Duration {
		if count <= 0 {
			return 0
		}
		return time.Duration(sum / count * float64(time.Second))
	}
	return mean(w.apiSum-before.apiSum, w.apiCount-before.apiCount), mean(w.handlerSum-before.handlerSum, w.handlerCount-before.handlerCount)
}

func waitTLS(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a readiness probe
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook server at %s not serving after %s: %w", addr, timeout, err)
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// addExtraCredentials creates RegistryCredentials from..to-1 for other
// registries (so they never match the Pods' image), selecting the two Pod
// namespaces and patching no ServiceAccount, and waits until the operator
// has reconciled them (Ready), which means its cache holds them.
func (b *bench) addExtraCredentials(ctx context.Context, from, to int) error {
	if from == 0 {
		servers := make([]string, 0, 99)
		for i := range 99 {
			servers = append(servers, fmt.Sprintf("registry-%d.example.org", i))
		}
		if _, err := b.admin.CoreV1().Secrets(sourceNS).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: extraSource, Namespace: sourceNS},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(dockerConfig("bench", "extra", servers...))},
		}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	logf("webhook: adding RegistryCredentials up to %d", to+1)
	if _, err := pool(ctx, 8, to-from, func(ctx context.Context, i int) error {
		i += from
		return b.crc.Create(ctx, &registryv1alpha1.RegistryCredential{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s%03d", extraPrefix, i)},
			Spec: registryv1alpha1.RegistryCredentialSpec{
				Server:            fmt.Sprintf("registry-%d.example.org", i),
				SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: extraSource},
				TargetSecretName:  fmt.Sprintf("%s%03d", extraSource, i),
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelWebhook: "true"}},
				ServiceAccounts:   []string{},
			},
		})
	}); err != nil {
		return err
	}
	deadline := time.Now().Add(b.generous())
	for {
		list := &registryv1alpha1.RegistryCredentialList{}
		if err := b.crc.List(ctx, list); err != nil {
			return err
		}
		ready := 0
		for i := range list.Items {
			if apimeta.IsStatusConditionTrue(list.Items[i].Status.Conditions, registryv1alpha1.ConditionReady) {
				ready++
			}
		}
		if ready >= to+1 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d RegistryCredentials Ready", ready, to+1)
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	return b.audit.quiet(ctx, operatorUser, b.cfg.quiet, b.generous())
}

// createPods creates -pods Pods (after a warm-up) with -pod-concurrency
// creators and returns the latency of each create as the client sees it.
func (b *bench) createPods(ctx context.Context, ns string, credentials int) (webhookRun, error) {
	pod := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"},
			Spec: corev1.PodSpec{
				// Pods that name their own pull secret: the ServiceAccount's
				// list is not copied in, so the webhook has work to do.
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: "team-pull"}},
				Containers: []corev1.Container{
					{Name: "app", Image: podImage},
					{Name: "sidecar", Image: "busybox:1.36"},
				},
			},
		}
	}
	conc := b.cfg.podConcurrency
	if _, err := pool(ctx, conc, 2*conc, func(ctx context.Context, _ int) error {
		_, err := b.admin.CoreV1().Pods(ns).Create(ctx, pod(), metav1.CreateOptions{})
		return err
	}); err != nil {
		return webhookRun{}, fmt.Errorf("creating Pods in %s: %w", ns, err)
	}
	lat := make([]time.Duration, b.cfg.pods)
	var injected atomic.Int64
	var mu sync.Mutex
	cpu := sampleCPU(b.opPID())
	d, err := pool(ctx, conc, b.cfg.pods, func(ctx context.Context, i int) error {
		t0 := time.Now()
		out, err := b.admin.CoreV1().Pods(ns).Create(ctx, pod(), metav1.CreateOptions{})
		if err != nil {
			return err
		}
		mu.Lock()
		lat[i] = time.Since(t0)
		mu.Unlock()
		for _, ref := range out.Spec.ImagePullSecrets {
			if ref.Name == targetName {
				injected.Add(1)
			}
		}
		return nil
	})
	used := cpu.since(b.opPID())
	if err != nil {
		return webhookRun{}, fmt.Errorf("creating Pods in %s: %w", ns, err)
	}
	return webhookRun{credentials: credentials, lat: summarize(lat), rate: float64(b.cfg.pods) / d.Seconds(),
		injected: int(injected.Load()), pods: b.cfg.pods, operatorCores: used.procs["operator"].Seconds() / used.wall.Seconds()}, nil
}
