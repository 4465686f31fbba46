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

// Package registry decides whether a registry server, as written by a user in
// RegistryCredential.spec.server, applies to a container image, and whether
// the kubelet would use the credentials under a key of a docker config
// "auths" map for the images of that server (see Key, which follows the
// kubelet's pkg/credentialprovider keyring). It also parses docker config
// pull Secrets without ever retaining or printing credentials.
//
// The package is pure logic (no Kubernetes client) and is used on the hot path
// of a mutating webhook: parse servers once with ParseServer and images once
// with ParseImage, then call Server.MatchesImage, which does not allocate.
//
// Image names follow Docker's rules (distribution/reference): "nginx" is
// docker.io/library/nginx and index.docker.io/x is docker.io/x. Every other
// host, registry-1.docker.io included, is a registry name of its own, as it
// is to the kubelet.
//
// spec.server decides which Pods the webhook injects, and differs from a key
// on purpose in two ways: its host is compared case-insensitively (an image
// whose host has capitals gets a reference the kubelet does not use, which
// costs nothing), and its path prefix matches on segment boundaries
// ("reg.io/team" does not match "reg.io/teamx/app"). Whether the source's
// keys serve the server is decided by the kubelet's rules (Key.Covers).
package registry

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/distribution/reference"
)

// DockerHub is the canonical name of Docker Hub.
const DockerHub = "docker.io"

// legacyDockerHub is Docker Hub's old name. Image names read it as DockerHub
// (distribution/reference), and the kubelet falls back to a key of exactly
// this name for Docker Hub images.
const legacyDockerHub = "index.docker.io"

// maxPathLen is the longest repository path an image may have
// (reference.RepositoryNameTotalLengthMax); a server path is bounded the same way.
const maxPathLen = reference.RepositoryNameTotalLengthMax

// Server is a parsed, normalised registry location: host[:port] plus optional path prefix.
type Server struct {
	// Host is the lower-case host, with ":port" if one was given.
	// "index.docker.io" becomes "docker.io". It may contain glob patterns, most commonly a
	// leading "*." wildcard label.
	Host string
	// Path is the path prefix without leading or trailing slash, "" if none.
	Path string
}

// String returns "host[:port][/path]".
func (s Server) String() string {
	if s.Path == "" {
		return s.Host
	}
	return s.Host + "/" + s.Path
}

// ParseServer parses a server as written in RegistryCredential.spec.server
// (docker config keys are read by ParseKey).
//
// An optional "http://" or "https://" scheme is dropped, as are trailing
// slashes. "index.docker.io" (without port) is "docker.io", as in image
// names, and on docker.io a path that is exactly "v1" or "v2" is dropped, so
// "https://index.docker.io/v1/" is "docker.io". "registry-1.docker.io" is a
// host of its own. Hosts are lower-cased.
//
// The host is either a DNS name or IPv4 address whose labels may use glob
// patterns ("*", "?", "[...]"), or a bracketed IPv6 literal; it may carry a
// port in 1-65535. The path, if any, must be made of valid repository path
// components (lower-case, as in image names). ParseServer never panics.
func ParseServer(s string) (Server, error) {
	if s == "" {
		return Server{}, errors.New("registry server is empty")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return Server{}, fmt.Errorf("registry server %q contains whitespace, a control or a non-ASCII character", s)
		}
	}
	rest := s
	switch {
	case hasPrefixFold(rest, "https://"):
		rest = rest[len("https://"):]
	case hasPrefixFold(rest, "http://"):
		rest = rest[len("http://"):]
	case strings.Contains(rest, "://"):
		return Server{}, fmt.Errorf("registry server %q has an unsupported scheme (only http:// and https:// are accepted)", s)
	}
	hostport, p, _ := strings.Cut(rest, "/")
	p = strings.TrimRight(p, "/")
	if hostport == "" {
		return Server{}, fmt.Errorf("registry server %q has no host", s)
	}
	host, err := parseServerHost(hostport)
	if err != nil {
		return Server{}, fmt.Errorf("registry server %q: %w", s, err)
	}
	if host == DockerHub && (p == "v1" || p == "v2") {
		p = ""
	}
	if err := validatePath(p); err != nil {
		return Server{}, fmt.Errorf("registry server %q: %w", s, err)
	}
	return Server{Host: host, Path: p}, nil
}

// NormalizeServer is ParseServer(s).String().
func NormalizeServer(s string) (string, error) {
	srv, err := ParseServer(s)
	if err != nil {
		return "", err
	}
	return srv.String(), nil
}

