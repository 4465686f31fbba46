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

package webhook

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/credset"
)

// rc builds a RegistryCredential for server whose copy is named after it.
func rc(name, server string, mods ...func(*registryv1alpha1.RegistryCredential)) registryv1alpha1.RegistryCredential {
	r := registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Spec: registryv1alpha1.RegistryCredentialSpec{
			Server:            server,
			SecretRef:         registryv1alpha1.SecretReference{Namespace: "regcred-system", Name: "src"},
			TargetSecretName:  name + "-pull",
			ExcludeNamespaces: []string{"kube-system", "kube-public", "kube-node-lease"},
			ServiceAccounts:   []string{"*"},
		},
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

// credSet returns a credset.Set holding rcs, refreshed from a fake client.
func credSet(t testing.TB, rcs ...registryv1alpha1.RegistryCredential) *credset.Set {
	t.Helper()
	b := fake.NewClientBuilder().WithScheme(scheme)
	for i := range rcs {
		b = b.WithObjects(rcs[i].DeepCopy())
	}
	set := &credset.Set{Reader: b.Build()}
	for i := range rcs {
		if _, err := set.Refresh(context.Background(), rcs[i].Name); err != nil {
			t.Fatal(err)
		}
	}
	return set
}

// deleting marks a RegistryCredential as being deleted (with a finalizer,
// as the fake client, like the API server, wants one).
func deleting(r *registryv1alpha1.RegistryCredential) {
	now := metav1.Now()
	r.DeletionTimestamp = &now
	r.Finalizers = []string{"registry.regcred.dev/test"}
}

func withReady(reason string, observedGeneration int64) func(*registryv1alpha1.RegistryCredential) {
	return func(r *registryv1alpha1.RegistryCredential) {
		status := metav1.ConditionFalse
		if reason == registryv1alpha1.ReasonSynced {
			status = metav1.ConditionTrue
		}
		r.Status.Conditions = []metav1.Condition{{
			Type: registryv1alpha1.ConditionReady, Status: status, Reason: reason, ObservedGeneration: observedGeneration,
		}}
	}
}

func withTarget(name string) func(*registryv1alpha1.RegistryCredential) {
	return func(r *registryv1alpha1.RegistryCredential) { r.Spec.TargetSecretName = name }
}

func withSelector(labels map[string]string) func(*registryv1alpha1.RegistryCredential) {
	return func(r *registryv1alpha1.RegistryCredential) {
		r.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: labels}
	}
}

func pod(images ...string) *corev1.Pod {
	p := &corev1.Pod{}
	for _, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c", Image: img})
	}
	return p
}

func podWith(p *corev1.Pod, mod func(*corev1.Pod)) *corev1.Pod {
	mod(p)
	return p
}

// namespace is a Namespace's metadata, as the cache holds it.
func namespace(name string, labels map[string]string, mods ...func(*metav1.PartialObjectMetadata)) *metav1.PartialObjectMetadata {
	ns := namespaceMeta()
	ns.Name, ns.Labels = name, labels
	for _, m := range mods {
		m(ns)
	}
	return ns
}

