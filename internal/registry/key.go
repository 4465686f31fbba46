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

package registry

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
)

// Key is a key of a docker config "auths" map as the kubelet's keyring reads
// it (k8s.io/kubernetes pkg/credentialprovider, BasicDockerKeyring.Add and
// Lookup). The kubelet uses the credentials under a key for an image when:
//   - the ports are equal (none on either side, or the same digits);
//   - the hosts have as many "."-separated labels, and each key label, in
//     which "*" stands for any run of characters, matches the image's label
//     case-sensitively;
//   - the key's path is a plain string prefix of the image's repository path:
//     "reg.io/team" is used for "reg.io/teamx/app" too, and "reg.io/team/"
//     is not used for "reg.io/team".
//
// If no key matches a Docker Hub image, the kubelet falls back to a key read
// as exactly "index.docker.io"; ParseKey gives that key the Host "docker.io",
// so the fallback needs no case of its own. To the kubelet,
// "registry-1.docker.io" is a registry name of its own: its key is used only
// for images written registry-1.docker.io/..., never for docker.io images.
type Key struct {
	// Host is the host as written, case kept, with ":port" if one was given.
	// "docker.io" for the kubelet's Docker Hub keys.
	Host string
	// Path is the path prefix without its leading slash, "" if none. A
	// trailing slash is kept, as the kubelet keeps it.
	Path string
}

// String returns "host[:port][/path]".
func (k Key) String() string {
	if k.Path == "" {
		return k.Host
	}
	return k.Host + "/" + k.Path
}

// ParseKey reads a key of a docker config "auths" map as the kubelet does:
// a leading lower-case "https://" or "http://" is dropped; a path starting
// with "/v1/" or "/v2/" loses those three characters, so
// "https://index.docker.io/v1/" is "index.docker.io" and "reg.io/v2/team" is
// "reg.io/team"; a path of just "/" is dropped; any other path stays as
// written. "index.docker.io" without port or path then reads "docker.io".
//
// It refuses, on the safe side, keys that the kubelet would use for no image
// or only by reading them in a way nobody means: user information, a query
// or fragment, "%" escapes, any other scheme, glob characters other than "*"
// (the kubelet's URL parsing cuts a host at "?" and refuses "["), an empty
// port or one outside 1-65535, an IPv6 address without a port (the kubelet
// then takes "[addr]" as a glob that matches no host), and a path that no
// repository path starts with. ParseSecret counts such keys as invalid, so a
// source keyed only that way covers nothing instead of being reported
// Synced. ParseKey never panics.
func ParseKey(s string) (Key, error) {
	if s == "" {
		return Key{}, errors.New("registry key is empty")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return Key{}, errors.New("registry key contains whitespace, a control or a non-ASCII character")
		}
	}
	rest := s
	switch {
	case strings.HasPrefix(rest, "https://"):
		rest = rest[len("https://"):]
	case strings.HasPrefix(rest, "http://"):
		rest = rest[len("http://"):]
	case strings.Contains(rest, "://"):
		return Key{}, fmt.Errorf("registry key %q has a scheme the kubelet does not read (only a lower-case https:// or http://)", s)
	}
	if strings.ContainsAny(rest, "@?#%") {
		// Never echo such a key: user information may hold a password.
		return Key{}, errors.New("registry key has user information, a query, a fragment or an escape, which the kubelet drops or decodes")
	}
	hostport, p, hasPath := strings.Cut(rest, "/")
	if hasPath {
		p = "/" + p
		if strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/v2/") {
			p = p[len("/v1"):]
		}
		p = p[1:] // "" for a path of just "/"
	}
	host, err := parseKeyHost(hostport)
	if err != nil {
		return Key{}, fmt.Errorf("registry key %q: %w", s, err)
	}
	if err := validateKeyPath(p); err != nil {
		return Key{}, fmt.Errorf("registry key %q: %w", s, err)
	}
	if host == legacyDockerHub && p == "" {
		host = DockerHub
	}
	return Key{Host: host, Path: p}, nil
}

