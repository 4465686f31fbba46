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
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Secret types and data keys, mirroring the k8s.io/api/core/v1 constants so
// that this package does not depend on the Kubernetes API types.
const (
	// SecretTypeDockerConfigJSON is corev1.SecretTypeDockerConfigJson.
	SecretTypeDockerConfigJSON = "kubernetes.io/dockerconfigjson"
	// SecretTypeDockercfg is corev1.SecretTypeDockercfg.
	SecretTypeDockercfg = "kubernetes.io/dockercfg"
	// DockerConfigJSONKey is corev1.DockerConfigJsonKey.
	DockerConfigJSONKey = ".dockerconfigjson"
	// DockercfgKey is corev1.DockerConfigKey.
	DockercfgKey = ".dockercfg"
)

// ParseError reasons.
const (
	// ReasonWrongType: the Secret type is not a docker config type.
	ReasonWrongType = "WrongType"
	// ReasonMissingKey: the data key for the type is absent or empty.
	ReasonMissingKey = "MissingKey"
	// ReasonMalformedJSON: the data is not valid JSON, or has a value of the
	// wrong JSON type, or an entry that the kubelet would fail to decode.
	ReasonMalformedJSON = "MalformedJSON"
	// ReasonNoAuths: there is no "auths" object, or it has no entries.
	ReasonNoAuths = "NoAuths"
)

// ParseError is returned by ParseSecret. Its Message never contains any byte
// of the Secret data: it is built only from fixed text, the data key name,
// the Secret type, JSON value kinds, entry numbers and byte offsets.
type ParseError struct {
	// Reason is one of ReasonWrongType, ReasonMissingKey, ReasonMalformedJSON
	// and ReasonNoAuths.
	Reason string
	// Message is a human-readable explanation.
	Message string
}

// Error returns the Message.
func (e *ParseError) Error() string { return e.Message }

