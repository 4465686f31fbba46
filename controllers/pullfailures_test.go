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

package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// What kubelets write, as containerd reports it (see internal/pullfail's
// tables for CRI-O and Docker).
const (
	msg401      = `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": unexpected status from HEAD request to https://private-registry.io/v2/apps/app/manifests/1: 401 Unauthorized`
	msg403      = `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": unexpected status from HEAD request to https://private-registry.io/v2/apps/app/manifests/1: 403 Forbidden`
	msgNotFound = `failed to pull and unpack image "private-registry.io/apps/app:nope": failed to resolve reference "private-registry.io/apps/app:nope": private-registry.io/apps/app:nope: not found`
	msgDNS      = `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": failed to do request: Head "https://private-registry.io/v2/apps/app/manifests/1": dial tcp: lookup private-registry.io on 10.96.0.10:53: no such host`
)

// pullPod is a Pod of one container with image, listing pullSecrets.
type pullPod struct {
	name, image string
	pullSecrets []string
	// status: the container's waiting reason and message ("" reason: none).
	reason, message string
	mutate          func(*corev1.Pod)
}

func createPullPod(t *testing.T, ns string, p pullPod) *corev1.Pod {
	t.Helper()
	g := NewWithT(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: p.image}}},
	}
	for _, s := range p.pullSecrets {
		pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	if p.mutate != nil {
		p.mutate(pod)
	}
	g.Expect(k8s.Create(context.Background(), pod)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), pod, client.GracePeriodSeconds(0)) })
	if p.reason != "" {
		setWaiting(t, pod, p.reason, p.message)
	}
	return pod
}

// setWaiting writes, as a kubelet would, through the status subresource,
// that every container waits with reason and message ("": running).
func setWaiting(t *testing.T, pod *corev1.Pod, reason, message string) {
	t.Helper()
	NewWithT(t).Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &corev1.Pod{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), cur); err != nil {
			return err
		}
		statuses := func(cs []corev1.Container) []corev1.ContainerStatus {
			var out []corev1.ContainerStatus
			for _, c := range cs {
				st := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
				if reason == "" {
					st.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.Now()}
					st.Ready = true
				} else {
					st.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: message}
				}
				out = append(out, st)
			}
			return out
		}
		cur.Status.Phase = corev1.PodPending
		cur.Status.InitContainerStatuses = statuses(cur.Spec.InitContainers)
		cur.Status.ContainerStatuses = statuses(cur.Spec.Containers)
		if reason == "" {
			cur.Status.Phase = corev1.PodRunning
		}
		return k8s.Status().Update(context.Background(), cur)
	})).To(Succeed())
}

// kubeletFailedEvent records the kubelet's Failed Event for the Pod (core
// Events, as the kubelet writes them).
func kubeletFailedEvent(t *testing.T, pod *corev1.Pod, note string) {
	t.Helper()
	now := metav1.Now()
	NewWithT(t).Expect(k8s.Create(context.Background(), &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			APIVersion: "v1", FieldPath: "spec.containers{app}"},
		Reason: "Failed", Message: note, Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	})).To(Succeed())
}

func pullFailures(name string) *registryv1alpha1.PullFailures {
	if rc := getRC(name); rc != nil {
		return rc.Status.PullFailures
	}
	return nil
}

func reasonCounts(name string) map[string]int32 {
	out := map[string]int32{}
	if pf := pullFailures(name); pf != nil {
		for _, c := range pf.Reasons {
			out[c.Reason] = c.Count
		}
	}
	return out
}

// podEvents lists "type/reason: note" of the Events about the Pod.
func podEvents(t *testing.T, ns, pod string) []string {
	t.Helper()
	list := &eventsv1.EventList{}
	NewWithT(t).Expect(k8s.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "Pod" && e.Regarding.Name == pod && e.ReportingController == "regcred-operator" {
			out = append(out, e.Type+"/"+e.Reason+": "+e.Note)
		}
	}
	return out
}

