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
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func FuzzParseServer(f *testing.F) {
	for _, s := range []string{
		"reg.example.com", "https://reg.example.com/", "http://reg.example.com:5000/team/app/",
		"https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io/v2", "docker.io/library",
		"*.example.com", "reg-*.example.com:443/team", "reg[0-9].example.com", "[ab].example.com",
		"localhost:5000", "[::1]:5000/x", "[2001:DB8::1]", "10.0.0.1:5000", "REG.Example.COM/Team",
		"reg.io//team", "reg.io:0", "user:pass@reg.io", "ftp://reg.io", "", " ", "*", "[abc]:5000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		srv, err := ParseServer(s)
		n, nerr := NormalizeServer(s)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("ParseServer and NormalizeServer disagree on %q: %v / %v", s, err, nerr)
		}
		if err != nil {
			return
		}
		if n != srv.String() {
			t.Fatalf("NormalizeServer(%q) = %q, want %q", s, n, srv.String())
		}
		again, err := ParseServer(n)
		if err != nil {
			t.Fatalf("ParseServer(%q) ok but ParseServer(%q): %v", s, n, err)
		}
		if again != srv || again.String() != n {
			t.Fatalf("not idempotent: %q -> %+v -> %q -> %+v", s, srv, n, again)
		}
		if srv.Host == "" || srv.Host != strings.ToLower(srv.Host) {
			t.Fatalf("ParseServer(%q).Host = %q: empty or not lower-case", s, srv.Host)
		}
		if strings.HasPrefix(srv.Path, "/") || strings.HasSuffix(srv.Path, "/") {
			t.Fatalf("ParseServer(%q).Path = %q has a leading or trailing slash", s, srv.Path)
		}
		if strings.ContainsAny(n, " \t\r\n") {
			t.Fatalf("NormalizeServer(%q) = %q contains whitespace", s, n)
		}
		// The server written as a key covers it, unless the kubelet reads the
		// key otherwise: a path starting "v1/" or "v2/" loses that part.
		if key, err := ParseKey(n); err == nil && !strings.HasPrefix(srv.Path, "v1/") && !strings.HasPrefix(srv.Path, "v2/") && !key.Covers(srv) {
			t.Fatalf("key %+v does not cover server %+v", key, srv)
		}
		// A literal server with a path is itself an image location it matches,
		// unless the image reads it differently: a one-label host such as
		// "0/0/0" is a Docker Hub namespace, and a one-component Docker Hub
		// path gets "library/".
		if img, err := ParseImage(n); err == nil && srv.Path != "" && img.Host == srv.Host &&
			!(img.Host == DockerHub && !strings.Contains(srv.Path, "/")) && !srv.MatchesImage(img) {
			t.Fatalf("%+v does not match image %+v", srv, img)
		}
	})
}

func FuzzParseImage(f *testing.F) {
	for _, s := range []string{
		"nginx", "nginx:1.27", "user/app:tag", "docker.io/library/nginx:latest", "index.docker.io/library/nginx",
		"registry-1.docker.io/nginx", "Docker.IO/nginx", "nginx@" + testDigest, "nginx:1@" + testDigest,
		"localhost:5000/x", "localhost/x", "LOCALHOST/x", "[::1]:5000/x", "[2001:DB8::1]/x", "[:]:5000/x",
		"quay.io/org/sub/app", "REG.io/x", "FOO/bar", "a_b.io/x", "reg.io:99999/x", "", "Docker.io/" + strings.Repeat("a", 250),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		img, err := ParseImage(s)
		if err != nil {
			return
		}
		if img.Host == "" || img.Path == "" {
			t.Fatalf("ParseImage(%q) = %+v: empty host or path", s, img)
		}
		if img.Host != strings.ToLower(img.Host) {
			t.Fatalf("ParseImage(%q).Host = %q is not lower-case", s, img.Host)
		}
		if isDockerHubAlias(img.Host) && img.Host != DockerHub {
			t.Fatalf("ParseImage(%q).Host = %q is a Docker Hub alias", s, img.Host)
		}
		if img.Host == DockerHub && !strings.Contains(img.Path, "/") {
			t.Fatalf("ParseImage(%q).Path = %q: Docker Hub path without namespace", s, img.Path)
		}
		if strings.ContainsAny(img.Path, ":@") {
			t.Fatalf("ParseImage(%q).Path = %q contains a tag or digest", s, img.Path)
		}
		again, err := ParseImage(img.Host + "/" + img.Path)
		if err != nil {
			t.Fatalf("ParseImage(%q) = %+v but ParseImage(%q): %v", s, img, img.String(), err)
		}
		if again != img {
			t.Fatalf("not idempotent: %q -> %+v -> %+v", s, img, again)
		}
		if !Server(img).MatchesImageRef(s) {
			t.Fatalf("%+v does not match %q", Server(img), s)
		}
	})
}

