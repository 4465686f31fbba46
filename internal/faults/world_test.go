//go:build faults

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

package faults

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/selection"
)

var seq atomic.Int64

// world is one case's namespaces, source and RegistryCredential.
type world struct {
	t      testing.TB
	group  string
	nss    []string
	source *corev1.Secret
	rc     string
	target string
	// foreign are Secrets the operator must never change: one per 10
	// namespaces, holding other names.
	foreign []*corev1.Secret
	// others are the entries other writers keep on each ServiceAccount
	// ("ns/name"), in order; the operator's goes after them.
	mu     sync.Mutex
	others map[string][]string
}

// newWorld makes n namespaces, each with the default ServiceAccount and one
// called "app" that already lists a pull secret of its own, a source, and
// every tenth namespace a Secret of its own.
func newWorld(t testing.TB, n int) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, group: fmt.Sprintf("f%d-%d", time.Now().Unix()%100000, seq.Add(1)), others: map[string][]string{}}
	w.target = "regcred-" + w.group
	w.source = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "src-" + w.group, Namespace: sourceNS},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerConfig("robot", password)},
	}
	must(t, suite.k8s.Create(ctx, w.source))
	for i := range n {
		ns := fmt.Sprintf("%s-%03d", w.group, i)
		must(t, suite.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"fault": w.group}}}))
		must(t, suite.k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "app-own"}}}))
		w.others[ns+"/app"] = []string{"app-own"}
		w.others[ns+"/default"] = nil
		if i%10 == 0 {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users-own", Namespace: ns, Labels: map[string]string{"owner": "user"}},
				Data: map[string][]byte{"k": []byte("v")}}
			must(t, suite.k8s.Create(ctx, s))
			w.foreign = append(w.foreign, s)
		}
		w.nss = append(w.nss, ns)
	}
	waitFor(t, 2*time.Minute, "default ServiceAccounts", func() error {
		list := &corev1.ServiceAccountList{}
		if err := suite.k8s.List(ctx, list); err != nil {
			return err
		}
		have := 0
		for _, sa := range list.Items {
			if sa.Name == "default" && strings.HasPrefix(sa.Namespace, w.group+"-") {
				have++
			}
		}
		if have < n {
			return fmt.Errorf("%d/%d", have, n)
		}
		return nil
	})
	return w
}