// parseKeyHost validates the host[:port] of a key and returns it as written.
// Labels follow the domain component grammar of image names with both cases
// of letters, and may hold "*" wildcards.
func parseKeyHost(hostport string) (string, error) {
	if hostport == "" {
		return "", errors.New("no host")
	}
	name, port, hasPort := splitHostPort(hostport)
	if hasPort {
		if err := validatePort(port); err != nil {
			return "", err
		}
	}
	if strings.HasPrefix(name, "[") {
		addr, ok := strings.CutSuffix(name[1:], "]")
		if ip, err := netip.ParseAddr(addr); !ok || err != nil || !ip.Is6() || ip.Zone() != "" || strings.Contains(addr, ".") {
			return "", fmt.Errorf("invalid IPv6 address %q", name)
		}
		if !hasPort {
			return "", fmt.Errorf("the kubelet matches IPv6 address %q only with a port", name)
		}
		return hostport, nil
	}
	if name == "" {
		return "", errors.New("empty host name")
	}
	for label := range strings.SplitSeq(name, ".") {
		if !validKeyLabel(label) {
			return "", fmt.Errorf("invalid host %q: label %q is not a DNS label (letters, digits, inner '-', and '*' wildcards)", name, label)
		}
	}
	return hostport, nil
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// validKeyLabel reports whether label is a DNS label, in either case, in
// which "*" may stand for any run of characters.
func validKeyLabel(label string) bool {
	if label == "" || !onlyChars(label, alnum+"-*") {
		return false
	}
	if strings.Contains(label, "*") {
		return true
	}
	return label[0] != '-' && label[len(label)-1] != '-'
}

// validateKeyPath checks that some repository path starts with p: every
// component but the last is a repository path component, and the last (after
// an optional trailing slash) is the start of one.
func validateKeyPath(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > maxPathLen {
		return fmt.Errorf("path is longer than %d characters", maxPathLen)
	}
	comps := strings.Split(strings.TrimSuffix(p, "/"), "/")
	for i, c := range comps {
		ok := isPathComponent(c)
		if i == len(comps)-1 && !ok && c != "" && isAlnum(c[0]) && onlyChars(c, "abcdefghijklmnopqrstuvwxyz0123456789._-") {
			ok = isPathComponent(c + "a") // a prefix such as "team-" or "team_"
		}
		if !ok {
			return fmt.Errorf("no repository path starts with %q, so the kubelet never uses the key (paths are lower-case letters, digits and separators '.', '_', '__', '-')", p)
		}
	}
	return nil
}

// MatchesImage reports whether the kubelet would use credentials stored
// under k for img (without the Docker Hub fallback, which ParseKey folds
// into the Host). It does not allocate.
func (k Key) MatchesImage(img Image) bool {
	return keyHostMatches(k.Host, img.Host, false) && strings.HasPrefix(img.Path, k.Path)
}

// Covers reports whether the kubelet would use credentials stored under k
// for every image that s matches (see Server.MatchesImage): the ports are
// equal, each label of s is matched by k's label (a wildcard label of s only
// by "*" or the same pattern), and k.Path is "" or a string prefix of s.Path.
// So "reg.io" and "reg.io/te" cover "reg.io/team", while "reg.io/team/"
// does not cover "reg.io/team": its image reg.io/team has no credentials.
func (k Key) Covers(s Server) bool {
	return keyHostMatches(k.Host, s.Host, true) && (k.Path == "" || strings.HasPrefix(s.Path, k.Path))
}

// keyHostMatches matches the host[:port] of a key against a host of an image
// or, when targetIsPattern, of a server, whose labels may be globs.
func keyHostMatches(pattern, target string, targetIsPattern bool) bool {
	pn, pp, _ := splitHostPort(pattern)
	tn, tp, _ := splitHostPort(target)
	if pp != tp {
		return false
	}
	if strings.HasPrefix(pn, "[") || !strings.Contains(pn, "*") {
		return pn == tn
	}
	for {
		pl, prest, pmore := strings.Cut(pn, ".")
		tl, trest, tmore := strings.Cut(tn, ".")
		if pmore != tmore {
			return false
		}
		if targetIsPattern && hasGlobMeta(tl) {
			if pl != "*" && pl != tl {
				return false
			}
		} else if ok, err := path.Match(pl, tl); err != nil || !ok {
			return false
		}
		if !pmore {
			return true
		}
		pn, tn = prest, trest
	}
}

// Hint explains, for a server that no key of the config covers, which key
// the kubelet would not read as its author probably meant, or returns "".
func (c *DockerConfig) Hint(s Server) string {
	if c == nil {
		return ""
	}
	for _, k := range c.Keys {
		switch {
		case s.Host == DockerHub && k.Host == "registry-1.docker.io":
			return "the kubelet does not use a key registry-1.docker.io for Docker Hub images: key the credential docker.io, index.docker.io or https://index.docker.io/v1/"
		case s.Host == DockerHub && k.Host == legacyDockerHub:
			return "the kubelet uses an index.docker.io key for Docker Hub images only without a path: write docker.io/" + k.Path
		case k.Host != s.Host && equalFoldASCII(k.Host, s.Host):
			return fmt.Sprintf("key %q differs from the server only in letter case, and the kubelet compares registry hosts case-sensitively", k.String())
		}
	}
	return ""
}