// Every reason of a failed pull, from the Pod's status and the kubelet's
// Events, as the status, the Pod's Events and the counts show it; and what
// does not count: images elsewhere, opted-out Pods, Pods that recover or go.
func TestPullFailuresTraced(t *testing.T) {
	g := NewWithT(t)
	const wait, tick = 30 * time.Second, 100 * time.Millisecond
	src := newSource(t, uniq("pull-src"), "private-registry.io", nil)
	nss := newNamespaces(t, "pulls", 2, nil)
	ns, conflictNS := nss[0], nss[1]
	target := uniq("pull-copy")
	// conflictNS holds a foreign Secret under the copy's name: no copy there.
	g.Expect(k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: target, Namespace: conflictNS},
		Type:       corev1.SecretTypeOpaque, Data: map[string][]byte{"x": []byte("y")},
	})).To(Succeed())
	rc := newCredential(t, "pulls", src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.TargetSecretName = target
	})
	g.Eventually(func() int32 { return getRC(rc.Name).Status.SyncedNamespaces }, wait, tick).Should(Equal(int32(1)))
	g.Eventually(func() *registryv1alpha1.PullFailures { return pullFailures(rc.Name) }, wait, tick).Should(
		Equal(&registryv1alpha1.PullFailures{}), "a credential with no failing Pod shows a count of 0")

	image := "private-registry.io/apps/app:1"
	notRef := createPullPod(t, ns, pullPod{name: "not-referenced", image: image, pullSecrets: []string{"other"}, reason: "ErrImagePull", message: msg401})
	createPullPod(t, conflictNS, pullPod{name: "secret-missing", image: image, pullSecrets: []string{target}, reason: "ErrImagePull", message: msg401})
	createPullPod(t, ns, pullPod{name: "unauthorized", image: image, pullSecrets: []string{target}, reason: "ErrImagePull", message: "rpc error: code = Unknown desc = " + msg401})
	createPullPod(t, ns, pullPod{name: "forbidden", image: image, pullSecrets: []string{target}, reason: "ImagePullBackOff",
		message: `Back-off pulling image "private-registry.io/apps/app:1": ErrImagePull: ` + msg403})
	createPullPod(t, ns, pullPod{name: "not-found", image: "private-registry.io/apps/app:nope", pullSecrets: []string{target}, reason: "ErrImagePull", message: msgNotFound})
	createPullPod(t, ns, pullPod{name: "other", image: image, pullSecrets: []string{target}, reason: "ErrImagePull", message: msgDNS})
	// A bare back-off (kubelets before 1.31): the reason is in the kubelet's Event.
	bare := createPullPod(t, ns, pullPod{name: "bare-backoff", image: image, pullSecrets: []string{target}})
	kubeletFailedEvent(t, bare, `Failed to pull image "private-registry.io/apps/app:1": `+msg403)
	setWaiting(t, bare, "ImagePullBackOff", `Back-off pulling image "private-registry.io/apps/app:1"`)
	// An image volume from the registry, mounted by a container from Docker Hub.
	createPullPod(t, ns, pullPod{name: "image-volume", image: "docker.io/library/busybox:1.36", pullSecrets: []string{target}, reason: "ErrImagePull",
		message: strings.ReplaceAll(msg401, "apps/app:1", "data/set:2"),
		mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "private-registry.io/data/set:2"}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}})
	// An init container.
	createPullPod(t, ns, pullPod{name: "init", image: "docker.io/library/busybox:1.36", pullSecrets: []string{"other"}, reason: "ErrImagePull", message: msg401,
		mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: image}}
			p.Spec.Containers[0].Image = "docker.io/library/busybox:1.36"
		}})
	// Not counted: an image on another registry, and a Pod that opted out.
	createPullPod(t, ns, pullPod{name: "elsewhere", image: "quay.io/acme/app:1", reason: "ErrImagePull", message: msg401})
	createPullPod(t, ns, pullPod{name: "opted-out", image: image, reason: "ErrImagePull", message: msg401,
		mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"registry.regcred.dev/inject": "false"} }})

	want := map[string]int32{
		registryv1alpha1.ReasonNotReferenced: 2, // not-referenced, init (its setup container)
		registryv1alpha1.ReasonSecretMissing: 1,
		registryv1alpha1.ReasonUnauthorized:  2, // unauthorized, image-volume
		registryv1alpha1.ReasonForbidden:     2, // forbidden, bare-backoff (from the Event)
		registryv1alpha1.ReasonNotFound:      1,
		registryv1alpha1.ReasonOther:         1,
	}
	g.Eventually(func() map[string]int32 { return reasonCounts(rc.Name) }, wait, tick).Should(Equal(want))
	pf := pullFailures(rc.Name)
	g.Expect(pf.Count).To(Equal(int32(9)))
	g.Expect(pf.Pods).To(HaveLen(registryv1alpha1.MaxPullFailurePods - 1)) // 9 < 10: all listed
	g.Expect(pf.Pods).To(ContainElements(
		registryv1alpha1.PodPullFailure{Namespace: ns, Pod: "image-volume", Image: "private-registry.io/data/set:2", Reason: registryv1alpha1.ReasonUnauthorized},
		registryv1alpha1.PodPullFailure{Namespace: ns, Pod: "init", Image: image, Reason: registryv1alpha1.ReasonNotReferenced},
		registryv1alpha1.PodPullFailure{Namespace: conflictNS, Pod: "secret-missing", Image: image, Reason: registryv1alpha1.ReasonSecretMissing},
	))
	g.Expect(pf.Pods).NotTo(ContainElement(HaveField("Pod", BeElementOf("elsewhere", "opted-out"))))

	// Each failing Pod has an Event naming the credential.
	for pod, reason := range map[string]string{"not-referenced": "NotReferenced", "bare-backoff": "Forbidden", "other": "Other"} {
		g.Eventually(func() []string { return podEvents(t, ns, pod) }, wait, tick).Should(
			ContainElement(And(HavePrefix("Warning/"+reason+": "), ContainSubstring("RegistryCredential "+rc.Name))), pod)
	}
	g.Expect(podEvents(t, ns, "not-referenced")[0]).To(ContainSubstring(target))
	g.Expect(podEvents(t, ns, "elsewhere")).To(BeEmpty())

	// A Pod that recovers, and a Pod that goes, leave the counts.
	setWaiting(t, bare, "", "")
	g.Expect(k8s.Delete(context.Background(), notRef, client.GracePeriodSeconds(0))).To(Succeed())
	g.Eventually(func() map[string]int32 { return reasonCounts(rc.Name) }, wait, tick).Should(And(
		HaveKeyWithValue(registryv1alpha1.ReasonForbidden, int32(1)), HaveKeyWithValue(registryv1alpha1.ReasonNotReferenced, int32(1))))
	g.Expect(pullFailures(rc.Name).Count).To(Equal(int32(7)))
}

