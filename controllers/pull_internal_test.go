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

package controllers

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/credset"
	"github.com/regcred/regcred-operator/internal/pullfail"
)

func failingPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-1", Namespace: "team-a", UID: "u1", ResourceVersion: "7",
			Labels:          map[string]string{"app": "web", credset.InjectLabel: "true"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs", Controller: ptrTo(true)}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "builder",
			NodeName:           "node-1",
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "other"}},
			InitContainers:     []corev1.Container{{Name: "init", Image: "private-registry.io/tools/init:1", Command: []string{"sh"}}},
			Containers: []corev1.Container{{
				Name: "app", Image: "docker.io/library/busybox", Env: []corev1.EnvVar{{Name: "A", Value: "b"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "tmp", MountPath: "/tmp"}},
			}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "private-registry.io/data/set:2"}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", Image: "private-registry.io/tools/init:1",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "docker.io/library/busybox", ImageID: "x",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waitingErrImagePull,
					Message: `failed to pull and unpack image "private-registry.io/data/set:2": unexpected status from HEAD request: 401 Unauthorized`}}}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

// The Pod cache holds a failing Pod's identity, images, pull secrets and
// waiting statuses, and nothing else; a Pod not waiting on a pull keeps its
// identity only. The transform is idempotent.
func TestProjectPod(t *testing.T) {
	p := failingPod()
	got, _ := projectPod(p.DeepCopy())
	pod := got.(*corev1.Pod)
	if pod.ManagedFields != nil || pod.Annotations != nil || !reflect.DeepEqual(pod.Labels, map[string]string{credset.InjectLabel: "true"}) {
		t.Errorf("metadata not projected: %+v", pod.ObjectMeta)
	}
	if pod.UID != "u1" || pod.ResourceVersion != "7" || len(pod.OwnerReferences) != 1 {
		t.Errorf("identity lost: %+v", pod.ObjectMeta)
	}
	if c := pod.Spec.Containers[0]; c.Image != "docker.io/library/busybox" || c.Env != nil || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != "data" {
		t.Errorf("container not projected: %+v", c)
	}
	if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].Image == nil || pod.Spec.InitContainers[0].Command != nil {
		t.Errorf("volumes or init containers not projected: %+v", pod.Spec)
	}
	if pod.Spec.ServiceAccountName != "builder" || len(pod.Spec.ImagePullSecrets) != 1 {
		t.Errorf("pull secrets or ServiceAccount lost: %+v", pod.Spec)
	}
	if len(pod.Status.InitContainerStatuses) != 0 || len(pod.Status.ContainerStatuses) != 1 || pod.Status.Conditions != nil || pod.Status.ContainerStatuses[0].ImageID != "" {
		t.Errorf("status not projected: %+v", pod.Status)
	}
	again, _ := projectPod(pod.DeepCopy())
	if !reflect.DeepEqual(again, pod) {
		t.Errorf("not idempotent:\n%+v\n%+v", again, pod)
	}

	running := failingPod()
	running.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	got, _ = projectPod(running)
	rp := got.(*corev1.Pod)
	if !reflect.DeepEqual(rp.Spec, corev1.PodSpec{}) || !reflect.DeepEqual(rp.Status, corev1.PodStatus{}) || rp.Name != "web-1" {
		t.Errorf("a running Pod keeps more than its identity: %+v", rp)
	}
	if other, _ := projectPod(&corev1.Secret{}); !reflect.DeepEqual(other, &corev1.Secret{}) {
		t.Error("a non-Pod was changed")
	}
}

// A waiting container needs its own image and those of the image volumes it
// mounts; the message names the one that failed.
func TestWaitingPullsAndFailedImages(t *testing.T) {
	p := failingPod()
	ws := waitingPulls(p)
	if len(ws) != 1 || !slices.Equal(ws[0].images, []string{"docker.io/library/busybox", "private-registry.io/data/set:2"}) {
		t.Fatalf("waitingPulls = %+v", ws)
	}
	for name, tc := range map[string]struct {
		message string
		want    []string
	}{
		"names the volume image":          {`failed to pull and unpack image "private-registry.io/data/set:2": 401 Unauthorized`, []string{"private-registry.io/data/set:2"}},
		"names the container image":       {`Back-off pulling image "busybox": ErrImagePull: not found`, []string{"docker.io/library/busybox"}},
		"names no image":                  {`rpc error: code = Unknown`, []string{"docker.io/library/busybox"}},
		"names an image it does not need": {`Back-off pulling image "elsewhere.io/x"`, []string{"docker.io/library/busybox"}},
	} {
		t.Run(name, func(t *testing.T) {
			w := ws[0]
			w.waiting = &corev1.ContainerStateWaiting{Reason: waitingImagePullBackOff, Message: tc.message}
			if got := failedImages(w); !slices.Equal(got, tc.want) {
				t.Errorf("failedImages = %v, want %v", got, tc.want)
			}
		})
	}
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	if ws := waitingPulls(p); len(ws) != 0 {
		t.Errorf("a container waiting for another reason counts: %+v", ws)
	}
}