func FuzzMatchesImage(f *testing.F) {
	seeds := []struct{ server, key, image string }{
		{"docker.io", "https://index.docker.io/v1/", "nginx"},
		{"reg.example.com/team", "reg.example.com", "reg.example.com/team/app:v1"},
		{"reg.example.com/team", "reg.example.com/team/app", "reg.example.com/teamx/app"},
		{"*.example.com", "*.example.com", "a.example.com/x"},
		{"a.example.com", "*.example.com", "a.b.example.com/x"},
		{"*.*.example.com:5000", "*.*.*.com:5000", "a.b.example.com:5000/x"},
		{"reg[0-9].example.com", "reg*.example.com", "reg1.example.com/x"},
		{"localhost:5000", "localhost", "localhost:5000/x"},
		{"[::1]:5000", "*:5000", "[::1]:5000/x"},
		{"?????", "*", "[::1]/x"},
		{"REG.io", "reg.IO", "Reg.Io/x"},
		{"docker.io", "registry-1.docker.io", "registry-1.docker.io/library/nginx"},
		{"reg.io/team", "reg.io/te", "reg.io/team/app"},
		{"reg.io/team", "reg.io/v2/team/", "reg.io/team/app"},
	}
	for _, s := range seeds {
		f.Add(s.server, s.key, s.image)
	}
	f.Fuzz(func(t *testing.T, server, key, image string) {
		// Arbitrary, unnormalised values must not panic.
		_ = Server{Host: server, Path: key}.MatchesImage(Image{Host: image, Path: server})
		_ = Key{Host: server, Path: image}.Covers(Server{Host: key, Path: server})
		_ = Key{Host: key, Path: server}.MatchesImage(Image{Host: image, Path: key})
		_ = Server{Host: key}.MatchesImageRef(image)

		s, errS := ParseServer(server)
		k, errK := ParseKey(key)
		img, errI := ParseImage(image)

		if errI == nil {
			// A server built from the image's own location matches it.
			for _, own := range []Server{Server(img), {Host: img.Host}} {
				if !own.MatchesImage(img) {
					t.Fatalf("%+v does not match its own image %+v", own, img)
				}
			}
			parsed, err := ParseServer(img.String())
			if err == nil {
				if !parsed.MatchesImage(img) {
					t.Fatalf("ParseServer(%q) = %+v does not match %+v", img.String(), parsed, img)
				}
			} else if name, port, hasPort := splitHostPort(img.Host); !isBracketed(name) && (!hasPort || validatePort(port) == nil) {
				// Only hosts that reference accepts but that are not real
				// (IPv6 literals, port numbers) may be refused as servers.
				t.Fatalf("ParseServer(%q): %v", img.String(), err)
			}
		}
		if errS == nil && errI == nil {
			m := s.MatchesImage(img)
			if s.MatchesImageRef(image) != m {
				t.Fatalf("MatchesImageRef(%q) != MatchesImage(%+v)", image, img)
			}
			upper := Server{Host: strings.ToUpper(s.Host), Path: s.Path}
			if upper.MatchesImage(img) != m {
				t.Fatalf("%+v and %+v disagree on %+v", s, upper, img)
			}
			// Credentials of k that cover s are used for every image s matches.
			if errK == nil && k.Covers(s) && m && !k.MatchesImage(img) {
				t.Fatalf("%+v covers %+v, which matches %+v, but does not match it", k, s, img)
			}
		}
		if errK == nil {
			// The kubelet reads a key it has read already the same way.
			// (Except a path that starts "v1/" or "v2/" again.)
			if again, err := ParseKey(k.String()); k.Host != DockerHub && !strings.HasPrefix(k.Path, "v1/") && !strings.HasPrefix(k.Path, "v2/") &&
				(err != nil || again != k) {
				t.Fatalf("ParseKey(%q) = %+v, %v; ParseKey(%q) = %+v", key, k, errK, k.String(), again)
			}
			if errI == nil && k.MatchesImage(img) && k.Host != DockerHub && !strings.HasPrefix(k.Host, "[") && !strings.Contains(k.Host, "*") &&
				k.Host != img.Host {
				t.Fatalf("literal key %+v matches image %+v of another host", k, img)
			}
		}
	})
}

