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

package regcheck

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/regcheck/regtest"
)

const secretPassword = "s3cret-Pa55"

func TestCheckReasons(t *testing.T) {
	for _, bearer := range []bool{true, false} {
		t.Run(fmt.Sprintf("bearer=%v", bearer), func(t *testing.T) {
			srv := regtest.New(bearer)
			defer srv.Close()
			srv.SetUser("robot", secretPassword, "apps/internal-app")
			srv.SetUser("login-only", secretPassword)
			if _, err := srv.Push("apps/internal-app", "1.0"); err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(srv.CAPEM)
			ref := func(s string) name.Reference {
				r, err := name.ParseReference(srv.Host + "/" + s)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			closed := closedPort(t)
			tests := []struct {
				name   string
				target Target
				limit  int
				want   string
				says   string
			}{
				{"login", Target{Registry: srv.Host, Auth: authn.AuthConfig{Username: "robot", Password: secretPassword}, RootCAs: pool}, 0, registryv1alpha1.ReasonVerified, "pull access is not checked"},
				{"wrong password", Target{Registry: srv.Host, Auth: authn.AuthConfig{Username: "robot", Password: "wrong"}, RootCAs: pool}, 0, registryv1alpha1.ReasonUnauthorized, "401"},
				{"no credential", Target{Registry: srv.Host, RootCAs: pool}, 0, registryv1alpha1.ReasonUnauthorized, "401"},
				{"probe", Target{Registry: srv.Host, Probe: ref("apps/internal-app:1.0"), Auth: authn.AuthConfig{Username: "robot", Password: secretPassword}, RootCAs: pool}, 0, registryv1alpha1.ReasonVerified, "HEAD"},
				{"probe without pull scope", Target{Registry: srv.Host, Probe: ref("apps/internal-app:1.0"), Auth: authn.AuthConfig{Username: "login-only", Password: secretPassword}, RootCAs: pool}, 0, registryv1alpha1.ReasonForbidden, "HEAD of"},
				{"probe not found", Target{Registry: srv.Host, Probe: ref("apps/internal-app:2.0"), Auth: authn.AuthConfig{Username: "robot", Password: secretPassword}, RootCAs: pool}, 0, registryv1alpha1.ReasonProbeNotFound, "404"},
				{"wrong password with a probe", Target{Registry: srv.Host, Probe: ref("apps/internal-app:1.0"), Auth: authn.AuthConfig{Username: "robot", Password: "wrong"}, RootCAs: pool}, 0, registryv1alpha1.ReasonUnauthorized, "401"},
				{"rate limited", Target{Registry: srv.Host, Auth: authn.AuthConfig{Username: "robot", Password: secretPassword}, RootCAs: pool}, 100, registryv1alpha1.ReasonRateLimited, "Retry-After 7s"},
				{"unknown CA", Target{Registry: srv.Host, Auth: authn.AuthConfig{Username: "robot", Password: secretPassword}}, 0, registryv1alpha1.ReasonTLSError, "certificate"},
				{"unreachable", Target{Registry: closed, Auth: authn.AuthConfig{Username: "robot", Password: secretPassword}}, 0, registryv1alpha1.ReasonUnreachable, "refused"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					srv.RateLimit(tt.limit, 7)
					defer srv.RateLimit(0, 0)
					got := Check(context.Background(), tt.target, nil)
					if got.Reason != tt.want || !strings.Contains(got.Message, tt.says) {
						t.Fatalf("Check() = %s: %s; want %s saying %q", got.Reason, got.Message, tt.want, tt.says)
					}
					if strings.Contains(got.Message, secretPassword) || strings.Contains(got.Message, base64.StdEncoding.EncodeToString([]byte("robot:"+secretPassword))) {
						t.Fatalf("message %q holds the credential", got.Message)
					}
					if tt.want == registryv1alpha1.ReasonRateLimited && got.RetryAfter != 7*time.Second {
						t.Fatalf("RetryAfter = %s, want 7s", got.RetryAfter)
					}
				})
			}
		})
	}
}