func dockerConfig(user, pass string) []byte {
	return []byte(fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`, server, user, pass))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// createCredential creates the RegistryCredential selecting the world.
func (w *world) createCredential(policy registryv1alpha1.DeletionPolicy) {
	w.t.Helper()
	w.rc = "rc-" + w.group
	must(w.t, suite.k8s.Create(context.Background(), &registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: w.rc},
		Spec: registryv1alpha1.RegistryCredentialSpec{
			Server:            server,
			SecretRef:         registryv1alpha1.SecretReference{Namespace: sourceNS, Name: w.source.Name},
			TargetSecretName:  w.target,
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"fault": w.group}},
			DeletionPolicy:    policy,
		},
	}))
}

// copies counts the copies that exist now.
func (w *world) copies() int {
	list := &corev1.SecretList{}
	if err := suite.k8s.List(context.Background(), list, client.MatchingLabels{"registry.regcred.dev/credential": w.rc}); err != nil {
		return 0
	}
	return len(list.Items)
}

// waitCopies waits until at least n copies exist: a fan-out under way.
func (w *world) waitCopies(n int) {
	w.t.Helper()
	waitFor(w.t, time.Minute, "copies being made", func() error {
		if c := w.copies(); c < n {
			return fmt.Errorf("%d copies", c)
		}
		return nil
	})
}

// setOthers records what another writer now keeps on a ServiceAccount.
func (w *world) setOthers(key string, entries []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.others[key] = entries
}

func (w *world) othersOf(key string) ([]string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.others[key]
	return slices.Clone(e), ok
}

// check is the whole-cluster check. present: the RegistryCredential exists
// and every selected namespace must be served; otherwise nothing of it may
// be left. It returns the first thing that is not as it should be.
func (w *world) check(present bool) error {
	ctx := context.Background()
	src := &corev1.Secret{}
	if err := suite.k8s.Get(ctx, client.ObjectKeyFromObject(w.source), src); err != nil {
		return err
	}
	var rc *registryv1alpha1.RegistryCredential
	if present {
		rc = &registryv1alpha1.RegistryCredential{}
		if err := suite.k8s.Get(ctx, client.ObjectKey{Name: w.rc}, rc); err != nil {
			return err
		}
	} else if err := suite.k8s.Get(ctx, client.ObjectKey{Name: w.rc}, &registryv1alpha1.RegistryCredential{}); !apierrors.IsNotFound(err) {
		return fmt.Errorf("RegistryCredential still there (%v)", err)
	}
	nss := &corev1.NamespaceList{}
	if err := suite.k8s.List(ctx, nss, client.MatchingLabels{"fault": w.group}); err != nil {
		return err
	}
	selected := map[string]bool{}
	for _, ns := range nss.Items {
		if !selection.Terminating(&ns) {
			selected[ns.Name] = present
		}
	}
	// copies: exactly one per selected namespace, ours, current; none elsewhere.
	secrets := &corev1.SecretList{}
	if err := suite.k8s.List(ctx, secrets); err != nil {
		return err
	}
	served := map[string]bool{}
	for _, s := range secrets.Items {
		ref := metav1.GetControllerOf(&s)
		ours := ref != nil && ref.Kind == "RegistryCredential" && ref.Name == w.rc
		if !ours {
			continue
		}
		switch {
		case !selected[s.Namespace]:
			return fmt.Errorf("copy %s/%s where none should be", s.Namespace, s.Name)
		case rc != nil && ref.UID != rc.UID:
			return fmt.Errorf("copy %s/%s of another UID", s.Namespace, s.Name)
		case s.Name != w.target:
			return fmt.Errorf("copy %s/%s under a stale name", s.Namespace, s.Name)
		case !bytes.Equal(s.Data[corev1.DockerConfigJsonKey], src.Data[corev1.DockerConfigJsonKey]):
			return fmt.Errorf("copy %s/%s is not current", s.Namespace, s.Name)
		}
		served[s.Namespace] = true
	}
	for ns, sel := range selected {
		if sel && !served[ns] {
			return fmt.Errorf("no copy in %s", ns)
		}
	}
	// ServiceAccounts: others' entries in order, ours once after them (or gone).
	sas := &corev1.ServiceAccountList{}
	if err := suite.k8s.List(ctx, sas); err != nil {
		return err
	}
	listing := int32(0)
	for _, sa := range sas.Items {
		want, tracked := w.othersOf(sa.Namespace + "/" + sa.Name)
		if !tracked {
			continue
		}
		if selected[sa.Namespace] {
			listing++
		}
		if selected[sa.Namespace] {
			want = append(want, w.target)
		}
		var got []string
		for _, r := range sa.ImagePullSecrets {
			got = append(got, r.Name)
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("ServiceAccount %s/%s lists %v, want %v", sa.Namespace, sa.Name, got, want)
		}
		for k := range sa.Annotations {
			if strings.HasSuffix(k, "/"+w.rc) && !selected[sa.Namespace] {
				return fmt.Errorf("ServiceAccount %s/%s keeps our record", sa.Namespace, sa.Name)
			}
		}
	}
	// Secrets we do not own: untouched.
	for _, f := range w.foreign {
		got := &corev1.Secret{}
		if err := suite.k8s.Get(ctx, client.ObjectKeyFromObject(f), got); err != nil {
			if apierrors.IsNotFound(err) && !selected[f.Namespace] {
				continue // its namespace was deleted
			}
			return fmt.Errorf("foreign Secret %s/%s: %w", f.Namespace, f.Name, err)
		}
		if got.ResourceVersion != f.ResourceVersion {
			return fmt.Errorf("foreign Secret %s/%s changed", f.Namespace, f.Name)
		}
	}
	if rc == nil {
		return nil
	}
	n := int32(0)
	for _, sel := range selected {
		if sel {
			n++
		}
	}
	ready := apimeta.FindStatusCondition(rc.Status.Conditions, registryv1alpha1.ConditionReady)
	switch {
	case ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != rc.Generation:
		return fmt.Errorf("not Ready: %+v", ready)
	case rc.Status.SelectedNamespaces != n || rc.Status.SyncedNamespaces != n || rc.Status.FailedNamespaces != 0:
		return fmt.Errorf("status counts %d/%d (failed %d: %+v), want %d/%d", rc.Status.SyncedNamespaces, rc.Status.SelectedNamespaces, rc.Status.FailedNamespaces, rc.Status.Failures, n, n)
	case rc.Status.PatchedServiceAccounts != listing:
		return fmt.Errorf("patched ServiceAccounts %d, want %d", rc.Status.PatchedServiceAccounts, listing)
	}
	return nil
}

// converge waits for the whole-cluster check and logs how long it took
// from from, and how many times the replicas ops were restarted after
// exiting on their own.
func (w *world) converge(what string, present bool, from time.Time, ops ...*operator) time.Duration {
	w.t.Helper()
	return w.convergeWithin(0, what, present, from, ops...)
}

// convergeWithin is converge with a target (0: none): the test fails when
// it took longer.
func (w *world) convergeWithin(target time.Duration, what string, present bool, from time.Time, ops ...*operator) time.Duration {
	w.t.Helper()
	// the last thing still wrong, and when: what the convergence waited for.
	var last string
	var lastAt time.Time
	var firstCheck time.Duration
	waitFor(w.t, 3*time.Minute, what, func() error {
		began := time.Now()
		err := w.check(present)
		if firstCheck == 0 {
			firstCheck = time.Since(began)
		}
		if err != nil {
			last, lastAt = err.Error(), time.Now()
		}
		return err
	})
	d := time.Since(from)
	var notes []string
	notes = append(notes, fmt.Sprintf("first check took %v", firstCheck.Round(time.Millisecond)))
	if last != "" {
		notes = append(notes, fmt.Sprintf("last waited for at +%v: %s", lastAt.Sub(from).Round(time.Millisecond), truncateNote(last, 160)))
	}
	if target > 0 {
		notes = append(notes, targetNote(d, target))
	}
	for _, o := range ops {
		notes = append(notes, fmt.Sprintf("%s restarted %d times", o.name, o.restartCount()))
	}
	note := ""
	if len(notes) > 0 {
		note = " (" + strings.Join(notes, "; ") + ")"
	}
	w.t.Logf("CONVERGED %s: %v%s", what, d.Round(time.Millisecond), note)
	return d
}

// rotate changes the source's password.
func (w *world) rotate(pass string) {
	w.t.Helper()
	must(w.t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &corev1.Secret{}
		if err := suite.k8s.Get(context.Background(), client.ObjectKeyFromObject(w.source), s); err != nil {
			return err
		}
		s.Data[corev1.DockerConfigJsonKey] = dockerConfig("robot", pass)
		return suite.k8s.Update(context.Background(), s)
	}))
}

// deleteCredential deletes the RegistryCredential (not waiting).
func (w *world) deleteCredential() {
	w.t.Helper()
	must(w.t, suite.k8s.Delete(context.Background(), &registryv1alpha1.RegistryCredential{ObjectMeta: metav1.ObjectMeta{Name: w.rc}}))
}

// truncateNote shortens s to n bytes for a log line.
func truncateNote(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// targetNote says whether a measured time met its target. Times are
// printed for CI's log, not asserted: a fault case fails when the world
// does not converge at all, never on the machine's speed.
func targetNote(d, target time.Duration) string {
	if d <= target {
		return fmt.Sprintf("target %v: met", target)
	}
	return fmt.Sprintf("target %v: MISSED", target)
}