// messageTemplates are all the messages ParseSecret may produce for the two
// docker config types: fixed text, the data key, JSON kinds, numbers. Nothing
// else, so no byte of the Secret data can appear in them.
var messageTemplates = func() *regexp.Regexp {
	key := `"\.(?:dockerconfigjson|dockercfg)"`
	kind := `(?:an object|an array|a string|a number|a boolean|null)`
	alts := []string{
		`Secret of type "kubernetes\.io/(?:dockerconfigjson|dockercfg)" has no ` + key + ` data key`,
		`Secret data key ` + key + ` is empty`,
		`malformed JSON in ` + key + ` at byte offset \d+`,
		`malformed JSON in ` + key,
		`top-level JSON value in ` + key + ` is ` + kind + `, want an object`,
		`unexpected JSON type for "HttpHeaders" in ` + key + `: want an object of strings`,
		`unexpected JSON type for "auths" in ` + key + `: got ` + kind + `, want an object`,
		`registry entry #\d+ \(in document order\) in ` + key + `: value is ` + kind + `, want a JSON object`,
		`registry entry #\d+ \(in document order\) in ` + key + `: "username", "password", "email" and "auth" must be strings`,
		`registry entry #\d+ \(in document order\) in ` + key + `: "auth" is not the base64 encoding of "username:password"`,
		key + ` has no "auths" entries`,
		key + ` has no registry entries`,
	}
	return regexp.MustCompile(`^(?:` + strings.Join(alts, "|") + `)$`)
}()

// checkParseError checks that err is nil or a well-formed *ParseError.
func checkParseError(t *testing.T, secretType string, cfg *DockerConfig, err error) {
	t.Helper()
	if err == nil {
		if cfg == nil {
			t.Fatal("nil config and nil error")
		}
		return
	}
	if cfg != nil {
		t.Fatalf("config %+v returned with error %v", cfg, err)
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T %v is not a *ParseError", err, err)
	}
	switch pe.Reason {
	case ReasonWrongType:
		want := fmt.Sprintf("unsupported Secret type %q: want %q or %q", secretType, SecretTypeDockerConfigJSON, SecretTypeDockercfg)
		if pe.Message != want {
			t.Fatalf("WrongType message %q, want %q", pe.Message, want)
		}
	case ReasonMissingKey, ReasonMalformedJSON, ReasonNoAuths:
		if !messageTemplates.MatchString(pe.Message) {
			t.Fatalf("message %q (%s) is not one of the known templates", pe.Message, pe.Reason)
		}
	default:
		t.Fatalf("unknown reason %q", pe.Reason)
	}
}

