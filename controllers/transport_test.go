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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
)

// bottomTransport unwraps rt down to its *http.Transport.
func bottomTransport(t *testing.T, rt http.RoundTripper) *http.Transport {
	t.Helper()
	for rt != nil {
		switch x := rt.(type) {
		case *http.Transport:
			return x
		case utilnet.RoundTripperWrapper:
			rt = x.WrappedRoundTripper()
		default:
			t.Fatalf("cannot unwrap %T", rt)
		}
	}
	t.Fatal("no *http.Transport under the client")
	return nil
}

func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// UseHTTP1 must reach the transport client-go builds, whether it holds the
// CA in memory (kubeconfig) or reads it from a file it may rotate
// (in-cluster), keep any WrapTransport already set, and leave clients that
// do not use it at client-go's default.
func TestUseHTTP1KeepsIdleConnections(t *testing.T) {
	ca := testCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		tls      rest.TLSClientConfig
		keepIdle int
		want     int
	}{
		{"CA in memory", rest.TLSClientConfig{CAData: ca, ServerName: "a.example"}, 96, 96},
		{"CA file (in-cluster, rotated)", rest.TLSClientConfig{CAFile: caFile, ServerName: "b.example"}, 64, 64},
		{"below client-go's default: unchanged", rest.TLSClientConfig{CAData: ca, ServerName: "c.example"}, 8, 25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &rest.Config{Host: "https://127.0.0.1:1", TLSClientConfig: tc.tls}
			wrapped := false
			cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { wrapped = true; return rt }
			UseHTTP1(cfg, tc.keepIdle)
			hc, err := rest.HTTPClientFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !wrapped {
				t.Error("the WrapTransport set before UseHTTP1 was dropped")
			}
			tr := bottomTransport(t, hc.Transport)
			if tr.MaxIdleConnsPerHost != tc.want {
				t.Errorf("MaxIdleConnsPerHost = %d, want %d", tr.MaxIdleConnsPerHost, tc.want)
			}
			if got := tr.TLSClientConfig.NextProtos; len(got) != 1 || got[0] != "http/1.1" {
				t.Errorf("NextProtos = %v, want [http/1.1]", got)
			}
		})
	}

	// A client without UseHTTP1 keeps client-go's transport as it is.
	plain, err := rest.HTTPClientFor(&rest.Config{Host: "https://127.0.0.1:1", TLSClientConfig: rest.TLSClientConfig{CAData: ca, ServerName: "d.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if tr := bottomTransport(t, plain.Transport); tr.MaxIdleConnsPerHost != 25 {
		t.Errorf("plain client: MaxIdleConnsPerHost = %d, want client-go's 25", tr.MaxIdleConnsPerHost)
	}
}