func parseErrorf(reason, format string, args ...any) *ParseError {
	return &ParseError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// DockerConfig is the parsed content of a pull Secret. It never stores or
// prints credential values.
type DockerConfig struct {
	// Keys are the keys of the auths map as the kubelet reads them
	// (ParseKey), sorted by String(), without duplicates. Keys that do not
	// parse are skipped and counted in Invalid.
	Keys []Key
	// Invalid is the number of auth keys that did not parse: the kubelet
	// would use them for no image, or only by a reading nobody means.
	Invalid int
}

// Covers reports whether the kubelet would use some entry for every image
// that s matches (see Key.Covers).
func (c *DockerConfig) Covers(s Server) bool {
	if c == nil {
		return false
	}
	for _, k := range c.Keys {
		if k.Covers(s) {
			return true
		}
	}
	return false
}

// MatchesImage reports whether the kubelet would use some entry for img
// (see Key.MatchesImage).
func (c *DockerConfig) MatchesImage(img Image) bool {
	if c == nil {
		return false
	}
	for _, k := range c.Keys {
		if k.MatchesImage(img) {
			return true
		}
	}
	return false
}

// dockerConfigEntry has the shape the kubelet decodes an auths entry into
// (credentialprovider.dockerConfigEntryWithAuth): decoding fails for the same
// inputs, e.g. a password that is a number.
type dockerConfigEntry struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// ParseSecret parses the data of a Secret of type
// "kubernetes.io/dockerconfigjson" (key ".dockerconfigjson", JSON
// {"auths": {server: entry, ...}}) or the legacy "kubernetes.io/dockercfg"
// (key ".dockercfg", JSON {server: entry, ...}).
//
// It returns a *ParseError for an unsupported type (ReasonWrongType), a
// missing or empty data key (ReasonMissingKey), invalid JSON, a top-level
// value or "auths" that is not an object, or an entry that the kubelet would
// fail to decode (not an object, a non-string "username", "password", "email"
// or "auth", or an "auth" that is not base64 of "username:password")
// (ReasonMalformedJSON), and no "auths" or no entries (ReasonNoAuths). Like
// the kubelet, it matches "auths" case-insensitively and rejects a
// "HttpHeaders" value that is not an object of strings.
//
// Error messages never include Secret data, not even the JSON error of
// encoding/json (which quotes the offending character): offsets and entry
// numbers (1-based, in document order) locate the problem instead.
func ParseSecret(secretType string, data map[string][]byte) (*DockerConfig, error) {
	var key string
	switch secretType {
	case SecretTypeDockerConfigJSON:
		key = DockerConfigJSONKey
	case SecretTypeDockercfg:
		key = DockercfgKey
	default:
		return nil, parseErrorf(ReasonWrongType, "unsupported Secret type %q: want %q or %q",
			secretType, SecretTypeDockerConfigJSON, SecretTypeDockercfg)
	}
	raw, ok := data[key]
	if !ok {
		return nil, parseErrorf(ReasonMissingKey, "Secret of type %q has no %q data key", secretType, key)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, parseErrorf(ReasonMissingKey, "Secret data key %q is empty", key)
	}
	if !json.Valid(raw) {
		return nil, syntaxError(key, raw)
	}

	kind := jsonKind(raw)
	if kind == kindNull {
		return nil, noAuths(secretType, key)
	}
	if kind != kindObject {
		return nil, parseErrorf(ReasonMalformedJSON, "top-level JSON value in %q is %s, want an object", key, kind)
	}

	auths := raw
	if secretType == SecretTypeDockerConfigJSON {
		// The same shape as the kubelet's credentialprovider.DockerConfigJSON.
		var top struct {
			Auths       json.RawMessage   `json:"auths"`
			HTTPHeaders map[string]string `json:"HttpHeaders,omitempty"`
		}
		if err := json.Unmarshal(raw, &top); err != nil {
			// Auths accepts any value, so this is about HttpHeaders.
			return nil, parseErrorf(ReasonMalformedJSON, "unexpected JSON type for \"HttpHeaders\" in %q: want an object of strings", key)
		}
		auths = top.Auths
		if len(auths) == 0 || jsonKind(auths) == kindNull {
			return nil, noAuths(secretType, key)
		}
		if k := jsonKind(auths); k != kindObject {
			return nil, parseErrorf(ReasonMalformedJSON, "unexpected JSON type for \"auths\" in %q: got %s, want an object", key, k)
		}
	}

	keys, err := entryKeys(key, auths)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, noAuths(secretType, key)
	}

	cfg := &DockerConfig{}
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		key, err := ParseKey(k)
		if err != nil {
			cfg.Invalid++
			continue
		}
		cfg.Keys = append(cfg.Keys, key)
		names = append(names, key.String())
	}
	// Sort by String() and drop duplicates; names[i] is Keys[i].String().
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	sorted := make([]Key, 0, len(idx))
	for j, i := range idx {
		if j > 0 && names[i] == names[idx[j-1]] {
			continue
		}
		sorted = append(sorted, cfg.Keys[i])
	}
	cfg.Keys = sorted
	return cfg, nil
}