// plainStringContent reports whether s can be placed between quotes as is and
// is then the content of a JSON string: printable ASCII without '"' and '\\'.
func plainStringContent(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func isJSONKeyword(s string) bool {
	switch strings.TrimSpace(s) {
	case "true", "false", "null":
		return true
	}
	return false
}

// filler returns n copies of a letter that does not occur in any of avoid,
// or "" if every candidate occurs.
func filler(n int, avoid ...string) string {
	for _, c := range "xqzjkvwyXQZJKVWY" {
		found := false
		for _, a := range avoid {
			if strings.ContainsRune(a, c) {
				found = true
				break
			}
		}
		if !found {
			return strings.Repeat(string(c), n)
		}
	}
	return ""
}

func FuzzParseSecret(f *testing.F) {
	// mode: bit 0 inserts the password raw between quotes instead of as a
	// JSON string; (mode>>1)%3 selects the "auth" field: 0 base64 of
	// "robot:<password>", 1 the password itself, 2 none.
	f.Add(uint8(0), "", "", "s3cr3tP@ss", "", uint8(0))
	f.Add(uint8(0), "", "", "s3cr3tP@ss", "}", uint8(4))
	f.Add(uint8(1), "", "", "s3cr3tP@ss", "", uint8(1))
	f.Add(uint8(0), "", "", "s3cr3tP@ss", "", uint8(2))
	f.Add(uint8(1), "", "", "s3cr3tP@ss", "", uint8(3))
	f.Add(uint8(0), "", "", `s3cr3t"P@ss`, "", uint8(1))
	f.Add(uint8(0), "", "", `s3cr3t\P@ss`, "", uint8(5))
	f.Add(uint8(0), "", "", "s3cr3tP@ss\x01", "", uint8(1))
	f.Add(uint8(0), "", "", `\u00e9s3cr3tP@ss`, "", uint8(1))
	f.Add(uint8(0), "", "[", "correct horse battery staple", "", uint8(0))
	f.Add(uint8(1), "", "", "hunter2hunter2", ",", uint8(4))
	f.Add(uint8(0), "", "", "1234567890123", "", uint8(5))
	f.Add(uint8(0), "", "", "truetruetrue", "", uint8(1))
	f.Add(uint8(0), "", "", "YTpiY2RlZmdo", "", uint8(2)) // valid base64 of "a:bcdefgh"
	f.Add(uint8(2), "Opaque", "", "s3cr3tP@ss", "", uint8(0))
	f.Add(uint8(2), "kubernetes.io/basic-auth", `{"auths":{"reg.io":{"auth":"`, base64.StdEncoding.EncodeToString([]byte("u:s3cr3tP@ss")), `"}}}`, uint8(0))
	f.Add(uint8(0), `{"auths":{"reg.io":{"password":`, "", "s3cr3tP@ss", "}}}", uint8(1))

	f.Fuzz(func(t *testing.T, typeSel uint8, secretType, prefix, password, suffix string, mode uint8) {
		// 1. Arbitrary bytes under both keys and an arbitrary type.
		arbitrary := []byte(prefix + password + suffix)
		for _, typ := range []string{secretType, SecretTypeDockerConfigJSON, SecretTypeDockercfg} {
			cfg, err := ParseSecret(typ, map[string][]byte{DockerConfigJSONKey: arbitrary, DockercfgKey: arbitrary})
			checkParseError(t, typ, cfg, err)
		}

		// 2. A docker config whose password (and maybe auth) field holds
		// password, either as a proper JSON string or inserted raw between
		// quotes (which may make the JSON malformed around it), with
		// arbitrary text around it.
		typ, key := SecretTypeDockerConfigJSON, DockerConfigJSONKey
		if typeSel%2 == 1 {
			typ, key = SecretTypeDockercfg, DockercfgKey
		}
		rawPassword := mode&1 == 1
		authMode := (mode >> 1) % 3
		str := func(v string) string {
			if rawPassword {
				return `"` + v + `"`
			}
			b, _ := json.Marshal(v)
			return string(b)
		}
		// build lays out the document with pw in the password field and, per
		// authMode, authPw in the auth field.
		build := func(pw, authPw string) []byte {
			fields := `"username":"robot","password":` + str(pw)
			switch authMode {
			case 0:
				fields += `,"auth":"` + base64.StdEncoding.EncodeToString([]byte("robot:"+authPw)) + `"`
			case 1:
				fields += `,"auth":` + str(authPw)
			}
			inner := `{"reg.example.com":{` + fields + `}}`
			if typ == SecretTypeDockerConfigJSON {
				inner = `{"auths":` + inner + `}`
			}
			return []byte(prefix + inner + suffix)
		}
		outcome := func(cfg *DockerConfig, err error) string {
			if err != nil {
				return err.Error()
			}
			return fmt.Sprintf("%+v", cfg)
		}
		cfg, err := ParseSecret(typ, map[string][]byte{key: build(password, password)})
		checkParseError(t, typ, cfg, err)
		out := outcome(cfg, err)

		// The same document with the password replaced by filler of the same
		// length (the same encoded length in JSON strings, so the same
		// offsets), in a letter that occurs neither in the password nor
		// around it.
		encoded, _ := json.Marshal(password)
		fieldLen := len(password)
		if !rawPassword {
			fieldLen = len(encoded) - 2
		}
		fill := filler(fieldLen, password, prefix, suffix)
		authFill := filler(len(password), password, prefix, suffix)
		if authMode == 1 {
			authFill = fill
		}
		if fill == "" && fieldLen > 0 || authFill == "" && len(password) > 0 {
			return
		}
		twinCfg, twinErr := ParseSecret(typ, map[string][]byte{key: build(fill, authFill)})
		twinOut := outcome(twinCfg, twinErr)

		// 2a. When the password is one JSON string token in a fixed place (it
		// is properly encoded, or inserted raw but made of plain string
		// characters; it is not the auth value, whose validity depends on
		// it; the prefix cannot shift the string boundaries), the outcome,
		// offsets included, must not depend on its value at all.
		if (!rawPassword || plainStringContent(password)) && authMode != 1 &&
			!strings.ContainsRune(prefix, '"') && out != twinOut {
			t.Fatalf("outcome depends on the password value:\n%q\nvs filler:\n%q", out, twinOut)
		}

		// 2b. The password never appears in the outcome, in any spelling: raw,
		// JSON-escaped, Go-quoted, decoded from the raw insertion, or in the
		// base64 auth value. A form that the filler twin shows too comes from
		// the templates or the surrounding text, not from the password.
		if len(password) < 8 || isJSONKeyword(password) {
			return
		}
		quoted := strconv.Quote(password)
		forms := []string{
			password,
			string(encoded[1 : len(encoded)-1]),
			quoted[1 : len(quoted)-1],
			base64.StdEncoding.EncodeToString([]byte("robot:" + password)),
		}
		var decoded string
		if json.Unmarshal([]byte(`"`+password+`"`), &decoded) == nil {
			forms = append(forms, decoded)
		}
		for _, form := range forms {
			if len(form) >= 8 && strings.Contains(out, form) && !strings.Contains(twinOut, form) {
				t.Fatalf("outcome %q contains the password (as %q)", out, form)
			}
		}
	})
}
