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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/regcred/regcred-operator/internal/credset"
)

// Waiting reasons of a container whose image (or an image volume it
// mounts) the kubelet could not pull.
const (
	waitingErrImagePull     = "ErrImagePull"
	waitingImagePullBackOff = "ImagePullBackOff"
)

// projectPod is the Pod cache's transform: the cache holds every Pod as its
// identity (name, namespace, UID, resourceVersion, owner references,
// creation and deletion time, the opt-out label and the mirror-Pod
// annotation) and, only while one of its containers waits on a failed pull,
// what tracing that failure needs: the images of its containers and image
// volumes, the volume mounts of image volumes, spec.imagePullSecrets,
// spec.serviceAccountName, and the waiting container statuses. Everything
// else (other labels and annotations, the rest of the spec and status) is
// dropped, so 10,000 running Pods cost their names, not their specs.
// Nothing is added or changed; applying it twice gives the same object.
func projectPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              p.Name,
			Namespace:         p.Namespace,
			UID:               p.UID,
			ResourceVersion:   p.ResourceVersion,
			CreationTimestamp: p.CreationTimestamp,
			DeletionTimestamp: p.DeletionTimestamp,
			OwnerReferences:   p.OwnerReferences,
		},
	}
	if v, ok := p.Labels[credset.InjectLabel]; ok {
		out.Labels = map[string]string{credset.InjectLabel: v}
	}
	if v, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		out.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: v}
	}
	shareStrings(&out.ObjectMeta)
	if !pullWaiting(&p.Status) {
		return out, nil
	}
	spec := &out.Spec
	spec.ServiceAccountName = p.Spec.ServiceAccountName
	spec.ImagePullSecrets = p.Spec.ImagePullSecrets
	spec.NodeName = p.Spec.NodeName
	spec.InitContainers = projectContainers(p.Spec.InitContainers, p.Spec.Volumes)
	spec.Containers = projectContainers(p.Spec.Containers, p.Spec.Volumes)
	for i := range p.Spec.EphemeralContainers {
		c := &p.Spec.EphemeralContainers[i]
		spec.EphemeralContainers = append(spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: c.Name, Image: c.Image, VolumeMounts: imageMounts(c.VolumeMounts, p.Spec.Volumes),
		}})
	}
	for i := range p.Spec.Volumes {
		if v := &p.Spec.Volumes[i]; v.Image != nil {
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{Image: v.Image}})
		}
	}
	out.Status.Phase = p.Status.Phase
	out.Status.InitContainerStatuses = waitingStatuses(p.Status.InitContainerStatuses)
	out.Status.ContainerStatuses = waitingStatuses(p.Status.ContainerStatuses)
	out.Status.EphemeralContainerStatuses = waitingStatuses(p.Status.EphemeralContainerStatuses)
	return out, nil
}

func projectContainers(in []corev1.Container, volumes []corev1.Volume) []corev1.Container {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(in))
	for i := range in {
		out[i] = corev1.Container{Name: in[i].Name, Image: in[i].Image, VolumeMounts: imageMounts(in[i].VolumeMounts, volumes)}
	}
	return out
}

// imageMounts keeps the mounts of image volumes.
func imageMounts(mounts []corev1.VolumeMount, volumes []corev1.Volume) []corev1.VolumeMount {
	var out []corev1.VolumeMount
	for _, m := range mounts {
		for i := range volumes {
			if volumes[i].Name == m.Name && volumes[i].Image != nil {
				out = append(out, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath})
			}
		}
	}
	return out
}

// waitingStatuses keeps the statuses of containers waiting on a failed
// pull: name, image and the waiting state.
func waitingStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for i := range in {
		if isPullWaiting(&in[i]) {
			out = append(out, corev1.ContainerStatus{Name: in[i].Name, Image: in[i].Image, State: corev1.ContainerState{Waiting: in[i].State.Waiting}})
		}
	}
	return out
}

func isPullWaiting(s *corev1.ContainerStatus) bool {
	w := s.State.Waiting
	return w != nil && (w.Reason == waitingErrImagePull || w.Reason == waitingImagePullBackOff)
}

// pullWaiting reports whether a container, init container or ephemeral
// container of the Pod waits on a failed pull.
func pullWaiting(st *corev1.PodStatus) bool {
	for _, list := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses, st.EphemeralContainerStatuses} {
		for i := range list {
			if isPullWaiting(&list[i]) {
				return true
			}
		}
	}
	return false
}

// waitingPull is one container of a Pod waiting on a failed pull, with the
// images it needs: its own and those of the image volumes it mounts.
type waitingPull struct {
	container string
	images    []string
	waiting   *corev1.ContainerStateWaiting
}

// waitingPulls lists the Pod's containers waiting on a failed pull.
func waitingPulls(pod *corev1.Pod) []waitingPull {
	volumeImage := map[string]string{}
	for i := range pod.Spec.Volumes {
		if v := pod.Spec.Volumes[i].Image; v != nil {
			volumeImage[pod.Spec.Volumes[i].Name] = v.Reference
		}
	}
	needs := map[string][]string{}
	add := func(name, image string, mounts []corev1.VolumeMount) {
		imgs := []string{image}
		for _, m := range mounts {
			if ref, ok := volumeImage[m.Name]; ok {
				imgs = append(imgs, ref)
			}
		}
		needs[name] = imgs
	}
	for i := range pod.Spec.InitContainers {
		add(pod.Spec.InitContainers[i].Name, pod.Spec.InitContainers[i].Image, pod.Spec.InitContainers[i].VolumeMounts)
	}
	for i := range pod.Spec.Containers {
		add(pod.Spec.Containers[i].Name, pod.Spec.Containers[i].Image, pod.Spec.Containers[i].VolumeMounts)
	}
	for i := range pod.Spec.EphemeralContainers {
		c := &pod.Spec.EphemeralContainers[i]
		add(c.Name, c.Image, c.VolumeMounts)
	}
	var out []waitingPull
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for i := range list {
			s := &list[i]
			if !isPullWaiting(s) {
				continue
			}
			imgs, ok := needs[s.Name]
			if !ok {
				imgs = []string{s.Image}
			}
			out = append(out, waitingPull{container: s.Name, images: imgs, waiting: s.State.Waiting})
		}
	}
	return out
}