// parseServerHost validates host[:port] and returns it lower-cased, with
// index.docker.io mapped to DockerHub.
func parseServerHost(hostport string) (string, error) {
	hp := lowerASCII(hostport)
	name, port, hasPort := splitHostPort(hp)
	if hasPort {
		if err := validatePort(port); err != nil {
			return "", err
		}
	}
	if isBracketed(name) {
		addr := name[1 : len(name)-1]
		// Same alphabet as distribution/reference's ipv6address, and a real
		// IPv6 address (no zone, no embedded dotted IPv4).
		if !onlyChars(addr, "0123456789abcdef:") {
			return "", fmt.Errorf("invalid IPv6 address %q", name)
		}
		if ip, err := netip.ParseAddr(addr); err != nil || !ip.Is6() {
			return "", fmt.Errorf("invalid IPv6 address %q", name)
		}
		return hp, nil
	}
	if name == "" {
		return "", errors.New("empty host name")
	}
	for label := range strings.SplitSeq(name, ".") {
		if err := validateLabel(label); err != nil {
			return "", fmt.Errorf("invalid host %q: %w", name, err)
		}
	}
	if !hasPort && isDockerHubAlias(name) {
		return DockerHub, nil
	}
	return hp, nil
}

// validateLabel checks one DNS label of a server host. Plain labels follow
// distribution/reference's domain component grammar ([a-z0-9] at both ends,
// [a-z0-9-] inside). Labels with glob meta characters may also use "*", "?"
// and "[...]" classes (path.Match syntax, without "\" escapes).
func validateLabel(label string) error {
	if label == "" {
		return errors.New("empty DNS label")
	}
	if !hasGlobMeta(label) {
		if !isDomainComponent(label) {
			return fmt.Errorf("invalid DNS label %q", label)
		}
		return nil
	}
	if !onlyChars(label, "abcdefghijklmnopqrstuvwxyz0123456789-*?[]^") {
		return fmt.Errorf("invalid wildcard DNS label %q", label)
	}
	if _, err := path.Match(label, ""); err != nil {
		return fmt.Errorf("invalid wildcard DNS label %q", label)
	}
	return nil
}

// isDomainComponent reports whether s matches
// (?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9]).
func isDomainComponent(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	return onlyChars(s, "abcdefghijklmnopqrstuvwxyz0123456789-")
}

func validatePort(port string) error {
	if port == "" {
		return errors.New("empty port")
	}
	if len(port) > 5 || !onlyChars(port, "0123456789") {
		return fmt.Errorf("invalid port %q", port)
	}
	n := 0
	for i := 0; i < len(port); i++ {
		n = n*10 + int(port[i]-'0')
	}
	if n < 1 || n > 65535 {
		return fmt.Errorf("port %q out of range 1-65535", port)
	}
	return nil
}

// validatePath checks a server path prefix: "" or slash-separated repository
// path components as in distribution/reference:
// [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*.
func validatePath(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > maxPathLen {
		return fmt.Errorf("path is longer than %d characters", maxPathLen)
	}
	for comp := range strings.SplitSeq(p, "/") {
		if !isPathComponent(comp) {
			if comp == "" {
				return errors.New("path has an empty component")
			}
			return fmt.Errorf("invalid path component %q (want lower-case letters, digits and separators '.', '_', '__', '-')", comp)
		}
	}
	return nil
}

func isPathComponent(c string) bool {
	if c == "" || !isAlnum(c[0]) || !isAlnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if isAlnum(c[i]) {
			i++
			continue
		}
		// A separator run, followed by an alphanumeric (the last byte is one).
		j := i
		for j < len(c) && !isAlnum(c[j]) {
			j++
		}
		switch sep := c[i:j]; {
		case sep == "." || sep == "_" || sep == "__":
		case onlyChars(sep, "-"):
		default:
			return false
		}
		i = j
	}
	return true
}

func isAlnum(c byte) bool { return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') }

// Image is a normalised image location (no tag or digest).
type Image struct {
	// Host is the registry host[:port], lower-case; "docker.io" for Docker Hub.
	Host string
	// Path is the repository path, e.g. "library/nginx".
	Path string
}

// String returns "host/path".
func (i Image) String() string { return i.Host + "/" + i.Path }

// ParseImage normalises an image reference by Docker's rules, using
// reference.ParseNormalizedNamed: "nginx" is docker.io/library/nginx. Tag and
// digest are dropped. The host is lower-cased, index.docker.io becomes
// docker.io, and a one-component Docker Hub path gets the "library/" prefix.
// registry-1.docker.io/nginx stays registry-1.docker.io/nginx, as the
// kubelet reads it.
//
// Some references that distribution/reference accepts are rejected: a name
// whose first component looks like a host but is not a valid one ("a_b.io/x",
// which reference parses as a path without domain), a host that is only
// recognised as a host because it has upper-case letters ("FOO/bar", whereas
// "foo/bar" is a Docker Hub repository), and a Docker Hub path that becomes
// longer than 255 characters with the "library/" prefix. The last two would
// not re-parse to the same location.
func ParseImage(image string) (Image, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return Image{}, fmt.Errorf("invalid image reference %q: %w", image, err)
	}
	domain, p := reference.Domain(named), reference.Path(named)
	if domain == "" {
		// distribution/reference takes "a_b.io/x" as a name without domain:
		// "a_b.io" looks like a host but is not a valid one, and is a valid
		// path component.
		return Image{}, fmt.Errorf("invalid image reference %q: invalid registry host", image)
	}
	host := lowerASCII(domain)
	if isDockerHubAlias(host) {
		host = DockerHub
		if !strings.Contains(p, "/") {
			p = "library/" + p
		}
	}
	if host != "localhost" && !strings.ContainsAny(host, ".:") {
		return Image{}, fmt.Errorf("invalid image reference %q: registry host %q is only distinguished from a Docker Hub namespace by upper-case letters", image, domain)
	}
	if len(p) > maxPathLen {
		return Image{}, fmt.Errorf("invalid image reference %q: repository path is longer than %d characters", image, maxPathLen)
	}
	return Image{Host: host, Path: p}, nil
}

