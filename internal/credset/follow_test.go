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

package credset

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/testenv"
)

// TestFollow runs a Set on a real API server's RegistryCredentials through a
// controller-runtime cache: what exists before the cache starts, creates, a
// selector change and a deletion all reach the snapshot without a Refresh
// call. (A spec the compiler refuses cannot be stored: the CRD's validation
// rejects it first. TestSet covers that path with a fake reader.)
func TestFollow(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := registryv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	env, err := testenv.Start(testenv.Options{Client: client.Options{Scheme: scheme}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g := NewWithT(t)
	const wait, tick = 30 * time.Second, 20 * time.Millisecond

	create := func(name, team string) {
		obj := rc(name, "", team)
		obj.UID = ""
		g.Expect(env.Client.Create(ctx, obj)).To(Succeed())
	}
	create("before", "x") // listed by the cache at start

	c, err := cache.New(env.Config, cache.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	s := &Set{Reader: c}
	g.Expect(s.HasSynced()).To(BeFalse(), "not synced before Follow")
	g.Expect(s.Follow(ctx, c)).To(Succeed())
	go func() { _ = c.Start(ctx) }()
	g.Eventually(s.HasSynced, wait, tick).Should(BeTrue())
	g.Expect(names(s.All())).To(Equal([]string{"before"}), "synced means the listed credentials are in")

	create("b", "x")
	create("a", "y")
	g.Eventually(func() []string { return names(s.All()) }, wait, tick).Should(Equal([]string{"a", "b", "before"}))
	g.Expect(names(s.Selecting("ns", map[string]string{"team": "x"}))).To(Equal([]string{"b", "before"}))
	uid := s.Get("a").UID
	g.Expect(uid).NotTo(BeEmpty())

	// a selector change: a's new compiled credential selects team x
	g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &registryv1alpha1.RegistryCredential{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "a"}, cur); err != nil {
			return err
		}
		cur.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "x"}}
		return env.Client.Update(ctx, cur)
	})).To(Succeed())
	g.Eventually(func() []string { return names(s.Selecting("ns", map[string]string{"team": "x"})) }, wait, tick).
		Should(Equal([]string{"a", "b", "before"}))
	g.Expect(s.Get("a").UID).To(Equal(uid), "same object")
	g.Expect(s.Get("a").Err).To(BeNil())

	g.Expect(env.Client.Delete(ctx, &registryv1alpha1.RegistryCredential{ObjectMeta: metav1.ObjectMeta{Name: "b"}})).To(Succeed())
	g.Eventually(func() []string { return names(s.All()) }, wait, tick).Should(Equal([]string{"a", "before"}))
	g.Expect(s.Get("b")).To(BeNil())
	g.Expect(s.Len()).To(Equal(2))
}
