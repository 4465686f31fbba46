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

// Package memrelease gives the memory a burst of work left behind back to
// the operating system once the burst is over.
//
// A fan-out or rotation allocates hundreds of MiB in a few seconds; then the
// operator is idle, often for hours. The Go runtime keeps the burst's garbage
// until the heap grows to its next goal, and returns free pages only down to
// about that goal, so the idle operator's RSS stays several MiB (at 10,000
// namespaces tens of MiB) above what it holds. A Releaser watches the
// runtime's own count of allocated bytes and, when a burst has been followed
// by a quiet interval, calls debug.FreeOSMemory once: one full collection per
// burst, a few milliseconds at the operator's heap.
package memrelease

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

const (
	// DefaultInterval is how often a Releaser samples the allocation count;
	// a burst is over after one interval that allocated less than quietBytes.
	DefaultInterval = 2 * time.Second
	// quietBytes: an interval that allocated less is quiet. The idle
	// operator allocates a few KiB a second (Lease renewals, a metrics
	// scrape); a fan-out tens of MiB.
	quietBytes = 1 << 20
	// burstBytes: what must have been allocated since the last release for
	// another to be worth its full collection: more than one GC cycle of
	// the idle operator's heap (about 14 MiB live at 1,000 namespaces, so a
	// cycle every 5 to 6 MiB with GOGC=40). A fan-out of 1,000 namespaces
	// allocates about 150 MiB; Lease renewals alone take minutes to reach it.
	burstBytes = 8 << 20
)

// allocsMetric is the runtime's cumulative count of bytes allocated on the
// heap.
const allocsMetric = "/gc/heap/allocs:bytes"

// Releaser is a manager Runnable (every replica runs it).
type Releaser struct {
	// Interval between samples; DefaultInterval when zero.
	Interval time.Duration
	Log      logr.Logger

	releases atomic.Int64
}

// Releases is how many times memory was released.
func (r *Releaser) Releases() int64 { return r.releases.Load() }

// NeedLeaderElection is false: every replica has its own memory.
func (r *Releaser) NeedLeaderElection() bool { return false }

// Start samples until ctx ends.
func (r *Releaser) Start(ctx context.Context) error {
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	b := bursts{prev: allocated()}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !b.over(allocated()) {
			continue
		}
		began := time.Now()
		debug.FreeOSMemory()
		r.releases.Add(1)
		r.Log.V(1).Info("burst over: returned free memory to the operating system", "took", time.Since(began))
	}
}

// bursts tells, from successive samples of the allocation count, when a
// burst is over.
type bursts struct {
	prev     uint64 // the count at the previous sample
	released uint64 // the count at the last release
}

// over takes the next sample and reports whether a burst has just ended:
// this interval was quiet and at least burstBytes were allocated since the
// last release.
func (b *bursts) over(allocs uint64) bool {
	quiet := allocs-b.prev < quietBytes
	b.prev = allocs
	if !quiet || allocs-b.released < burstBytes {
		return false
	}
	b.released = allocs
	return true
}

func allocated() uint64 {
	s := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0 // not this runtime's metric: never a burst
	}
	return s[0].Value.Uint64()
}