// entryKeys walks the auths object (already known to be valid JSON and an
// object) in document order, validates every entry like the kubelet would,
// and returns the keys, duplicates included.
func entryKeys(dataKey string, auths []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(auths))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, parseErrorf(ReasonMalformedJSON, "malformed JSON in %q", dataKey)
	}
	var keys []string
	for n := 1; dec.More(); n++ {
		tok, err := dec.Token()
		k, isString := tok.(string)
		if err != nil || !isString {
			return nil, parseErrorf(ReasonMalformedJSON, "malformed JSON in %q", dataKey)
		}
		var entry json.RawMessage
		if err := dec.Decode(&entry); err != nil {
			return nil, parseErrorf(ReasonMalformedJSON, "malformed JSON in %q", dataKey)
		}
		if err := validateEntry(entry); err != "" {
			return nil, parseErrorf(ReasonMalformedJSON, "registry entry #%d (in document order) in %q: %s", n, dataKey, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// validateEntry returns "" if the kubelet would decode entry, else a
// description of the problem that contains no byte of entry.
func validateEntry(entry []byte) string {
	if k := jsonKind(entry); k != kindObject {
		return "value is " + k + ", want a JSON object"
	}
	var e dockerConfigEntry
	if err := json.Unmarshal(entry, &e); err != nil {
		return `"username", "password", "email" and "auth" must be strings`
	}
	if e.Auth != "" && !validAuthField(e.Auth) {
		return `"auth" is not the base64 encoding of "username:password"`
	}
	return ""
}

// validAuthField mirrors the kubelet's decodeDockerConfigFieldAuth: padded
// standard base64 if the (space-trimmed) value ends with "=", unpadded
// otherwise, and the decoded value must contain a ":".
func validAuthField(field string) bool {
	enc := base64.RawStdEncoding
	if strings.HasSuffix(strings.TrimSpace(field), "=") {
		enc = base64.StdEncoding
	}
	decoded, err := enc.DecodeString(field)
	if err != nil {
		return false
	}
	ok := bytes.IndexByte(decoded, ':') >= 0
	clear(decoded)
	return ok
}

func noAuths(secretType, key string) *ParseError {
	if secretType == SecretTypeDockerConfigJSON {
		return parseErrorf(ReasonNoAuths, "%q has no \"auths\" entries", key)
	}
	return parseErrorf(ReasonNoAuths, "%q has no registry entries", key)
}

// syntaxError describes invalid JSON by byte offset only: the error text of
// encoding/json quotes the offending character, which may be secret.
func syntaxError(key string, raw []byte) *ParseError {
	var se *json.SyntaxError
	if err := json.Unmarshal(raw, &struct{}{}); errors.As(err, &se) {
		return parseErrorf(ReasonMalformedJSON, "malformed JSON in %q at byte offset %d", key, se.Offset)
	}
	return parseErrorf(ReasonMalformedJSON, "malformed JSON in %q", key)
}

// JSON value kinds, phrased for messages.
const (
	kindObject  = "an object"
	kindArray   = "an array"
	kindString  = "a string"
	kindNumber  = "a number"
	kindBoolean = "a boolean"
	kindNull    = "null"
)

// jsonKind returns the kind of a valid JSON value from its first
// non-whitespace byte.
func jsonKind(v []byte) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return kindNull
	}
	switch v[0] {
	case '{':
		return kindObject
	case '[':
		return kindArray
	case '"':
		return kindString
	case 't', 'f':
		return kindBoolean
	case 'n':
		return kindNull
	default:
		return kindNumber
	}
}

// Credential is the user name and password of one docker config entry.
// Never log or print it.
type Credential struct {
	Username, Password string
}

// CredentialFor returns the credential the kubelet would try first for the
// images under s: that of the key that covers s and comes first in the
// kubelet's order (keys as ParseKey reads them, reverse-sorted, so that the
// most specific path comes first). An "auth" field, when set, gives the user
// name and password, as for the kubelet. ok is false when no key covers s
// or the data does not parse (see ParseSecret).
func CredentialFor(secretType string, data map[string][]byte, s Server) (cred Credential, ok bool) {
	if _, err := ParseSecret(secretType, data); err != nil {
		return Credential{}, false
	}
	var auths map[string]dockerConfigEntry
	if secretType == SecretTypeDockerConfigJSON {
		var top struct {
			Auths map[string]dockerConfigEntry `json:"auths"`
		}
		if json.Unmarshal(data[DockerConfigJSONKey], &top) != nil {
			return Credential{}, false
		}
		auths = top.Auths
	} else if json.Unmarshal(data[DockercfgKey], &auths) != nil {
		return Credential{}, false
	}
	best := ""
	for k, e := range auths {
		key, err := ParseKey(k)
		if err != nil || !key.Covers(s) {
			continue
		}
		if ks := key.String(); !ok || ks > best {
			best, ok = ks, true
			cred = Credential{Username: e.Username, Password: e.Password}
			if e.Auth != "" {
				cred = decodeAuth(e.Auth)
			}
		}
	}
	return cred, ok
}

// decodeAuth splits an "auth" field (already validated) into user name and
// password at the first ":".
func decodeAuth(field string) Credential {
	enc := base64.RawStdEncoding
	if strings.HasSuffix(strings.TrimSpace(field), "=") {
		enc = base64.StdEncoding
	}
	decoded, err := enc.DecodeString(field)
	if err != nil {
		return Credential{}
	}
	user, pass, _ := strings.Cut(string(decoded), ":")
	clear(decoded)
	return Credential{Username: user, Password: pass}
}