func TestDecide(t *testing.T) {
	hub := rc("hub", "docker.io")
	quay := rc("quay", "quay.io")
	app := namespace("app", map[string]string{"team": "a"})

	cases := []struct {
		name    string
		pod     *corev1.Pod
		ns      *metav1.PartialObjectMetadata
		creds   []registryv1alpha1.RegistryCredential
		sources []string
		want    []string // secrets, in order
	}{
		{name: "nginx gets the docker.io credential", pod: pod("nginx"), creds: []registryv1alpha1.RegistryCredential{hub}, want: []string{"hub-pull"}},
		{name: "docker.io alias in the image", pod: pod("index.docker.io/library/nginx:1.27"), creds: []registryv1alpha1.RegistryCredential{hub}, want: []string{"hub-pull"}},
		{name: "quay image does not get the docker.io credential", pod: pod("quay.io/x"), creds: []registryv1alpha1.RegistryCredential{hub}},
		{name: "only the matching credential", pod: pod("quay.io/x/y@sha256:" + sha), creds: []registryv1alpha1.RegistryCredential{hub, quay}, want: []string{"quay-pull"}},
		{name: "several credentials in name order", pod: pod("quay.io/x", "nginx"), creds: []registryv1alpha1.RegistryCredential{quay, hub}, want: []string{"hub-pull", "quay-pull"}},
		{name: "init container counts", pod: podWith(pod("quay.io/x"), func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
		}), creds: []registryv1alpha1.RegistryCredential{hub}, want: []string{"hub-pull"}},
		{name: "ephemeral container counts", pod: podWith(pod("quay.io/x"), func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "busybox"}}}
		}), creds: []registryv1alpha1.RegistryCredential{hub}, want: []string{"hub-pull"}},
		{name: "no containers", pod: pod(), creds: []registryv1alpha1.RegistryCredential{hub}},
		{name: "an image that does not parse is ignored, the others count", pod: pod("Not A Ref!", "nginx"), creds: []registryv1alpha1.RegistryCredential{hub}, want: []string{"hub-pull"}},
		{name: "already listed: not added again", pod: podWith(pod("nginx"), func(p *corev1.Pod) {
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "other"}, {Name: "hub-pull"}}
		}), creds: []registryv1alpha1.RegistryCredential{hub}},
		{name: "two credentials with one copy name: added once", pod: pod("nginx", "quay.io/x"),
			creds: []registryv1alpha1.RegistryCredential{rc("a", "docker.io", withTarget("shared")), rc("b", "quay.io", withTarget("shared"))}, want: []string{"shared"}},
		{name: "path prefix matches on segment boundaries", pod: pod("reg.io/team/app", "reg.io/teamx/app"),
			creds: []registryv1alpha1.RegistryCredential{rc("team", "reg.io/team"), rc("teamy", "reg.io/teamy")}, want: []string{"team-pull"}},
		{name: "server with a port matches only that port", pod: pod("reg.io:5000/app"),
			creds: []registryv1alpha1.RegistryCredential{rc("noport", "reg.io"), rc("port", "reg.io:5000"), rc("other", "reg.io:5001")}, want: []string{"port-pull"}},
		{name: "wildcard matches one subdomain level", pod: pod("a.example.com/app", "a.b.example.com/app"),
			creds: []registryv1alpha1.RegistryCredential{rc("wild", "*.example.com")}, want: []string{"wild-pull"}},
		{name: "namespace selected by labels", pod: pod("nginx"), ns: app,
			creds: []registryv1alpha1.RegistryCredential{rc("sel", "docker.io", withSelector(map[string]string{"team": "a"}))}, want: []string{"sel-pull"}},
		{name: "namespace not selected", pod: pod("nginx"), ns: app,
			creds: []registryv1alpha1.RegistryCredential{rc("sel", "docker.io", withSelector(map[string]string{"team": "b"}))}},
		{name: "namespace excluded by glob", pod: pod("nginx"), ns: app,
			creds: []registryv1alpha1.RegistryCredential{rc("ex", "docker.io", func(r *registryv1alpha1.RegistryCredential) { r.Spec.ExcludeNamespaces = []string{"ap?"} })}},
		{name: "kube-system excluded by default", pod: pod("nginx"), ns: namespace("kube-system", nil), creds: []registryv1alpha1.RegistryCredential{hub}},
		{name: "terminating namespace", pod: pod("nginx"), ns: namespace("gone", nil, func(ns *metav1.PartialObjectMetadata) { ns.DeletionTimestamp = &metav1.Time{} }),
			creds: []registryv1alpha1.RegistryCredential{hub}},
		{name: "mirror Pod", pod: podWith(pod("nginx"), func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"} }),
			creds: []registryv1alpha1.RegistryCredential{hub}},
		{name: "Pod opted out", pod: podWith(pod("nginx"), func(p *corev1.Pod) { p.Labels = map[string]string{credset.InjectLabel: "false"} }), creds: []registryv1alpha1.RegistryCredential{hub}},
		{name: "Pod label with another value does not opt out", pod: podWith(pod("nginx"), func(p *corev1.Pod) { p.Labels = map[string]string{credset.InjectLabel: "true"} }),
			creds: []registryv1alpha1.RegistryCredential{hub}, want: []string{"hub-pull"}},
		{name: "namespace opted out", pod: pod("nginx"), ns: namespace("app", map[string]string{credset.InjectLabel: "false"}), creds: []registryv1alpha1.RegistryCredential{hub}},
		{name: "credential being deleted", pod: pod("nginx"),
			creds: []registryv1alpha1.RegistryCredential{rc("del", "docker.io", deleting)}},
		{name: "Ready reason SourceNotAllowed", pod: pod("nginx"), creds: []registryv1alpha1.RegistryCredential{rc("na", "docker.io", withReady(registryv1alpha1.ReasonSourceNotAllowed, 1))}},
		{name: "Ready reason SourceInvalid", pod: pod("nginx"), creds: []registryv1alpha1.RegistryCredential{rc("inv", "docker.io", withReady(registryv1alpha1.ReasonSourceInvalid, 1))}},
		{name: "Ready reason ServerNotInSource", pod: pod("nginx"), creds: []registryv1alpha1.RegistryCredential{rc("hub1", "docker.io", withReady(registryv1alpha1.ReasonServerNotInSource, 1))}},
		{name: "Ready reason SourceInvalid of an older generation still injects", pod: pod("nginx"),
			creds: []registryv1alpha1.RegistryCredential{rc("stale", "docker.io", withReady(registryv1alpha1.ReasonSourceInvalid, 1), func(r *registryv1alpha1.RegistryCredential) { r.Generation = 2 })},
			want:  []string{"stale-pull"}},
		{name: "Ready reason SourceNotFound injects (the copy lands later)", pod: pod("nginx"),
			creds: []registryv1alpha1.RegistryCredential{rc("nf", "docker.io", withReady(registryv1alpha1.ReasonSourceNotFound, 1))}, want: []string{"nf-pull"}},
		{name: "Ready True injects", pod: pod("nginx"), creds: []registryv1alpha1.RegistryCredential{rc("ok", "docker.io", withReady(registryv1alpha1.ReasonSynced, 1))}, want: []string{"ok-pull"}},
		{name: "source namespace not allowed by the operator", pod: pod("nginx"), sources: []string{"elsewhere"}, creds: []registryv1alpha1.RegistryCredential{hub}},
		{name: "source namespace allowed by the operator", pod: pod("nginx"), sources: []string{"elsewhere", "regcred-system"}, creds: []registryv1alpha1.RegistryCredential{hub}, want: []string{"hub-pull"}},
		{name: "any source namespace allowed", pod: pod("nginx"), sources: []string{"*"}, creds: []registryv1alpha1.RegistryCredential{hub}, want: []string{"hub-pull"}},
		{name: "invalid server is skipped", pod: pod("nginx"), creds: []registryv1alpha1.RegistryCredential{rc("bad", "ftp://docker.io"), rc("bad2", "docker.io/UPPER"), hub}, want: []string{"hub-pull"}},
		{name: "invalid selector is skipped", pod: pod("nginx"),
			creds: []registryv1alpha1.RegistryCredential{rc("badsel", "docker.io", func(r *registryv1alpha1.RegistryCredential) {
				r.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}}
			})}},
		{name: "no credentials", pod: pod("nginx")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := tc.ns
			if ns == nil {
				ns = namespace("default", nil)
			}
			got := Decide(tc.pod, ns, credSet(t, tc.creds...).All(), tc.sources)
			var secrets []string
			for _, in := range got {
				secrets = append(secrets, in.Secret)
				if !slices.ContainsFunc(tc.creds, func(r registryv1alpha1.RegistryCredential) bool {
					return r.Name == in.Credential && r.TargetName() == in.Secret
				}) {
					t.Errorf("injection %+v names no credential of the input", in)
				}
			}
			if !slices.Equal(secrets, tc.want) {
				t.Errorf("Decide() secrets = %q, want %q", secrets, tc.want)
			}
		})
	}
}

