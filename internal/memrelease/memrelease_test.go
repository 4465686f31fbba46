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

package memrelease

import (
	"context"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
)

func TestBurstsOver(t *testing.T) {
	const MiB = 1 << 20
	b := bursts{}
	steps := []struct {
		allocs uint64 // cumulative
		want   bool
		why    string
	}{
		{10 * MiB, false, "busy (startup lists)"},
		{60 * MiB, false, "still busy"},
		{60*MiB + 100, true, "quiet after 60 MiB: release"},
		{60*MiB + 200, false, "quiet, nothing allocated since"},
		{61 * MiB, false, "idle trickle"},
		{62 * MiB, false, "idle trickle"},
		{65 * MiB, false, "busy again"},
		{65*MiB + 10, false, "quiet but only 5 MiB since the release"},
		{100 * MiB, false, "busy"},
		{100*MiB + 10, true, "quiet, 40 MiB since the release"},
		{100*MiB + 10 + quietBytes, false, "exactly quietBytes is not quiet"},
	}
	for _, s := range steps {
		if got := b.over(s.allocs); got != s.want {
			t.Errorf("%s: over(%d) = %v, want %v", s.why, s.allocs, got, s.want)
		}
	}
}

func TestAllocatedIsTheRuntimeCounter(t *testing.T) {
	descs := metrics.All()
	found := false
	for _, d := range descs {
		if d.Name == allocsMetric && d.Cumulative && d.Kind == metrics.KindUint64 {
			found = true
		}
	}
	if !found {
		t.Fatalf("the runtime has no cumulative uint64 metric %s", allocsMetric)
	}
	before := allocated()
	sink = make([]byte, 4<<20)
	if after := allocated(); after-before < 4<<20 {
		t.Fatalf("allocating 4 MiB moved the counter by %d bytes", after-before)
	}
}

var sink []byte

// A burst of garbage, then quiet: the Releaser releases once, and the
// runtime shows the freed memory returned.
func TestReleaserReleasesAfterABurst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &Releaser{Interval: 20 * time.Millisecond, Log: logr.Discard()}
	done := make(chan error)
	go func() { done <- r.Start(ctx) }()

	for range 64 {
		sink = make([]byte, 1<<20) // 64 MiB of garbage
	}
	sink = nil
	NewWithT(t).Eventually(r.Releases, 10*time.Second, 5*time.Millisecond).Should(BeNumerically(">", 0), "a release after a 64 MiB burst")
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	if free := s[0].Value.Uint64(); free > 8<<20 {
		t.Errorf("%d MiB of free heap kept after the release", free>>20)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
