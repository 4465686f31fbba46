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

// Package regtest serves a registry for tests: go-containerregistry's
// pkg/registry over TLS on loopback, behind Basic auth or behind a Bearer
// token server on the same host:port. Users, their passwords and the
// repositories each may pull change at run time; the next N requests can be
// answered 429 with a Retry-After. It counts requests and the most that
// were in flight at once.
package regtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Server is a registry under test.
type Server struct {
	// Host is "127.0.0.1:port".
	Host string
	// CAPEM is the PEM certificate its TLS certificate is signed with.
	CAPEM []byte

	tls, plain *httptest.Server
	bearer     bool
	inner      http.Handler

	mu       sync.Mutex
	users    map[string]string          // user -> password
	access   map[string]map[string]bool // user -> repositories it may pull ("*": all)
	tokens   map[string]token
	limited  int // answer this many more requests with 429
	retryIn  int // seconds, for Retry-After
	rateLeft string

	inFlight, maxInFlight, requests atomic.Int64
}

type token struct {
	user  string
	repos map[string]bool
}

// New starts a registry with Bearer auth (bearer) or Basic auth.
func New(bearer bool) *Server {
	s := &Server{
		bearer: bearer,
		inner:  registry.New(registry.Logger(log.New(io.Discard, "", 0))),
		users:  map[string]string{},
		access: map[string]map[string]bool{},
		tokens: map[string]token{},
	}
	s.tls = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	s.plain = httptest.NewServer(s.inner)
	s.Host = strings.TrimPrefix(s.tls.URL, "https://")
	s.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.tls.Certificate().Raw})
	return s
}

// Close stops the servers.
func (s *Server) Close() {
	s.tls.Close()
	s.plain.Close()
}

// SetUser adds or changes a user, who may pull the given repositories
// ("*" for all).
func (s *Server) SetUser(user, password string, repos ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[user] = password
	s.access[user] = map[string]bool{}
	for _, r := range repos {
		s.access[user][r] = true
	}
	for k, t := range s.tokens {
		if t.user == user {
			delete(s.tokens, k)
		}
	}
}

// RateLimit answers the next n requests 429 with Retry-After: seconds.
func (s *Server) RateLimit(n, seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limited, s.retryIn = n, seconds
}

// SetRateLimitRemaining makes every answer carry RateLimit-Remaining: v.
func (s *Server) SetRateLimitRemaining(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLeft = v
}

// Push writes a random image as repo:tag and returns its reference on Host.
func (s *Server) Push(repo, tag string) (string, error) {
	img, err := random.Image(256, 1)
	if err != nil {
		return "", err
	}
	plainRef, err := name.ParseReference(strings.TrimPrefix(s.plain.URL, "http://")+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(plainRef, img); err != nil {
		return "", err
	}
	return s.Host + "/" + repo + ":" + tag, nil
}

// Requests is the number of requests served.
func (s *Server) Requests() int64 { return s.requests.Load() }

// MaxInFlight is the most requests that were in flight at once.
func (s *Server) MaxInFlight() int64 { return s.maxInFlight.Load() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxInFlight.Load()
		if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	s.requests.Add(1)

	s.mu.Lock()
	if s.rateLeft != "" {
		w.Header().Set("RateLimit-Remaining", s.rateLeft)
	}
	if s.limited > 0 {
		s.limited--
		retry := s.retryIn
		s.mu.Unlock()
		w.Header().Set("Retry-After", fmt.Sprint(retry))
		http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
		return
	}
	s.mu.Unlock()

	if r.URL.Path == "/token" {
		s.serveToken(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/v2/") {
		http.NotFound(w, r)
		return
	}
	repo := repository(r.URL.Path)
	user, granted, ok := s.authorize(r)
	switch {
	case !ok:
		s.challenge(w, repo)
		return
	case repo != "" && !granted[repo] && !granted["*"]:
		if s.bearer {
			s.challenge(w, repo) // a token without the scope: 401 and a new challenge
			return
		}
		http.Error(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`, http.StatusForbidden)
		return
	}
	_ = user
	if r.URL.Path == "/v2/" {
		w.WriteHeader(http.StatusOK)
		return
	}
	s.inner.ServeHTTP(w, r)
}

// authorize returns the user of the request's credentials and the
// repositories they may pull.
func (s *Server) authorize(r *http.Request) (string, map[string]bool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bearer {
		tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		t, ok := s.tokens[tok]
		if !found || !ok {
			return "", nil, false
		}
		return t.user, t.repos, true
	}
	user, pass, ok := r.BasicAuth()
	if !ok || s.users[user] != pass || pass == "" {
		return "", nil, false
	}
	return user, s.access[user], true
}

func (s *Server) challenge(w http.ResponseWriter, repo string) {
	if s.bearer {
		scope := ""
		if repo != "" {
			scope = fmt.Sprintf(`,scope="repository:%s:pull"`, repo)
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="https://%s/token",service="regtest"%s`, s.Host, scope))
	} else {
		w.Header().Set("WWW-Authenticate", `Basic realm="regtest"`)
	}
	http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
}

// serveToken grants a token for Basic credentials, with the pull scopes the
// user has among those asked for.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok || pass == "" || s.users[user] != pass {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`))
		return
	}
	t := token{user: user, repos: map[string]bool{}}
	for _, sc := range r.URL.Query()["scope"] {
		for _, one := range strings.Fields(sc) {
			parts := strings.Split(one, ":")
			if len(parts) == 3 && parts[0] == "repository" && strings.Contains(parts[2], "pull") &&
				(s.access[user][parts[1]] || s.access[user]["*"]) {
				t.repos[parts[1]] = true
			}
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	s.tokens[id] = t
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": id, "expires_in": 300})
}

// repository returns the repository of a /v2/<repo>/(manifests|blobs|tags)/
// path, or "" for /v2/.
func repository(p string) string {
	rest := strings.TrimPrefix(p, "/v2/")
	for _, sep := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if i := strings.LastIndex(rest, sep); i > 0 {
			return rest[:i]
		}
	}
	return ""
}