func TestCheckRateLimitRemaining(t *testing.T) {
	srv := regtest.New(true)
	defer srv.Close()
	srv.SetUser("robot", secretPassword, "*")
	srv.SetRateLimitRemaining("76;w=21600")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	got := Check(context.Background(), Target{Registry: srv.Host, Auth: authn.AuthConfig{Username: "robot", Password: secretPassword}, RootCAs: pool}, nil)
	if got.Reason != registryv1alpha1.ReasonVerified || got.RateLimitRemaining != "76;w=21600" {
		t.Fatalf("Check() = %+v", got)
	}
	if got.Requests == 0 || int64(got.Requests) != srv.Requests() {
		t.Fatalf("Requests = %d, the server saw %d", got.Requests, srv.Requests())
	}
}

// A token realm on another host than the registry and its challenge name
// is refused before any request leaves.
func TestWatchRefusesOtherHosts(t *testing.T) {
	w := &watch{allowed: map[string]bool{"reg.io": true}}
	req, _ := newHead("https://elsewhere.io/v2/")
	if _, err := w.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "elsewhere.io") {
		t.Fatalf("RoundTrip to another host: %v", err)
	}
	if w.requests != 0 {
		t.Fatalf("requests = %d", w.requests)
	}
	got := classify(fmt.Errorf("wrapped: %w", &refusedHostError{host: "elsewhere.io"}), "the token request", registryv1alpha1.ReasonUnauthorized)
	if got.Reason != registryv1alpha1.ReasonUnreachable {
		t.Fatalf("classify = %+v", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		" 5 ":                           5 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Mon, 07 Dec 2026 12:02:00 GMT": 2 * time.Minute,
		"Mon, 07 Dec 2026 11:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestExpiresAt(t *testing.T) {
	jwt := func(claims string) string {
		enc := base64.RawURLEncoding
		return enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString([]byte(claims)) + ".c2ln"
	}
	ecr := base64.StdEncoding.EncodeToString([]byte(`{"payload":"abc","datakey":"def","version":"2","type":"DATA_KEY","expiration":1796659200}`))
	tests := []struct {
		name string
		auth authn.AuthConfig
		want time.Time
	}{
		{"opaque password", authn.AuthConfig{Password: secretPassword}, time.Time{}},
		{"JWT password", authn.AuthConfig{Password: jwt(`{"exp":1796659200,"sub":"robot"}`)}, time.Unix(1796659200, 0).UTC()},
		{"JWT with a fractional exp", authn.AuthConfig{Password: jwt(`{"exp":1796659200.5}`)}, time.Unix(1796659200, 0).UTC()},
		{"JWT without exp", authn.AuthConfig{Password: jwt(`{"sub":"robot"}`)}, time.Time{}},
		{"not JSON inside", authn.AuthConfig{Password: "a.b.c"}, time.Time{}},
		{"ECR token", authn.AuthConfig{Username: "AWS", Password: ecr}, time.Unix(1796659200, 0).UTC()},
		{"earliest of identity and registry token", authn.AuthConfig{IdentityToken: jwt(`{"exp":1796659300}`), RegistryToken: jwt(`{"exp":1796659200}`)}, time.Unix(1796659200, 0).UTC()},
	}
	for _, tt := range tests {
		if got := ExpiresAt(tt.auth); !got.Equal(tt.want) {
			t.Errorf("%s: ExpiresAt = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func FuzzExpiresAt(f *testing.F) {
	f.Add("a.eyJleHAiOjF9.c", "")
	f.Add("eyJwYXlsb2FkIjoiYSIsImV4cGlyYXRpb24iOjF9", "x")
	f.Fuzz(func(t *testing.T, password, token string) {
		got := ExpiresAt(authn.AuthConfig{Password: password, IdentityToken: token})
		if !got.IsZero() && (got.Year() < 1970 || got.Year() > 5200) {
			t.Fatalf("ExpiresAt = %s", got)
		}
	})
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
