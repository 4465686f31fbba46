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
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// fanoutNamespaces is the size of the fan-outs the faults hit.
const fanoutNamespaces = 300

// outage is how long kube-apiserver and etcd are down.
const outage = 10 * time.Second

// The operator's leader election defaults (kube-controller-manager's), which
// the replicas run with: a leader that cannot renew for renewDeadline gives
// up and exits, and the kubelet (the harness) restarts it; a crashed
// leader's Lease is taken over after leaseDuration and up to a retry period
// and its jitter (client-go: up to 2.2 times it).
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// The targets.
const (
	// from the return of kube-apiserver after an outage of 10 s (the leader
	// lost its Lease and was restarted meanwhile; the pair back-off is
	// capped at 4 s).
	afterAPIServerTarget = 5 * time.Second
	// from the SIGKILL of the leader to convergence, restarted with the same
	// identity (it takes its Lease back at once).
	afterKillTarget = 5 * time.Second
	// from the SIGKILL of the leader to the other replica serving a new
	// namespace: leaseDuration, then its next retry.
	failoverTarget = 20 * time.Second
	// from a graceful stop (the Lease released) to another replica holding
	// the Lease: its next retry, 2.2 retry periods at most.
	gracefulTakeoverTarget = retryPeriod*22/10 + 500*time.Millisecond
)

// down waits out a fault's duration (the fault itself, not a wait for a
// condition).
func down(d time.Duration) { <-time.After(d) }

// 1. kube-apiserver stopped for 10 s in the middle of a fan-out.
// The leader cannot renew its Lease for longer than the renew deadline: it
// gives up and exits, and the harness restarts it as the kubelet would (at
// once, then with CrashLoopBackOff should it exit again).
func TestAPIServerStoppedDuringFanout(t *testing.T) {
	op := startOperator(t, "a")
	w := newWorld(t, fanoutNamespaces)
	w.createCredential(registryv1alpha1.DeletionPolicyDelete)
	w.waitCopies(30)
	stopped := time.Now()
	start, err := suite.env.StopAPIServer(context.Background())
	must(t, err)
	down(outage)
	must(t, start(context.Background()))
	back := time.Now()
	w.convergeWithin(afterAPIServerTarget, fmt.Sprintf("kube-apiserver stopped 10 s (unavailable %v) during a fan-out of 300, from its return",
		back.Sub(stopped).Round(100*time.Millisecond)), true, back, op)
}

// 2. The operator killed with SIGKILL during a fan-out and started again;
// a graceful restart after that makes no write.
func TestOperatorKilledDuringFanout(t *testing.T) {
	op := startOperator(t, "b1")
	w := newWorld(t, fanoutNamespaces)
	w.createCredential(registryv1alpha1.DeletionPolicyDelete)
	w.waitCopies(30)
	op.kill()
	killed := time.Now()
	// the same Pod's container restarted: the same identity, which takes
	// the Lease back at once.
	op = startOperatorAs(t, "b2", op.identity)
	w.convergeWithin(afterKillTarget, "operator SIGKILLed during a fan-out of 300 and restarted (same identity), from the kill", true, killed, op)
	op.waitIdle(t, time.Minute)

	op.stop()
	since := time.Now()
	op = startOperator(t, "b3")
	op.waitIdle(t, time.Minute)
	must(t, w.check(true))
	n, writes, err := auditWrites(since)
	must(t, err)
	t.Logf("graceful restart over the synced world: %d writes (Lease apart) %v", n, writes)
	if n != 0 {
		t.Fatalf("a graceful restart over a synced world wrote %d times: %v", n, writes)
	}
}