// spec.repair.restartPodsNotReferenced evicts a ReplicaSet's Pod that does
// not list the copy once a new Pod would get it (here: its ServiceAccount
// lists it), with an Event on the Pod and the RegistryCredential; the
// ReplicaSet makes a Pod that lists the copy.
func TestRepairRestartsPodsNotReferenced(t *testing.T) {
	g := NewWithT(t)
	const wait, tick = 40 * time.Second, 100 * time.Millisecond
	src := newSource(t, uniq("repair-src"), "private-registry.io", nil)
	ns := newNamespaces(t, "repair", 1, nil)[0]
	// No ServiceAccount patched at first: the ReplicaSet's Pod lists nothing.
	rc := newCredential(t, "repair", src.Name, "private-registry.io", func(rc *registryv1alpha1.RegistryCredential) {
		rc.Spec.ServiceAccounts = []string{}
		rc.Spec.Repair = &registryv1alpha1.Repair{RestartPodsNotReferenced: true}
	})
	g.Eventually(readyReason(rc.Name), wait, tick).Should(Equal(registryv1alpha1.ReasonSynced))
	labels := map[string]string{"app": "repair"}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "private-registry.io/apps/app:1"}}}},
		},
	}
	g.Expect(k8s.Create(context.Background(), rs)).To(Succeed())
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), rs, client.PropagationPolicy(metav1.DeletePropagationBackground))
	})
	first := &corev1.Pod{}
	g.Eventually(func() error {
		pods := &corev1.PodList{}
		if err := k8s.List(context.Background(), pods, client.InNamespace(ns)); err != nil || len(pods.Items) != 1 {
			return apierrors.NewNotFound(corev1.Resource("pods"), "web-*")
		}
		*first = pods.Items[0]
		return nil
	}, wait, tick).Should(Succeed())
	g.Expect(first.Spec.ImagePullSecrets).To(BeEmpty())
	setWaiting(t, first, "ErrImagePull", msg401)
	g.Eventually(func() map[string]int32 { return reasonCounts(rc.Name) }, wait, tick).Should(
		HaveKeyWithValue(registryv1alpha1.ReasonNotReferenced, int32(1)))
	// Its ServiceAccount does not list the copy and there is no webhook
	// here: a new Pod would fail the same way, so it is left alone.
	g.Consistently(func() error {
		return k8s.Get(context.Background(), client.ObjectKeyFromObject(first), &corev1.Pod{})
	}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

	// Once the ServiceAccounts are patched, the Pod is evicted and replaced.
	g.Expect(updateRC(rc.Name, func(rc *registryv1alpha1.RegistryCredential) { rc.Spec.ServiceAccounts = []string{"*"} })).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(first), &corev1.Pod{}))
	}, wait, tick).Should(BeTrue(), "the Pod that did not list the copy was not evicted")
	g.Eventually(func() []string {
		pods := &corev1.PodList{}
		g.Expect(k8s.List(context.Background(), pods, client.InNamespace(ns))).To(Succeed())
		var out []string
		for _, p := range pods.Items {
			if p.UID != first.UID && p.DeletionTimestamp == nil {
				for _, s := range p.Spec.ImagePullSecrets {
					out = append(out, s.Name)
				}
			}
		}
		return out
	}, wait, tick).Should(ContainElement(rc.TargetName()), "the ReplicaSet's new Pod lists the copy")
	g.Eventually(func() []string { return eventsFor(t, rc.Name) }, wait, tick).Should(
		ContainElement(And(HavePrefix("Normal/Evicted: "), ContainSubstring(first.Name))))
	g.Expect(podEvents(t, ns, first.Name)).To(ContainElement(HavePrefix("Normal/Evicted: ")))
	g.Eventually(func() int32 { return pullFailures(rc.Name).Count }, wait, tick).Should(BeZero())
}
