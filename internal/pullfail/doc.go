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

// Package pullfail classifies why a Pod's image pull failed.
//
// It reads two kinds of text and nothing else: the waiting message of a
// container whose state.waiting.reason is ErrImagePull or ImagePullBackOff,
// and the note of a kubelet "Failed" Event ("Failed to pull image "x": ...").
// Both are written by the kubelet around the error the container runtime
// (containerd, CRI-O, Docker via dockershim or cri-dockerd) returned, which in
// turn quotes what the registry answered. The package is pure: it has no
// client, talks to no API server and no registry.
//
// It never sees credential bytes. The messages name images, registry hosts,
// request URLs (token URLs carry only scope and service) and the registry's
// status and error code; neither the kubelet nor the runtimes put usernames,
// passwords or tokens in them, and this package is never handed a Secret.
package pullfail