// 3. Two replicas: only the leader writes; SIGKILL the leader, and the other
// finishes a change made meanwhile; both serve the webhook; a graceful stop
// releases the Lease.
func TestLeaderFailover(t *testing.T) {
	a := startOperator(t, "c1", "--enable-pod-webhook=true")
	b := startOperator(t, "c2", "--enable-pod-webhook=true")
	w := newWorld(t, 50)
	w.createCredential(registryv1alpha1.DeletionPolicyDelete)
	w.converge("two replicas, 50 namespaces, from the start", true, time.Now())
	leader, standby := leaderOf(t, a, b)
	if h := leaseHolder(t); h != leader.identity {
		t.Errorf("the Lease is held by %q, the leader is %s", h, leader.identity)
	}
	if n, err := standby.writeRequests(); err != nil || n != 0 {
		t.Fatalf("the standby %s made %v write requests (%v)", standby.name, n, err)
	}
	for _, o := range []*operator{a, b} {
		assertInjects(t, o, w)
	}

	// SIGKILL the leader, then change something: a new selected namespace.
	leader.kill()
	killed := time.Now()
	ns := w.group + "-late"
	must(t, suite.k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"fault": w.group}}}))
	w.setOthers(ns+"/default", nil)
	waitFor(t, time.Minute, "the standby serves the new namespace", func() error {
		_, err := getSecret(ns, w.target)
		return err
	})
	took := time.Since(killed)
	t.Logf("FAILOVER after SIGKILL of the leader: the other replica served a namespace created meanwhile %v after the kill (%s; Lease duration %v, retry period %v)",
		took.Round(time.Millisecond), targetNote(took, failoverTarget), leaseDuration, retryPeriod)
	w.converge("after the leader's SIGKILL", true, killed, standby)
	assertInjects(t, standby, w)

	// a graceful stop releases the Lease: a third replica takes over at once.
	c := startOperator(t, "c3")
	if h := leaseHolder(t); h != standby.identity {
		t.Errorf("the Lease is held by %q, the leader is %s", h, standby.identity)
	}
	standby.stop()
	stopped := time.Now()
	waitFor(t, 30*time.Second, "the Lease taken over", func() error {
		if h := leaseHolder(t); h != c.identity {
			return fmt.Errorf("holder %q", h)
		}
		return nil
	})
	took = time.Since(stopped)
	t.Logf("FAILOVER after a graceful stop: Lease taken over %v after the old leader exited (%s: retry period %v and its jitter)",
		took.Round(time.Millisecond), targetNote(took, gracefulTakeoverTarget), retryPeriod)
}

func leaseHolder(t testing.TB) string {
	l := &coordinationv1.Lease{}
	if err := suite.k8s.Get(context.Background(), client.ObjectKey{Namespace: sourceNS, Name: leaseName}, l); err != nil {
		return ""
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// leaderOf tells which of the two replicas leads: the one whose write
// requests grow.
func leaderOf(t testing.TB, a, b *operator) (leader, standby *operator) {
	t.Helper()
	var wa, wb float64
	waitFor(t, 30*time.Second, "a leader", func() error {
		var err error
		if wa, err = a.writeRequests(); err != nil {
			return err
		}
		if wb, err = b.writeRequests(); err != nil {
			return err
		}
		if (wa > 0) == (wb > 0) {
			return fmt.Errorf("write requests %v and %v", wa, wb)
		}
		return nil
	})
	if wa > 0 {
		return a, b
	}
	return b, a
}

// assertInjects sends the replica's webhook an admission request for a Pod
// in a served namespace and expects the pull secret added.
func assertInjects(t testing.TB, o *operator, w *world) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: w.nss[0]},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: server + "/team/app:1"}}}}
	raw, _ := json.Marshal(pod)
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: w.nss[0],
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	}
	body, _ := json.Marshal(review)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the test's own self-signed certificate
	waitFor(t, 30*time.Second, "replica "+o.name+" injects", func() error {
		resp, err := hc.Post(fmt.Sprintf("https://127.0.0.1:%d/mutate-v1-pod", o.webhook), "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out := admissionv1.AdmissionReview{}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return err
		}
		if out.Response == nil || !out.Response.Allowed || !bytes.Contains(out.Response.Patch, []byte(w.target)) {
			return fmt.Errorf("response %+v", out.Response)
		}
		return nil
	})
}

func getSecret(ns, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	return s, suite.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s)
}

