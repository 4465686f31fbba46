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

// The baselines run before the operator starts, against the same N
// namespaces, so that nothing else competes for the two cores. They make the
// writes the operator makes, as a plain client-go program would, with no
// client-side rate limit and a flat pool of workers over all writes:
//
//   - fan-out: create N Secrets (the copy's size, labels and annotations) and
//     patch 3N ServiceAccounts with a JSON merge patch that carries the
//     resourceVersion (optimistic lock), the whole imagePullSecrets list and a
//     record annotation, as the operator does;
//   - rotation: update (PUT) those N Secrets with new data.
//
// Each is tried with every -workers count over protobuf (the operator's wire
// format for built-in types), then over JSON with the best count; the
// fastest is the baseline. The bench's own watch (which times the operator)
// watches the baseline's Secrets as it watches the copies, so both pay the
// API server the same for it. Every fan-out trial writes different names and is
// undone afterwards, so each one is a fresh fan-out on the same world.

func (b *bench) baselineClient(contentType string) (kubernetes.Interface, error) {
	if contentType == "protobuf" {
		return kubernetes.NewForConfig(protobuf(b.baseCfg))
	}
	return kubernetes.NewForConfig(b.baseCfg)
}

// baselineSecrets are the Secrets of a fan-out trial, or those the rotation
// trials update.
type baselineSecrets []*corev1.Secret

func (b *bench) runBaselines(ctx context.Context) error {
	var last baselineSecrets
	trialN := 0
	fanout := func(workers int, ct string) (trial, error) {
		trialN++
		name := fmt.Sprintf("bl-fanout-%d", trialN)
		cs, err := b.baselineClient(ct)
		if err != nil {
			return trial{}, err
		}
		sas, err := b.listServiceAccounts(ctx)
		if err != nil {
			return trial{}, err
		}
		secrets := make(baselineSecrets, len(b.namespaces))
		jobs := 4 * len(b.namespaces)
		t0 := time.Now()
		d, err := pool(ctx, workers, jobs, func(ctx context.Context, i int) error {
			ns := b.namespaces[i/4]
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
		b.audit.sync(ctx, time.Now())
		writes := b.audit.count(baselineUser, t0, time.Now()).writes
		if err := b.undoFanout(ctx, sas, secrets, name); err != nil {
			return trial{}, err
		}
		tr := trial{d: d, workers: workers, contentType: ct, writes: writes}
		b.res.baselineTrials = append(b.res.baselineTrials, fmt.Sprintf("fan-out %s x%d: %s", ct, workers, round(d)))
		logf("baseline fan-out: %d writes (%d seen in the audit log) with %d workers over %s: %s (%.0f writes/s)",
			jobs, writes, workers, ct, round(d), float64(jobs)/d.Seconds())
		return tr, nil
	}
	rotation := func(workers int, ct string) (trial, error) {
		trialN++
		if last == nil {
			var err error
			if last, err = b.rotationSecrets(ctx); err != nil {
				return trial{}, err
			}
		}
		cs, err := b.baselineClient(ct)
		if err != nil {
			return trial{}, err
		}
		data := []byte(dockerConfig("bench", fmt.Sprintf("baseline-%d", trialN), server))
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
		b.audit.sync(ctx, time.Now())
		writes := b.audit.count(baselineUser, t0, time.Now()).writes
		b.res.baselineTrials = append(b.res.baselineTrials, fmt.Sprintf("rotation %s x%d: %s", ct, workers, round(d)))
		logf("baseline rotation: %d updates (%d seen in the audit log) with %d workers over %s: %s (%.0f writes/s)",
			len(last), writes, workers, ct, round(d), float64(len(last))/d.Seconds())
		return trial{d: d, workers: workers, contentType: ct, writes: writes}, nil
	}

	best := func(run func(int, string) (trial, error)) (trial, error) {
		var top trial
		for _, w := range b.cfg.workers {
			t, err := run(w, "protobuf")
			if err != nil {
				return trial{}, err
			}
			if top.d == 0 || t.d < top.d {
				top = t
			}
		}
		t, err := run(top.workers, "json")
		if err != nil {
			return trial{}, err
		}
		if t.d < top.d {
			top = t
		}
		return top, nil
	}
	var err error
	if b.res.baselineFanout, err = best(fanout); err != nil {
		return err
	}
	if b.cfg.scenarios["rotation"] {
		if b.res.baselineRotation, err = best(rotation); err != nil {
			return err
		}
		_, err = pool(ctx, 64, len(last), func(ctx context.Context, i int) error {
			return b.admin.CoreV1().Secrets(last[i].Namespace).Delete(ctx, last[i].Name, metav1.DeleteOptions{})
		})
	}
	return err
}

// undoFanout puts the world back as it was before a fan-out trial (untimed,
// as the admin, who is not audited): the ServiceAccounts get their
// imagePullSecrets back and lose the record, the Secrets go. So every trial,
// and the operator after them, starts from the same world.
func (b *bench) undoFanout(ctx context.Context, sas map[string]map[string]*corev1.ServiceAccount, secrets baselineSecrets, name string) error {
	if _, err := pool(ctx, 64, 3*len(b.namespaces), func(ctx context.Context, i int) error {
		sa := sas[b.namespaces[i/3]][serviceAccounts[i%3]]
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