// The pull book keeps at most max Pods, reports which credentials changed,
// summarises by reason with at most 10 Pods listed, and forgets Pods and
// credentials.
func TestPullBook(t *testing.T) {
	b := newPullBook(3)
	pod := func(i int) types.NamespacedName {
		return types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("p%d", i)}
	}
	f := func(cred, reason string) pullFailure {
		return pullFailure{credential: cred, image: "r.io/app:1", reason: reason}
	}

	changed, kept := b.set(pod(1), []pullFailure{f("a", registryv1alpha1.ReasonNotReferenced), f("b", registryv1alpha1.ReasonOther)})
	if !kept || !slices.Equal(changed, []string{"a", "b"}) {
		t.Fatalf("set = %v, %v", changed, kept)
	}
	if changed, _ := b.set(pod(1), []pullFailure{f("a", registryv1alpha1.ReasonNotReferenced), f("b", registryv1alpha1.ReasonOther)}); changed != nil {
		t.Errorf("an unchanged set reports %v", changed)
	}
	b.set(pod(2), []pullFailure{f("a", registryv1alpha1.ReasonUnauthorized)})
	b.set(pod(3), []pullFailure{f("a", registryv1alpha1.ReasonUnauthorized)})
	if _, kept := b.set(pod(4), []pullFailure{f("a", registryv1alpha1.ReasonOther)}); kept {
		t.Error("a fourth Pod was kept in a book of 3")
	}
	s := b.summary("a")
	want := []registryv1alpha1.PullFailureCount{{Reason: registryv1alpha1.ReasonNotReferenced, Count: 1}, {Reason: registryv1alpha1.ReasonUnauthorized, Count: 2}}
	if s.Count != 3 || !reflect.DeepEqual(s.Reasons, want) || len(s.Pods) != 3 || s.Pods[0].Pod != "p1" || s.Pods[2].Pod != "p3" {
		t.Errorf("summary(a) = %+v", s)
	}
	if changed, _ := b.set(pod(1), []pullFailure{f("b", registryv1alpha1.ReasonOther)}); !slices.Equal(changed, []string{"a", "b"}) {
		t.Errorf("dropping a's failure reports %v", changed)
	}
	if s := b.summary("a"); s.Count != 2 {
		t.Errorf("summary(a) after the change = %+v", s)
	}
	b.forgetCredential("b")
	if pods, creds := b.len(); pods != 2 || creds != 1 {
		t.Errorf("after forgetting b: %d Pods, %d credentials", pods, creds)
	}
	if changed, _ := b.set(pod(2), nil); !slices.Equal(changed, []string{"a"}) {
		t.Errorf("a Pod leaving reports %v", changed)
	}
	b.set(pod(3), nil)
	if pods, creds := b.len(); pods != 0 || creds != 0 {
		t.Errorf("empty book holds %d Pods, %d credentials", pods, creds)
	}
	if s := b.summary("a"); s.Count != 0 || s.Reasons != nil || s.Pods != nil {
		t.Errorf("summary of nothing = %+v", s)
	}

	big := newPullBook(100)
	for i := range 25 {
		big.set(pod(i), []pullFailure{f("a", registryv1alpha1.ReasonOther)})
	}
	if s := big.summary("a"); s.Count != 25 || len(s.Pods) != registryv1alpha1.MaxPullFailurePods {
		t.Errorf("25 failures: count %d, %d listed", s.Count, len(s.Pods))
	}
}

// A new process trusts the check its status shows only for the same basis
// and generation, and only for a check's result.
func TestOutcomeFromStatus(t *testing.T) {
	checked := metav1.NewTime(metav1.Now().Truncate(1e9))
	rc := &registryv1alpha1.RegistryCredential{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
	rc.Status.CheckBasis = "generation=2 source=10"
	rc.Status.LastChecked = &checked
	rc.Status.Conditions = []metav1.Condition{{Type: registryv1alpha1.ConditionCredentialsVerified, Status: metav1.ConditionTrue,
		Reason: registryv1alpha1.ReasonVerified, Message: "ok", ObservedGeneration: 2}}
	if o, ok := outcomeFromStatus(rc, "generation=2 source=10"); !ok || o.result.Reason != registryv1alpha1.ReasonVerified || !o.checkedAt.Equal(checked.Time) {
		t.Errorf("same basis: %+v, %v", o, ok)
	}
	if _, ok := outcomeFromStatus(rc, "generation=2 source=11"); ok {
		t.Error("a changed source is trusted")
	}
	rc.Status.Conditions[0].Reason = registryv1alpha1.ReasonNotChecked
	if _, ok := outcomeFromStatus(rc, "generation=2 source=10"); ok {
		t.Error("NotChecked is trusted")
	}
	rc.Status.Conditions[0].Reason, rc.Status.Conditions[0].ObservedGeneration = registryv1alpha1.ReasonVerified, 1
	if _, ok := outcomeFromStatus(rc, "generation=2 source=10"); ok {
		t.Error("a condition of an older generation is trusted")
	}
}

// pullfail's reasons are the API's words.
func TestPullfailReasonsAreAPIReasons(t *testing.T) {
	for got, want := range map[string]string{
		pullfail.NotFound: registryv1alpha1.ReasonNotFound, pullfail.Unauthorized: registryv1alpha1.ReasonUnauthorized,
		pullfail.Forbidden: registryv1alpha1.ReasonForbidden, pullfail.Other: registryv1alpha1.ReasonOther,
	} {
		if got != want {
			t.Errorf("pullfail reason %q is not the API's %q", got, want)
		}
	}
}

// The Pod cache asks the API server for Pending Pods only, unless every
// phase is asked for.
func TestPodCachePhases(t *testing.T) {
	opts := CacheOptions([]string{"regcred-system"})
	field := func() string {
		for obj, by := range opts.ByObject {
			if _, ok := obj.(*corev1.Pod); ok {
				if by.Field == nil {
					return ""
				}
				return by.Field.String()
			}
		}
		return "no Pod entry"
	}
	if got := field(); got != "status.phase=Pending" {
		t.Errorf("Pod field selector %q", got)
	}
	WatchPodsInEveryPhase(&opts)
	if got := field(); got != "" {
		t.Errorf("after WatchPodsInEveryPhase: %q", got)
	}
}