// 4. Another writer keeps rewriting its own entries on the same
// ServiceAccounts, with optimistic-lock updates, during a fan-out and during
// a withdrawal: its latest entries stay, no old one comes back, ours is
// there exactly once, then gone.
func TestConcurrentWriter(t *testing.T) {
	startOperator(t, "d")
	w := newWorld(t, 40)
	stop := w.otherWriter(t)
	w.createCredential(registryv1alpha1.DeletionPolicyDelete)
	w.waitCopies(len(w.nss)) // the writer keeps writing through the whole fan-out
	rounds := stop()
	t.Logf("the other writer made %d updates during the fan-out", rounds)
	w.converge("fan-out of 40 beside another writer, after the writer stopped", true, time.Now())

	stop = w.otherWriter(t)
	w.deleteCredential()
	// ...and through the whole withdrawal
	waitFor(t, time.Minute, "copies withdrawn", func() error {
		if c := w.copies(); c > 0 {
			return fmt.Errorf("%d copies left", c)
		}
		return nil
	})
	rounds = stop()
	t.Logf("the other writer made %d updates during the withdrawal", rounds)
	w.converge("withdrawal beside another writer, after the writer stopped", false, time.Now())
}

// otherWriter starts a writer that replaces its own entries ("other-N") on
// every "app" ServiceAccount of the world, over and over; stop ends it and
// returns how many updates it made.
func (w *world) otherWriter(t testing.TB) (stop func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	updates := 0
	for _, ns := range w.nss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for gen := 0; ctx.Err() == nil; gen++ {
				mine := []string{"app-own", fmt.Sprintf("other-%d", gen)}
				err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
					sa := &corev1.ServiceAccount{}
					if err := suite.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, sa); err != nil {
						return err
					}
					var refs []corev1.LocalObjectReference
					for _, name := range mine {
						refs = append(refs, corev1.LocalObjectReference{Name: name})
					}
					for _, r := range sa.ImagePullSecrets {
						if r.Name != "app-own" && !strings.HasPrefix(r.Name, "other-") {
							refs = append(refs, r) // keep what others (the operator) put there
						}
					}
					sa.ImagePullSecrets = refs
					// not ctx: a write cancelled in flight may still land,
					// and then it must be the one recorded.
					return suite.k8s.Update(context.Background(), sa)
				})
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("other writer in %s: %v", ns, err)
					}
					return
				}
				w.setOthers(ns+"/app", mine)
				mu.Lock()
				updates++
				mu.Unlock()
			}
		}()
	}
	return func() int {
		cancel()
		wg.Wait()
		return updates
	}
}

// 5. etcd paused (SIGSTOP) for 10 s during a rotation: it completes. The
// pause is as long as the renew deadline: the leader may or may not lose
// its Lease (then it exits and is restarted, as the kubelet would); the
// CONVERGED line says which.
func TestEtcdPausedDuringRotation(t *testing.T) {
	op := startOperator(t, "e")
	w := newWorld(t, 100)
	w.createCredential(registryv1alpha1.DeletionPolicyDelete)
	w.converge("fan-out of 100 before the rotation", true, time.Now())
	w.rotate("rotated-" + password)
	resume, err := suite.env.PauseEtcd()
	must(t, err)
	down(outage)
	must(t, resume())
	w.converge("rotation of 100 with etcd paused 10 s, from its resumption", true, time.Now(), op)
	if !op.running() {
		t.Error("the operator is not running")
	}
}

// 6. A RegistryCredential deleted during its fan-out leaves nothing; a
// namespace deleted during a fan-out leaves no error in the status.
func TestDeletedDuringFanout(t *testing.T) {
	startOperator(t, "f")
	w := newWorld(t, fanoutNamespaces)
	w.createCredential(registryv1alpha1.DeletionPolicyDelete)
	w.waitCopies(30)
	w.deleteCredential()
	w.converge("RegistryCredential deleted during its fan-out of 300: nothing left", false, time.Now())

	w2 := newWorld(t, 100)
	w2.createCredential(registryv1alpha1.DeletionPolicyDelete)
	w2.waitCopies(10)
	must(t, suite.k8s.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w2.nss[len(w2.nss)-1]}}))
	w2.converge("namespace deleted during a fan-out of 100: no error left", true, time.Now())
}
