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
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// The baselines make the writes the operator makes, against the same N
// namespaces, as a plain client-go program would, with no client-side rate
// limit and a flat pool of workers over all writes:
//
//   - fan-out: create N Secrets (the copy's size, labels and annotations) and
//     patch 3N ServiceAccounts with a JSON merge patch that carries the
//     resourceVersion (optimistic lock), the whole imagePullSecrets list and a
//     record annotation, as the operator does;
//   - rotation: update (PUT) N such Secrets with new data.
//
// Calibration, before the operator starts: each is tried with every -workers
// count over protobuf (the operator's wire format for built-in types), then
// over JSON with the best count. Paired trials: the fastest configuration
// runs again right before each of the operator's rounds, so that both sample
// the same minutes of this VM, whose speed drifts by tens of percent; the
// table compares the medians of the rounds and of the paired trials. No
// operator runs during a fan-out trial (it watches every ServiceAccount, so
// it would receive the baseline's patches): it is stopped for the paired
// trial and started again before its round. It runs during the paired
// rotation trials, whose Secrets it does not watch.
//
// The bench's own watch (which times the operator) watches the baseline's
// Secrets as it watches the copies, so both pay the API server the same for
// it. Every fan-out trial writes different names and is undone afterwards,
// so each one is a fresh fan-out on the same world.

func (b *bench) baselineClient(contentType string) (kubernetes.Interface, error) {
	if contentType == "protobuf" {
		return kubernetes.NewForConfig(protobuf(b.baseCfg))
	}
	return kubernetes.NewForConfig(b.baseCfg)
}

// baselineSecrets are the Secrets of a fan-out trial, or those the rotation
// trials update.
type baselineSecrets []*corev1.Secret

// baselineFanoutTrial creates a Secret in each of the namespaces and patches
// their 3 ServiceAccounts each with workers over ct, times it, and undoes it
// (untimed).
func (b *bench) baselineFanoutTrial(ctx context.Context, namespaces []string, workers int, ct string) (trial, error) {
	b.trialN++
	name := fmt.Sprintf("bl-fanout-%d", b.trialN)
	cs, err := b.baselineClient(ct)
	if err != nil {
		return trial{}, err
	}
	sas, err := b.listServiceAccounts(ctx)
	if err != nil {
		return trial{}, err
	}
	secrets := make(baselineSecrets, len(namespaces))
	jobs := 4 * len(namespaces)
	waitProfile := func() {}
	if b.trialN == 1 {
		waitProfile = b.profile(ctx, "baseline-fanout", 4*time.Second)
	}
	cpu0 := sampleCPU(b.opPID())
	t0 := time.Now()
	d, err := pool(ctx, workers, jobs, func(ctx context.Context, i int) error {
		ns := namespaces[i/4]
		if i%4 == 0 {
			s, err := cs.CoreV1().Secrets(ns).Create(ctx, b.baselineSecret(ns, name), metav1.CreateOptions{FieldManager: baselineUser})
			secrets[i/4] = s
			return err
		}
		sa := sas[ns][serviceAccounts[i%4-1]]
		if sa == nil {
			return fmt.Errorf("no ServiceAccount %s/%s", ns, serviceAccounts[i%4-1])
		}
		_, err := cs.CoreV1().ServiceAccounts(ns).Patch(ctx, sa.Name, types.MergePatchType, saPatch(sa, name), metav1.PatchOptions{FieldManager: baselineUser})
		return err
	})
	if err != nil {
		return trial{}, err
	}
	cpu := cpu0.since(b.opPID())
	waitProfile() // before the untimed undo, which it would count
	b.audit.sync(ctx, time.Now())
	writes := b.audit.count(baselineUser, t0, time.Now()).writes
	if err := b.undoFanout(ctx, namespaces, sas, secrets, name); err != nil {
		return trial{}, err
	}
	logf("baseline fan-out: %d writes (%d seen in the audit log) with %d workers over %s: %s (%.0f writes/s); %s",
		jobs, writes, workers, ct, round(d), float64(jobs)/d.Seconds(), cpu)
	return trial{d: d, workers: workers, contentType: ct, writes: writes, cpu: cpu}, nil
}

// baselineRotationTrial updates (PUT) the N rotation Secrets with new data.
func (b *bench) baselineRotationTrial(ctx context.Context, workers int, ct string) (trial, error) {
	b.trialN++
	if b.rotationSet == nil {
		var err error
		if b.rotationSet, err = b.rotationSecrets(ctx); err != nil {
			return trial{}, err
		}
	}
	last := b.rotationSet
	cs, err := b.baselineClient(ct)
	if err != nil {
		return trial{}, err
	}
	data := []byte(dockerConfig("bench", fmt.Sprintf("baseline-%d", b.trialN), server))
	cpu0 := sampleCPU(b.opPID())
	t0 := time.Now()
	d, err := pool(ctx, workers, len(last), func(ctx context.Context, i int) error {
		s := last[i].DeepCopy()
		s.Data = map[string][]byte{corev1.DockerConfigJsonKey: data}
		out, err := cs.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{FieldManager: baselineUser})
		if err == nil {
			last[i] = out
		}
		return err
	})
	if err != nil {
		return trial{}, err
	}
	cpu := cpu0.since(b.opPID())
	b.audit.sync(ctx, time.Now())
	writes := b.audit.count(baselineUser, t0, time.Now()).writes
	logf("baseline rotation: %d updates (%d seen in the audit log) with %d workers over %s: %s (%.0f writes/s); %s",
		len(last), writes, workers, ct, round(d), float64(len(last))/d.Seconds(), cpu)
	return trial{d: d, workers: workers, contentType: ct, writes: writes, cpu: cpu}, nil
}

