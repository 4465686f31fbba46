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

// Package faults is the fault suite (`make test-faults`, build tag
// "faults"): the operator binary, run as its own ServiceAccount against a
// real etcd, kube-apiserver and kube-controller-manager, while the test
// stops kube-apiserver, kills the operator, fails its leader over, writes
// the same ServiceAccounts, pauses etcd and deletes what it works on. Each
// case ends with a check of the whole cluster and prints how long the
// operator took to converge.
package faults
