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
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/regcheck"
	"github.com/regcred/regcred-operator/internal/registry"
)

// checkResults holds one key per live RegistryCredential and only the
// outcomes of keys in use; forgetting the last user drops the outcome.
func TestCheckResultsBoundAndForgotten(t *testing.T) {
	c := newCheckResults()
	k1, k2 := checkKey{1}, checkKey{2}
	if !c.bind("a", k1, "") || c.bind("a", k1, "") {
		t.Fatal("bind reports changes wrongly")
	}
	c.bind("b", k1, "")
	if o, ok := c.outcomeFor("a"); !ok || !o.pending {
		t.Fatalf("outcomeFor before a check = %+v, %v; want pending", o, ok)
	}
	c.record(k1, checkOutcome{result: regcheck.Result{Reason: registryv1alpha1.ReasonVerified}})
	c.record(k2, checkOutcome{}) // no one uses k2: not kept
	if n, o := c.len(); n != 2 || o != 1 {
		t.Fatalf("len = %d, %d; want 2, 1", n, o)
	}
	if o, _ := c.outcomeFor("b"); o.result.Reason != registryv1alpha1.ReasonVerified {
		t.Fatalf("b shares a's outcome: %+v", o)
	}
	c.bind("a", k2, "") // a's credential changed; b still uses k1
	if _, o := c.len(); o != 1 {
		t.Fatalf("outcomes = %d, want 1", o)
	}
	c.forget("b") // the last user of k1
	if n, o := c.len(); n != 1 || o != 0 {
		t.Fatalf("len = %d, %d; want 1, 0", n, o)
	}
	c.forget("a")
	c.forget("never")
	if n, o := c.len(); n != 0 || o != 0 {
		t.Fatalf("len = %d, %d; want 0, 0", n, o)
	}
	if _, ok := c.outcomeFor("a"); ok {
		t.Fatal("a forgotten but still has an outcome")
	}
}

// One check at a time per registry; gates go when unused and their
// Retry-After is over.
func TestRegistryGates(t *testing.T) {
	g := newRegistryGates()
	var in, most atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reg := "a.io"
			if i%2 == 1 {
				reg = "b.io"
			}
			if _, err := g.acquire(context.Background(), reg); err != nil {
				t.Error(err)
				return
			}
			if reg == "a.io" {
				n := in.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(time.Millisecond)
				in.Add(-1)
			}
			g.releaseAfter(reg, time.Time{})
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d checks of a.io at once", most.Load())
	}
	if g.len() != 0 {
		t.Fatalf("%d gates left", g.len())
	}
	if _, err := g.acquire(context.Background(), "c.io"); err != nil {
		t.Fatal(err)
	}
	g.releaseAfter("c.io", time.Now().Add(time.Hour))
	until, err := g.acquire(context.Background(), "c.io")
	if err != nil || time.Until(until) < 59*time.Minute {
		t.Fatalf("Retry-After not kept: %s, %v", until, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.acquire(ctx, "c.io"); err == nil {
		t.Fatal("acquire of a held gate with a cancelled context succeeded")
	}
	g.releaseAfter("c.io", time.Time{})
	if g.len() != 1 {
		t.Fatalf("gates = %d, want 1 (c.io's Retry-After runs)", g.len())
	}
}

func TestProbeTarget(t *testing.T) {
	tests := []struct {
		server, image   string
		registry, probe string
		why             string
	}{
		{"private-registry.io", "", "private-registry.io", "", ""},
		{"private-registry.io", "apps/internal-app", "private-registry.io", "private-registry.io/apps/internal-app:latest", ""},
		{"private-registry.io", "apps/internal-app:1.0", "private-registry.io", "private-registry.io/apps/internal-app:1.0", ""},
		{"private-registry.io:5000", "private-registry.io:5000/apps/x@sha256:" + strings.Repeat("a", 64), "private-registry.io:5000", "private-registry.io:5000/apps/x@sha256:" + strings.Repeat("a", 64), ""},
		{"reg.io/team", "reg.io/team/app:1", "reg.io", "reg.io/team/app:1", ""},
		{"reg.io/team", "reg.io/other/app:1", "", "", "not under spec.server"},
		{"private-registry.io", "quay.io/org/app", "", "", "not under spec.server"},
		{"docker.io", "", "docker.io", "", ""}, // go-containerregistry calls it index.docker.io
		{"docker.io", "library/nginx", "index.docker.io", "index.docker.io/library/nginx:latest", ""},
		{"*.example.com", "", "", "", "wildcard"},
		{"*.example.com", "apps/x", "", "", "wildcard"},
		{"*.example.com", "eu.example.com/apps/x:1", "eu.example.com", "eu.example.com/apps/x:1", ""},
		{"private-registry.io", "apps/UPPER", "", "", "spec.check.image"},
	}
	for _, tt := range tests {
		t.Run(tt.server+" "+tt.image, func(t *testing.T) {
			srv, err := registry.ParseServer(tt.server)
			if err != nil {
				t.Fatal(err)
			}
			rc := &registryv1alpha1.RegistryCredential{Spec: registryv1alpha1.RegistryCredentialSpec{Server: tt.server, Check: &registryv1alpha1.CredentialCheck{Image: tt.image}}}
			reg, ref, why := probeTarget(rc, srv)
			probe := ""
			if ref != nil {
				probe = ref.Name()
			}
			if tt.why != "" {
				if !strings.Contains(why, tt.why) {
					t.Fatalf("why = %q, want it to say %q", why, tt.why)
				}
				return
			}
			if why != "" || reg != tt.registry || probe != tt.probe {
				t.Fatalf("probeTarget = %q, %q, %q; want %q, %q", reg, probe, why, tt.registry, tt.probe)
			}
		})
	}
}

func TestNextCheck(t *testing.T) {
	r := &checkReconciler{}
	for _, tc := range []struct {
		res      regcheck.Result
		interval time.Duration
		min, max time.Duration
	}{
		{regcheck.Result{Reason: registryv1alpha1.ReasonVerified}, time.Hour, time.Hour, 66 * time.Minute},
		{regcheck.Result{Reason: registryv1alpha1.ReasonUnauthorized}, time.Hour, time.Hour, 66 * time.Minute},
		{regcheck.Result{Reason: registryv1alpha1.ReasonUnreachable}, time.Hour, checkRetry, checkRetry * 11 / 10},
		{regcheck.Result{Reason: registryv1alpha1.ReasonUnreachable}, 2 * time.Minute, 2 * time.Minute, 132 * time.Second},
		{regcheck.Result{Reason: registryv1alpha1.ReasonRateLimited, RetryAfter: 30 * time.Second}, time.Hour, 30 * time.Second, 33 * time.Second},
	} {
		t.Run(fmt.Sprintf("%s %s", tc.res.Reason, tc.interval), func(t *testing.T) {
			for range 100 {
				if got := r.nextAfter(tc.res, tc.interval); got < tc.min || got > tc.max {
					t.Fatalf("nextAfter = %s, want %s..%s", got, tc.min, tc.max)
				}
			}
		})
	}
}
