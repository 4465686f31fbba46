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

package metricsauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
)

// countingReviewer authenticates one token and counts reviews per token.
type countingReviewer struct {
	mu    sync.Mutex
	valid string
	calls map[string]int
}

func (c *countingReviewer) Review(_ context.Context, token, _, _ string) (string, bool, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[token]++
	if token == c.valid {
		return "prometheus", true, "", nil
	}
	return "", false, "", nil
}

// TestFilterCacheHoldsNoTokensAndResistsFloods: decisions are keyed by a
// hash of the token, and thousands of made-up tokens neither enter the cache
// nor push a valid token's decision out.
func TestFilterCacheHoldsNoTokensAndResistsFloods(t *testing.T) {
	r := &countingReviewer{valid: "valid-token-" + strings.Repeat("x", 20), calls: map[string]int{}}
	h, err := Filter(r)(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	if err != nil {
		t.Fatal(err)
	}
	get := func(token string) int {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if code := get(r.valid); code != http.StatusOK {
		t.Fatalf("valid token: %d", code)
	}
	for i := range 5 * cacheSize {
		if code := get(fmt.Sprintf("made-up-%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("made-up token: %d", code)
		}
	}
	if code := get(r.valid); code != http.StatusOK || r.calls[r.valid] != 1 {
		t.Fatalf("after the flood: code %d, valid token reviewed %d times (want 1: still cached)", code, r.calls[r.valid])
	}
	if get("made-up-0"); r.calls["made-up-0"] != 2 {
		t.Fatalf("an unauthenticated token was cached (%d reviews)", r.calls["made-up-0"])
	}
	if key := cacheKey(r.valid, "/metrics", "get"); strings.Contains(key, r.valid) {
		t.Fatalf("cache key %q holds the token", key)
	}
}