// TestDecideRefused: a candidate the handler's check refuses is left out
// and does not take its name from a later credential with the same copy name.
func TestDecideRefused(t *testing.T) {
	creds := credSet(t, rc("a", "docker.io", withTarget("shared")), rc("b", "docker.io", withTarget("shared")), rc("c", "docker.io")).All()
	var asked []string
	got := decide(pod("nginx"), namespace("app", nil), creds, nil, func(c *credset.Credential) bool {
		asked = append(asked, c.Name)
		return c.Name != "a"
	})
	if want := []Injection{{Credential: "b", Secret: "shared"}, {Credential: "c", Secret: "c-pull"}}; !slices.Equal(got, want) {
		t.Errorf("decide() = %+v, want %+v", got, want)
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(asked, want) {
		t.Errorf("asked about %q, want %q (once per candidate)", asked, want)
	}
}

const sha = "6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"

func TestSkip(t *testing.T) {
	cases := []struct {
		name    string
		rc      registryv1alpha1.RegistryCredential
		sources []string
		want    string
	}{
		{name: "no status yet", rc: rc("a", "docker.io"), want: ""},
		{name: "deleting", rc: rc("a", "docker.io", deleting), want: registryv1alpha1.ReasonDeleting},
		{name: "operator does not accept the source namespace", rc: rc("a", "docker.io"), sources: []string{"x"}, want: registryv1alpha1.ReasonSourceNotAllowed},
		{name: "condition without observedGeneration is trusted", rc: rc("a", "docker.io", withReady(registryv1alpha1.ReasonSourceNotAllowed, 0)), want: registryv1alpha1.ReasonSourceNotAllowed},
		{name: "Conflict still injects", rc: rc("a", "docker.io", withReady(registryv1alpha1.ReasonConflict, 1)), want: ""},
		{name: "ServerNotInSource: the kubelet would use no key of the source", rc: rc("a", "docker.io", withReady(registryv1alpha1.ReasonServerNotInSource, 1)), want: registryv1alpha1.ReasonServerNotInSource},
		{name: "ServerNotInSource of an older generation still injects", rc: rc("a", "docker.io", withReady(registryv1alpha1.ReasonServerNotInSource, 1), func(r *registryv1alpha1.RegistryCredential) { r.Generation = 2 }), want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := credset.Skip(&tc.rc, tc.sources); got != tc.want {
				t.Errorf("credset.Skip() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPatchOps(t *testing.T) {
	in := []Injection{{Credential: "a", Secret: "x"}, {Credential: "b", Secret: "y"}}
	t.Run("no pull secrets: one add of the list", func(t *testing.T) {
		ops := patchOps(pod("nginx"), in)
		if len(ops) != 1 || ops[0].Operation != "add" || ops[0].Path != "/spec/imagePullSecrets" {
			t.Fatalf("ops = %+v", ops)
		}
		refs, ok := ops[0].Value.([]corev1.LocalObjectReference)
		if !ok || !slices.Equal(refs, []corev1.LocalObjectReference{{Name: "x"}, {Name: "y"}}) {
			t.Errorf("value = %#v", ops[0].Value)
		}
	})
	t.Run("existing pull secrets: appended one by one", func(t *testing.T) {
		p := podWith(pod("nginx"), func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mine"}} })
		ops := patchOps(p, in)
		if len(ops) != 2 {
			t.Fatalf("ops = %+v", ops)
		}
		for i, want := range []string{"x", "y"} {
			if ops[i].Operation != "add" || ops[i].Path != "/spec/imagePullSecrets/-" || ops[i].Value != (corev1.LocalObjectReference{Name: want}) {
				t.Errorf("ops[%d] = %+v, want add of %q at the end", i, ops[i], want)
			}
		}
	})
}
