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

// Package regcheck checks a registry credential against its registry with
// the OCI distribution auth flow, through go-containerregistry's transport:
//  1. GET /v2/ (transport.Ping): 200, or 401 with a Basic or Bearer challenge;
//  2. the login: for Bearer a token without scope, then HEAD /v2/ with it
//     (for Basic, HEAD /v2/ with the credential); a 401 or 403 here is
//     Unauthorized;
//  3. with a probe, a token with pull scope for its repository and HEAD of
//     its manifest: 401 or 403 is Forbidden, 404 ProbeNotFound.
//
// Every request goes to the registry's host or to the token realm its own
// challenge names; anything else is refused before it leaves the process.
// Results never contain credential bytes.
package regcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

// Target is what one check talks to, and with which credential.
type Target struct {
	// Registry is host[:port] of the registry (docker.io for Docker Hub).
	Registry string
	// Probe is the image reference to HEAD, on Registry, or nil to check
	// the login only.
	Probe name.Reference
	// Auth is the credential.
	Auth authn.AuthConfig
	// RootCAs verifies the registry's certificate; nil means the system
	// roots.
	RootCAs *x509.CertPool
	// Insecure allows plain HTTP (go-containerregistry's rules: only when
	// the registry does not answer HTTPS).
	Insecure bool
}

// Result is what a check found. Message says what the registry answered and
// never holds credential bytes.
type Result struct {
	// Reason is a CredentialsVerified reason (registryv1alpha1.Reason*).
	Reason  string
	Message string
	// RetryAfter is the registry's Retry-After, when it sent one.
	RetryAfter time.Duration
	// RateLimitRemaining is the registry's RateLimit-Remaining header.
	RateLimitRemaining string
	// Requests counts the HTTP requests the check made.
	Requests int
}

// Timeout bounds one whole check.
const Timeout = 30 * time.Second