// MatchesImage reports whether server s applies to image img (the webhook's
// decision), by the kubelet's host rules (pkg/credentialprovider URLsMatch)
// except for case and path boundaries:
//   - hosts are compared case-insensitively;
//   - a server with a port matches only that port, a server without a port
//     only images without a port;
//   - hosts are split on "." and must have the same number of labels, each
//     server label is a path.Match glob for the image label, so "*.example.com"
//     matches "a.example.com" but neither "example.com" nor "a.b.example.com";
//     a bracketed IPv6 host is compared literally;
//   - a server path prefix matches on path-segment boundaries: "reg.io/team"
//     matches "reg.io/team/app" and "reg.io/team" but not "reg.io/teamx/app".
//
// It does not allocate for parsed (lower-case) values.
func (s Server) MatchesImage(img Image) bool {
	return hostMatches(s.Host, img.Host) && segmentPrefix(s.Path, img.Path)
}

// MatchesImageRef parses image with ParseImage and matches it; it returns
// false if image does not parse.
func (s Server) MatchesImageRef(image string) bool {
	img, err := ParseImage(image)
	if err != nil {
		return false
	}
	return s.MatchesImage(img)
}

// hostMatches reports whether the server host pattern matches the image
// host, case-insensitively.
func hostMatches(pattern, host string) bool {
	pattern, host = canonicalHost(pattern), canonicalHost(host)
	pn, pp, _ := splitHostPort(pattern)
	tn, tp, _ := splitHostPort(host)
	if pp != tp {
		return false
	}
	if !hasGlobMeta(pn) || isBracketed(pn) {
		return equalFoldASCII(pn, tn)
	}
	for {
		pl, prest, pmore := strings.Cut(pn, ".")
		tl, trest, tmore := strings.Cut(tn, ".")
		if pmore != tmore || !matchLabel(pl, tl) {
			return false
		}
		if !pmore {
			return true
		}
		pn, tn = prest, trest
	}
}

// matchLabel matches one DNS label, case-insensitively.
func matchLabel(pattern, target string) bool {
	if !hasGlobMeta(pattern) {
		return equalFoldASCII(pattern, target)
	}
	ok, err := path.Match(lowerASCII(pattern), lowerASCII(target))
	return err == nil && ok
}

// segmentPrefix reports whether prefix is "" or a prefix of p that ends on a
// "/" boundary of p. Leading and trailing slashes are ignored.
func segmentPrefix(prefix, p string) bool {
	prefix, p = strings.Trim(prefix, "/"), strings.Trim(p, "/")
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || p[len(prefix)] == '/'
}

// splitHostPort splits "name[:port]" where name may be a bracketed IPv6
// literal. hasPort reports whether a ":" separator was present.
func splitHostPort(hp string) (name, port string, hasPort bool) {
	if strings.HasPrefix(hp, "[") {
		if end := strings.IndexByte(hp, ']'); end >= 0 {
			switch rest := hp[end+1:]; {
			case rest == "":
				return hp, "", false
			case rest[0] == ':':
				return hp[:end+1], rest[1:], true
			}
		}
		// Not an IPv6 literal: a glob class such as "[ab].example.com".
	}
	if i := strings.LastIndexByte(hp, ':'); i >= 0 {
		return hp[:i], hp[i+1:], true
	}
	return hp, "", false
}

// isBracketed reports whether name is a bracketed IPv6 literal in the
// alphabet of distribution/reference ("[" [0-9a-fA-F:]+ "]").
func isBracketed(name string) bool {
	return len(name) > 2 && name[0] == '[' && name[len(name)-1] == ']' &&
		onlyChars(lowerASCII(name[1:len(name)-1]), "0123456789abcdef:")
}

func hasGlobMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// canonicalHost maps index.docker.io (without port, any case) to DockerHub.
func canonicalHost(h string) string {
	if isDockerHubAlias(h) {
		return DockerHub
	}
	return h
}

// isDockerHubAlias reports whether h (without port, any case) names Docker
// Hub in an image name: docker.io or index.docker.io.
func isDockerHubAlias(h string) bool {
	return equalFoldASCII(h, DockerHub) || equalFoldASCII(h, legacyDockerHub)
}

// equalFoldASCII is strings.EqualFold restricted to ASCII case folding, so
// that e.g. the Kelvin sign does not match "k".
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerByte(a[i]) != lowerByte(b[i]) {
			return false
		}
	}
	return true
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// lowerASCII lower-cases ASCII letters only; it returns s itself (no
// allocation) when there is nothing to change.
func lowerASCII(s string) string {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		b[i] = lowerByte(b[i])
	}
	return string(b)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && equalFoldASCII(s[:len(prefix)], prefix)
}

func onlyChars(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}
