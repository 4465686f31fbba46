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
	"testing"
	"time"
)

func TestAPIServerNormalised(t *testing.T) {
	use := func(d, api time.Duration) cpuUsage {
		return cpuUsage{wall: d, procs: map[string]time.Duration{"kube-apiserver": api}}
	}
	ours := []timing{
		{d: 4 * time.Second, cpu: use(4*time.Second, 5*time.Second)},  // 0.8
		{d: 3 * time.Second, cpu: use(3*time.Second, 3*time.Second)},  // 1.0
		{d: 6 * time.Second, cpu: use(6*time.Second, 10*time.Second)}, // 0.6
	}
	base := []trial{
		{d: 3 * time.Second, cpu: use(3*time.Second, 4*time.Second)},  // 0.75
		{d: 2 * time.Second, cpu: use(2*time.Second, 2*time.Second)},  // 1.0
		{d: 5 * time.Second, cpu: use(5*time.Second, 10*time.Second)}, // 0.5
		{d: 5 * time.Second}, // not measured: left out
	}
	if got := perAPIServerSecond(ours); got != 0.8 {
		t.Errorf("ours = %v, want the median 0.8", got)
	}
	if got := perAPIServerSecond(base); got != 0.75 {
		t.Errorf("baseline = %v, want the median 0.75", got)
	}
	if got, want := apiServerNormalised(ours, base), "ours 0.800 s, paired baseline 0.750 s: 1.07x"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := apiServerNormalised(ours, []trial{{d: time.Second}}); got != "not measured" {
		t.Errorf("without CPU figures: %q", got)
	}
}