// deleteRotationSecrets removes the rotation trials' Secrets (untimed).
func (b *bench) deleteRotationSecrets(ctx context.Context) error {
	set := b.rotationSet
	b.rotationSet = nil
	_, err := pool(ctx, 64, len(set), func(ctx context.Context, i int) error {
		return b.admin.CoreV1().Secrets(set[i].Namespace).Delete(ctx, set[i].Name, metav1.DeleteOptions{})
	})
	return err
}

// runBaselines calibrates the baselines before the operator starts, with
// nothing else competing for the two cores: every -workers count over
// protobuf, then the best count over JSON. The fastest configuration is the
// one the paired trials (run beside the operator's rounds) use.
func (b *bench) runBaselines(ctx context.Context) error {
	best := func(kind string, run func(context.Context, int, string) (trial, error)) (trial, error) {
		var top trial
		note := func(t trial) {
			b.res.baselineTrials = append(b.res.baselineTrials, fmt.Sprintf("%s %s x%d: %s", kind, t.contentType, t.workers, round(t.d)))
			if top.d == 0 || t.d < top.d {
				top = t
			}
		}
		for _, w := range b.cfg.workers {
			t, err := run(ctx, w, "protobuf")
			if err != nil {
				return trial{}, err
			}
			note(t)
		}
		t, err := run(ctx, top.workers, "json")
		if err != nil {
			return trial{}, err
		}
		note(t)
		return top, nil
	}
	var err error
	if b.cfg.scenarios["fanout"] || b.cfg.scenarios["scale-fanout"] {
		fanout := func(ctx context.Context, workers int, ct string) (trial, error) {
			return b.baselineFanoutTrial(ctx, b.namespaces, workers, ct)
		}
		if b.res.baselineFanout, err = best("fan-out", fanout); err != nil {
			return err
		}
	}
	if b.cfg.scenarios["rotation"] {
		if b.res.baselineRotation, err = best("rotation", b.baselineRotationTrial); err != nil {
			return err
		}
	}
	return nil
}

// undoFanout puts the world back as it was before a fan-out trial (untimed,
// as the admin, who is not audited): the ServiceAccounts get their
// imagePullSecrets back and lose the record, the Secrets go. So every trial,
// and the operator after them, starts from the same world.
func (b *bench) undoFanout(ctx context.Context, namespaces []string, sas map[string]map[string]*corev1.ServiceAccount, secrets baselineSecrets, name string) error {
	if _, err := pool(ctx, 64, 3*len(namespaces), func(ctx context.Context, i int) error {
		sa := sas[namespaces[i/3]][serviceAccounts[i%3]]
		var refs any // null: the field goes
		if len(sa.ImagePullSecrets) > 0 {
			refs = sa.ImagePullSecrets
		}
		p, _ := json.Marshal(map[string]any{
			"metadata":         map[string]any{"annotations": map[string]any{"pullsecret.registry.regcred.dev/" + name: nil}},
			"imagePullSecrets": refs,
		})
		_, err := b.admin.CoreV1().ServiceAccounts(sa.Namespace).Patch(ctx, sa.Name, types.MergePatchType, p, metav1.PatchOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("undoing a baseline fan-out: %w", err)
	}
	if _, err := pool(ctx, 64, len(secrets), func(ctx context.Context, i int) error {
		return b.admin.CoreV1().Secrets(secrets[i].Namespace).Delete(ctx, secrets[i].Name, metav1.DeleteOptions{})
	}); err != nil {
		return fmt.Errorf("undoing a baseline fan-out: %w", err)
	}
	return nil
}

// rotationSecrets creates (untimed, as the admin) the N Secrets the rotation
// trials update.
func (b *bench) rotationSecrets(ctx context.Context) (baselineSecrets, error) {
	out := make(baselineSecrets, len(b.namespaces))
	_, err := pool(ctx, 64, len(b.namespaces), func(ctx context.Context, i int) error {
		s, err := b.admin.CoreV1().Secrets(b.namespaces[i]).Create(ctx, b.baselineSecret(b.namespaces[i], "bl-rotation"), metav1.CreateOptions{})
		out[i] = s
		return err
	})
	return out, err
}

// baselineSecret is shaped like a copy (same data, type, labels and
// annotation sizes), with labels that keep it out of the operator's cache.
func (b *bench) baselineSecret(ns, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: ns,
			Labels: map[string]string{
				labelManagedBy:                    baselineValue,
				"registry.regcred.dev/credential": credentialName,
			},
			Annotations: map[string]string{"registry.regcred.dev/source": sourceNS + "/" + sourceName},
		},
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(b.sourceData)},
	}
}

// saPatch adds name to the ServiceAccount's imagePullSecrets as the operator
// does: the whole (atomic) list, a record annotation, and the
// resourceVersion read, so a concurrent change fails instead of being lost.
func saPatch(sa *corev1.ServiceAccount, name string) []byte {
	refs := append(append([]corev1.LocalObjectReference{}, sa.ImagePullSecrets...), corev1.LocalObjectReference{Name: name})
	p, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"resourceVersion": sa.ResourceVersion,
			"annotations":     map[string]string{"pullsecret.registry.regcred.dev/" + name: name},
		},
		"imagePullSecrets": refs,
	})
	return p
}

// listServiceAccounts reads every ServiceAccount once (not timed: the
// operator has them in its cache).
func (b *bench) listServiceAccounts(ctx context.Context) (map[string]map[string]*corev1.ServiceAccount, error) {
	out := map[string]map[string]*corev1.ServiceAccount{}
	list, err := b.admin.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		sa := &list.Items[i]
		if out[sa.Namespace] == nil {
			out[sa.Namespace] = map[string]*corev1.ServiceAccount{}
		}
		out[sa.Namespace][sa.Name] = sa
	}
	return out, nil
}