// Check runs the check. base is the transport to build on (nil: a clone of
// go-containerregistry's remote.DefaultTransport).
func Check(ctx context.Context, t Target, base *http.Transport) Result {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	if base == nil {
		base = remote.DefaultTransport.(*http.Transport).Clone()
	} else {
		base = base.Clone()
	}
	if t.RootCAs != nil {
		if base.TLSClientConfig == nil {
			base.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		base.TLSClientConfig.RootCAs = t.RootCAs
	}
	opts := []name.Option{}
	if t.Insecure {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(t.Registry, opts...)
	if err != nil {
		return Result{Reason: registryv1alpha1.ReasonNotChecked, Message: fmt.Sprintf("registry %q: %v", t.Registry, err)}
	}
	w := &watch{inner: base, allowed: map[string]bool{reg.RegistryStr(): true}}
	res := run(ctx, reg, t, w)
	res.Requests = w.requests
	res.RetryAfter, res.RateLimitRemaining = w.retryAfter, w.rateLimit
	if res.Reason == registryv1alpha1.ReasonRateLimited && res.RetryAfter > 0 {
		res.Message += fmt.Sprintf("; Retry-After %s", res.RetryAfter)
	}
	return res
}

func run(ctx context.Context, reg name.Registry, t Target, w *watch) Result {
	host := reg.RegistryStr()
	ch, err := transport.Ping(ctx, reg, w)
	if err != nil {
		return classify(err, "GET /v2/ on "+host, registryv1alpha1.ReasonUnauthorized)
	}
	if realm := ch.Parameters["realm"]; realm != "" {
		if u, err := url.Parse(realm); err == nil && u.Host != "" {
			w.allow(u.Host)
		}
	}
	auth := authn.FromConfig(t.Auth)
	login, err := transport.NewWithContext(ctx, reg, auth, w, nil)
	if err != nil {
		return classify(err, "the token request of "+host, registryv1alpha1.ReasonUnauthorized)
	}
	if err := head(ctx, login, reg.Scheme()+"://"+host+"/v2/"); err != nil {
		return classify(err, "HEAD /v2/ on "+host, registryv1alpha1.ReasonUnauthorized)
	}
	scheme := strings.ToLower(ch.Scheme)
	if scheme == "" {
		scheme = "none"
	}
	if t.Probe == nil {
		msg := fmt.Sprintf("%s accepted the login (%s auth); no probe image is set, so pull access is not checked", host, scheme)
		if reg.RegistryStr() == name.DefaultRegistry {
			msg += " (Docker Hub issues tokens without access too: set spec.check.image)"
		}
		return Result{Reason: registryv1alpha1.ReasonVerified, Message: msg}
	}
	repo := t.Probe.Context()
	pull, err := transport.NewWithContext(ctx, reg, auth, w, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return classify(err, "the pull-scope token request for "+repo.RepositoryStr(), registryv1alpha1.ReasonForbidden)
	}
	if _, err := remote.Head(t.Probe, remote.WithTransport(pull), remote.WithContext(ctx)); err != nil {
		return classify(err, "HEAD of "+t.Probe.String(), registryv1alpha1.ReasonForbidden)
	}
	return Result{Reason: registryv1alpha1.ReasonVerified, Message: fmt.Sprintf("%s let the credential HEAD %s", host, t.Probe.String())}
}

func head(ctx context.Context, rt http.RoundTripper, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	return transport.CheckError(resp, http.StatusOK)
}

// classify turns an error of step into a Result. refused is the reason for a
// 401 or 403 at this step.
func classify(err error, step, refused string) Result {
	// TLS first: for a loopback or private address go-containerregistry
	// also tries plain HTTP, whose answer (400 from a TLS port) would hide
	// the certificate problem.
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) || errors.As(err, &record) {
		return Result{Reason: registryv1alpha1.ReasonTLSError, Message: fmt.Sprintf("%s: %s", step, redactErr(err))}
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		code := terr.StatusCode
		msg := fmt.Sprintf("%s: the registry answered %d %s", step, code, http.StatusText(code))
		if d := diagnostics(terr); d != "" {
			msg += " (" + d + ")"
		}
		switch {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return Result{Reason: refused, Message: msg}
		case code == http.StatusNotFound && refused == registryv1alpha1.ReasonForbidden:
			return Result{Reason: registryv1alpha1.ReasonProbeNotFound, Message: msg + "; the credential works, the probe reference does not exist"}
		case code == http.StatusTooManyRequests:
			return Result{Reason: registryv1alpha1.ReasonRateLimited, Message: msg}
		default:
			return Result{Reason: registryv1alpha1.ReasonUnreachable, Message: msg}
		}
	}
	var refusedHost *refusedHostError
	if errors.As(err, &refusedHost) {
		return Result{Reason: registryv1alpha1.ReasonUnreachable, Message: fmt.Sprintf("%s: %v", step, refusedHost)}
	}
	var nerr net.Error
	if errors.As(err, &nerr) || errors.Is(err, context.DeadlineExceeded) {
		return Result{Reason: registryv1alpha1.ReasonUnreachable, Message: fmt.Sprintf("%s: %s", step, redactErr(err))}
	}
	return Result{Reason: registryv1alpha1.ReasonUnreachable, Message: fmt.Sprintf("%s: %s", step, redactErr(err))}
}

// diagnostics lists the registry's error codes (e.g. UNAUTHORIZED,
// MANIFEST_UNKNOWN), without their messages or details, which a registry may
// fill with anything.
func diagnostics(e *transport.Error) string {
	var codes []string
	for _, d := range e.Errors {
		if c := string(d.Code); c != "" && len(codes) < 3 {
			codes = append(codes, c)
		}
	}
	return strings.Join(codes, ", ")
}

// redactErr prints an error with URLs stripped of their query strings
// (token requests carry the account and scope there).
func redactErr(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		u, perr := url.Parse(uerr.URL)
		if perr == nil {
			u.RawQuery, u.User = "", nil
			return fmt.Sprintf("%s %s: %v", uerr.Op, u.String(), uerr.Err)
		}
		return fmt.Sprintf("%s: %v", uerr.Op, uerr.Err)
	}
	return err.Error()
}

// watch is the check's transport: it refuses hosts other than the registry
// and its token realm, counts requests, and keeps the rate-limit headers.
type watch struct {
	inner http.RoundTripper

	mu         sync.Mutex
	allowed    map[string]bool
	requests   int
	retryAfter time.Duration
	rateLimit  string
}

type refusedHostError struct{ host string }

func (e *refusedHostError) Error() string {
	return fmt.Sprintf("refused a request to %s: the check talks only to the credential's registry and the token realm it names", e.host)
}

func (w *watch) allow(host string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.allowed[host] = true
}

func (w *watch) RoundTrip(req *http.Request) (*http.Response, error) {
	w.mu.Lock()
	ok := w.allowed[req.URL.Host] || w.allowed[strings.TrimSuffix(strings.TrimSuffix(req.URL.Host, ":443"), ":80")]
	if ok {
		w.requests++
	}
	w.mu.Unlock()
	if !ok {
		return nil, &refusedHostError{host: req.URL.Host}
	}
	resp, err := w.inner.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if v := resp.Header.Get("RateLimit-Remaining"); v != "" {
		w.rateLimit = truncate(v, 64)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		w.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp, nil
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func newHead(u string) (*http.Request, error) {
	return http.NewRequest(http.MethodHead, u, nil)
}
