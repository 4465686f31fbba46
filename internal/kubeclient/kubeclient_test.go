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

package kubeclient

import (
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
)

// TestConfigureHTTP1KeepsConnections checks, against a TLS server, that the
// client speaks HTTP/1.1, trusts the configured CA, sends the bearer token
// and reuses its connections across two bursts of parallel requests.
func TestConfigureHTTP1KeepsConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 {
			t.Errorf("request over %s, want HTTP/1.1", r.Proto)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization = %q", got)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()

	cfg := &rest.Config{Host: srv.URL, BearerToken: "tok", TLSClientConfig: rest.TLSClientConfig{CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}}
	const parallel = 64
	if err := Configure(cfg, Options{QPS: -1, KeepIdle: parallel}); err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	burst := func() {
		done := make(chan struct{}, parallel)
		for range parallel {
			go func() {
				defer func() { done <- struct{}{} }()
				resp, err := hc.Get(srv.URL + "/api")
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body) // as client-go does, so the connection is reusable
				_ = resp.Body.Close()
			}()
		}
		for range parallel {
			<-done
		}
	}
	burst()
	first := conns.Load()
	// net/http keeps a connection only when its write loop has reported the
	// request written within 50 ms of the response (maxWriteWaitBeforeConnReuse);
	// on a loaded machine (-race, CI) a burst can lose connections that way.
	// So a few bursts follow, and the best of them must reuse the idle
	// connections: a transport keeping client-go's 25 would open at least 39
	// new ones in every burst.
	least := int64(-1)
	for range 4 {
		before := conns.Load()
		burst()
		if n := conns.Load() - before; least < 0 || n < least {
			least = n
		}
		if least <= first/4 {
			break
		}
	}
	if least > first/4 {
		t.Fatalf("the best of the later bursts opened %d new connections (first: %d): idle connections were not kept", least, first)
	}
	if first < 2 {
		t.Fatalf("first burst used %d connection(s): requests were not in parallel over HTTP/1.1", first)
	}
}
