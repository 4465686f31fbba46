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

package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registries are the node's two registries, go-containerregistry's
// in-memory registry behind each:
//   - localhost:5001: open, plain HTTP, for the node's own images (the
//     sandbox image, the operator's image), as kind's local registry;
//   - private-registry.io on :443 and :5000: TLS from a CA that only
//     containerd's hosts.toml trusts, and basic auth against the users file,
//     read at every request so that a test can rotate the password. The
//     same registry answers on the node IP's :443 and :5000, which Pods
//     can reach.
type registries struct {
	servers []*http.Server
}

func startRegistries(n *node) (*registries, error) {
	r := &registries{}
	quiet := log.New(io.Discard, "", 0)
	open := registry.New(registry.Logger(quiet))
	if err := r.serve(localRegistry, open, nil); err != nil {
		return nil, err
	}
	ca, err := newAuthority("private-registry.io CA")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(n.path("registry", "ca.crt"), ca.pem, 0o644); err != nil {
		return nil, err
	}
	serving, err := ca.issue(registryHost, nil, registryHost, registryIP, nodeIP)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(serving.cert, serving.key)
	if err != nil {
		return nil, err
	}
	users := n.path("registry", "users")
	if err := os.WriteFile(users, []byte("regcred-e2e:"+randomPassword()+"\n"), 0o600); err != nil {
		return nil, err
	}
	private := basicAuth(users, registry.New(registry.Logger(quiet)))
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	// Pods reach the node's IP (not its loopback): the operator's credential
	// check talks to the registry there (a hostAlias names it).
	for _, ip := range []string{registryIP, nodeIP} {
		for _, port := range []string{"443", "5000"} {
			if err := r.serve(net.JoinHostPort(ip, port), private, tlsCfg); err != nil {
				r.close()
				return nil, err
			}
		}
	}
	return r, nil
}

func (r *registries) serve(addr string, h http.Handler, tlsCfg *tls.Config) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("registry on %s: %w", addr, err)
	}
	if tlsCfg != nil {
		l = tls.NewListener(l, tlsCfg)
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	r.servers = append(r.servers, s)
	go func() { _ = s.Serve(l) }()
	return nil
}

func (r *registries) close() {
	for _, s := range r.servers {
		_ = s.Close()
	}
}

// basicAuth answers 401 with a Basic challenge unless the request carries a
// user and password from the users file (user:password, one a line).
func basicAuth(usersFile string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		user, pass, ok := req.BasicAuth()
		if ok && validUser(usersFile, user, pass) {
			next.ServeHTTP(w, req)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="`+registryHost+`"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
	})
}

func validUser(usersFile, user, pass string) bool {
	b, err := os.ReadFile(usersFile)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		u, p, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1 && subtle.ConstantTimeCompare([]byte(p), []byte(pass)) == 1 {
			return true
		}
	}
	return false
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// registryUser is the first user of the private registry's users file.
func registryUser(usersFile string) (user, pass string, err error) {
	b, err := os.ReadFile(usersFile)
	if err != nil {
		return "", "", err
	}
	u, p, ok := strings.Cut(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]), ":")
	if !ok {
		return "", "", errors.New("no user in " + usersFile)
	}
	return u, p, nil
}

// pushNodeImages builds the sleeper and pushes it as the sandbox image (open
// registry) and as apps/internal-app (private registry, with its password).
func (n *node) pushNodeImages(ctx context.Context) error {
	bin := n.path("sleeper")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./hack/node/sleeper")
	cmd.Dir = n.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the sleeper: %v: %s", err, out)
	}
	img, err := buildImage(imageSpec{binary: bin, path: "/sleeper", user: "65532:65532",
		labels: map[string]string{"org.opencontainers.image.title": "regcred-node sleeper"}})
	if err != nil {
		return err
	}
	if _, err := pushImage(ctx, img, pauseImage, pushOptions{}); err != nil {
		return err
	}
	user, pass, err := registryUser(n.path("registry", "users"))
	if err != nil {
		return err
	}
	_, err = pushImage(ctx, img, internalAppTag, pushOptions{caFile: n.path("registry", "ca.crt"), user: user, pass: pass})
	return err
}

type pushOptions struct {
	caFile     string
	user, pass string
}

// pushImage pushes img to ref and returns ref@digest. A localhost registry
// is spoken to over plain HTTP.
func pushImage(ctx context.Context, img remoteImage, ref string, o pushOptions) (string, error) {
	var nameOpts []name.Option
	if strings.HasPrefix(ref, "localhost:") || strings.HasPrefix(ref, "127.0.0.1:") {
		nameOpts = append(nameOpts, name.Insecure)
	}
	tag, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return "", err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return "", err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	auth := authn.Anonymous
	if o.user != "" {
		auth = &authn.Basic{Username: o.user, Password: o.pass}
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx), remote.WithTransport(tr), remote.WithAuth(auth)); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return tag.Context().Name() + "@" + d.String(), nil
}
