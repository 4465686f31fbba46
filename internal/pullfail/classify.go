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

package pullfail

import (
	"regexp"
	"strings"
)

// Reasons returned by Classify.
const (
	// NotFound: the image, tag, digest or repository does not exist.
	NotFound = "NotFound"
	// Unauthorized: the registry did not accept the credentials, or none
	// were sent (401).
	Unauthorized = "Unauthorized"
	// Forbidden: the registry knows who is asking and refuses the pull (403,
	// denied, insufficient_scope).
	Forbidden = "Forbidden"
	// Other: anything else, including messages that carry no detail.
	Other = "Other"
)

// words matches any of the phrases as a whole: a phrase must not touch the
// letters, digits or /.:@- that image names, tags, hosts and digests are made
// of, so "unauthorized" in "acme/unauthorized-app:1" does not count. A phrase
// may be followed by ":" or "." only when a non-word character (or the end)
// comes next, as in "unauthorized: authentication required".
func words(phrases ...string) string {
	alts := make([]string, len(phrases))
	for i, p := range phrases {
		alts[i] = regexp.QuoteMeta(p)
	}
	return `(?:^|[^\w/.:@-])(?:` + strings.Join(alts, "|") + `)(?:$|[^\w/.:@-]|[.:](?:\W|$))`
}

// status matches an HTTP status code where the runtimes print one
// (": 401 Unauthorized", "status code 401", "registry 403 (Forbidden)",
// "HTTP 403 response", "(404)") and not digits inside a digest, a tag or a
// port.
func status(code string) string {
	return `(?:status(?: code)?:?\s|code:?\s|registry\s|http\s|:\s|\()` + code + `\b`
}

type rule struct {
	reason string
	re     *regexp.Regexp
}

func newRule(reason string, alternatives ...string) rule {
	return rule{reason, regexp.MustCompile(`(?i)` + strings.Join(alternatives, "|"))}
}

// rules are tried in order; the first match wins.
var rules = []rule{
	// The registry was not reached, or it said nothing about the image or
	// the credentials. First, so that a DNS error or a rate limit is never
	// read as "not found" or as an auth failure.
	newRule(Other,
		words("no such host", "server misbehaving", "connection refused", "connection reset",
			"no route to host", "network is unreachable", "i/o timeout", "tls handshake timeout",
			"toomanyrequests", "too many requests", "no match for platform",
			"signature validation failed", "source image rejected"),
		`\blookup\s`, `\bdial tcp\b`, `\bx509:`, `\btls:`, status("429"),
	),
	// Credentials the registry no longer accepts, even where the runtime
	// reports them as a denial.
	newRule(Unauthorized,
		words("invalid_token", "authorization token has expired"),
	),
	// The registry refuses access. Before Unauthorized and NotFound: Docker
	// Hub's "pull access denied ..., repository does not exist or may require
	// authorization: server message: insufficient_scope: authorization
	// failed" is a refusal, and so is CRI-O's "denied: ...\nunauthorized: ...".
	newRule(Forbidden,
		words("forbidden", "access denied", "requested access to the resource is denied", "insufficient_scope"),
		// "denied" as the registry's error code, not a local "permission denied".
		`(?:^|:\s+)denied(?::|\s*$)`,
		status("403"),
	),
	newRule(Unauthorized,
		words("unauthorized", "authentication required", "no basic auth credentials",
			"incorrect username or password", "invalid username/password", "authorization failed"),
		status("401"),
	),
	newRule(NotFound,
		words("not found", "manifest unknown", "name unknown"),
		status("404"),
	),
}

// quoted matches the double-quoted parts of a message: image references and
// request URLs, never the error itself.
var quoted = regexp.MustCompile(`"[^"]*"`)

// Classify returns NotFound, Unauthorized, Forbidden or Other for the waiting
// message of a container (reason ErrImagePull or ImagePullBackOff) or the note
// of a kubelet Failed Event. Matching is case-insensitive and ignores quoted
// image references and URLs.
func Classify(message string) string {
	m := quoted.ReplaceAllString(message, `""`)
	for _, r := range rules {
		if r.re.MatchString(m) {
			return r.reason
		}
	}
	return Other
}

// noDetail matches messages that carry no runtime error: the bare back-off
// message of kubelets before 1.31, and the kubelet's "Error: ErrImagePull" /
// "Error: ImagePullBackOff" Events.
var noDetail = regexp.MustCompile(`(?i)^\s*(?:(?:back-off pulling|failed to pull) image "[^"]*"\s*:?\s*)?` +
	`(?:error:\s*)?(?:(?:errimagepull|imagepullbackoff)\s*:?\s*)?$`)

// HasDetail reports whether message carries the runtime's error. It is false
// for a bare `Back-off pulling image "x"` (then the caller reads the kubelet's
// Failed Events instead) and true for the kubelet 1.31+ form
// `Back-off pulling image "x": ErrImagePull: <error>`.
func HasDetail(message string) bool {
	return !noDetail.MatchString(message)
}

var imageRef = regexp.MustCompile(`(?i)\bpull(?:ing| and unpack)? image "([^"]*)"`)

// ImageIn returns the image named in message: the first quoted reference after
// "pulling image", "pull image", "pull and unpack image" or "Back-off pulling
// image". It returns "" if there is none.
func ImageIn(message string) string {
	if m := imageRef.FindStringSubmatch(message); m != nil {
		return m[1]
	}
	return ""
}
