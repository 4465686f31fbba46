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
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		in      string
		want    Key
		wantErr bool
	}{
		{in: "reg.example.com", want: Key{"reg.example.com", ""}},
		{in: "reg.example.com/", want: Key{"reg.example.com", ""}},
		{in: "https://reg.example.com", want: Key{"reg.example.com", ""}},
		{in: "http://reg.example.com/team", want: Key{"reg.example.com", "team"}},
		{in: "reg.example.com/team/", want: Key{"reg.example.com", "team/"}}, // kept, as the kubelet keeps it
		{in: "reg.example.com:5000/team", want: Key{"reg.example.com:5000", "team"}},
		{in: "reg.io/v2/team", want: Key{"reg.io", "team"}}, // "/v2/" dropped on any host
		{in: "reg.io/v1/", want: Key{"reg.io", ""}},
		{in: "reg.io/v2", want: Key{"reg.io", "v2"}}, // only "/v2/" is dropped
		{in: "reg.io/te", want: Key{"reg.io", "te"}},
		{in: "reg.io/team-", want: Key{"reg.io", "team-"}}, // the start of "team-x"
		{in: "Private-Registry.IO", want: Key{"Private-Registry.IO", ""}},
		{in: "[::1]:5000", want: Key{"[::1]:5000", ""}},
		{in: "*.example.com", want: Key{"*.example.com", ""}},
		{in: "reg-*.example.com:443", want: Key{"reg-*.example.com:443", ""}},
		// Docker Hub: the kubelet's three keys read as docker.io.
		{in: "docker.io", want: Key{"docker.io", ""}},
		{in: "index.docker.io", want: Key{"docker.io", ""}},
		{in: "https://index.docker.io/v1/", want: Key{"docker.io", ""}},
		{in: "https://index.docker.io/v2/", want: Key{"docker.io", ""}},
		{in: "docker.io/library", want: Key{"docker.io", "library"}},
		{in: "index.docker.io/library", want: Key{"index.docker.io", "library"}}, // not Docker Hub with a path
		{in: "index.docker.io:443", want: Key{"index.docker.io:443", ""}},
		{in: "registry-1.docker.io", want: Key{"registry-1.docker.io", ""}},
		{in: "https://registry-1.docker.io/v2/", want: Key{"registry-1.docker.io", ""}},
		// Refused: used for no image, or read in a way nobody means.
		{in: "", wantErr: true},
		{in: "reg io", wantErr: true},
		{in: "HTTPS://reg.io", wantErr: true},
		{in: "ftp://reg.io", wantErr: true},
		{in: "user:pass@reg.io", wantErr: true},
		{in: "reg.io?x=1", wantErr: true},
		{in: "reg.io#x", wantErr: true},
		{in: "reg%2eio", wantErr: true},
		{in: "reg.io:", wantErr: true},
		{in: "reg.io:0", wantErr: true},
		{in: "reg.io:65536", wantErr: true},
		{in: "[::1]", wantErr: true},
		{in: "[fe80::1%25eth0]:5000", wantErr: true},
		{in: "reg?.example.com", wantErr: true},
		{in: "reg[0-9].example.com", wantErr: true},
		{in: "reg..io", wantErr: true},
		{in: "-reg.io", wantErr: true},
		{in: "reg.io/Team", wantErr: true},
		{in: "reg.io//team", wantErr: true},
		{in: "reg.io/_team", wantErr: true},
		{in: "https://", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseKey(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseKey(%q) = %+v, want error", tt.in, got)
				}
				if strings.Contains(err.Error(), "pass") {
					t.Fatalf("error %q echoes user information", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseKey(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

// The kubelet's own matching cases (pkg/credentialprovider keyring_test.go:
// TestURLsMatch, TestDockerKeyringForGlob, TestKeyringMiss and the Docker
// Hub lookups), then the spellings this project meets.
func TestKeyMatchesImage(t *testing.T) {
	tests := []struct {
		key, image string
		want       bool
	}{
		{"*.kubernetes.io", "prefix.kubernetes.io/foo/bar", true},
		{"prefix.*.io", "prefix.kubernetes.io/foo/bar", true},
		{"prefix.kubernetes.*", "prefix.kubernetes.io/foo/bar", true},
		{"*-good.kubernetes.io", "prefix-good.kubernetes.io/foo/bar", true},
		{"*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true},
		{"prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true},
		{"*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1111/blah", true},
		{"prefix.*.io:1111/foo", "prefix.kubernetes.io:1111/foo/bar", true},
		{"*.kubernetes.io", "kubernetes.io/foo", false},
		{"*.*.kubernetes.io", "prefix.kubernetes.io/foo", false},
		{"*.*.kubernetes.io", "kubernetes.io/foo", false},
		{"*kubernetes.io", "a.kubernetes.io/foo", false},
		{"*kubernetes.io", "kubernetes.io/foo", true},
		{"*.*.*.kubernetes.io", "a.b.c.kubernetes.io/foo", true},
		{"kubernetes.io", "kubernetes.com/foo", false},
		{"k*.io", "quay.io/foo", false},
		{"*.kubernetes.io:1234/blah", "prefix.kubernetes.io:1111/blah", false},
		{"prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar", false},
		{"https://hello.kubernetes.io", "hello.kubernetes.io/foo/bar", true},
		{"https://*.docker.io", "prefix.docker.io/foo/bar", true},
		{"https://*.docker.io:8888", "prefix.docker.io:8888/foo/bar", true},
		{"prefix.docker.io:1111", "prefix.docker.io:1111/path/foo/bar", true},
		{"*.docker.io:1111", "prefix.docker.io:1111/path/foo/bar", true},
		{"hello.kubernetes.io", "world.mesos.org/foo/bar", false},
		{"*.docker.com", "prefix.docker.io/foo/bar", false},
		{"suffix.*.io", "prefix.docker.io/foo/bar", false},
		// Docker Hub: docker.io, index.docker.io and the legacy URL serve it;
		// registry-1.docker.io serves only images written with that host.
		{"https://index.docker.io/v1/", "google/docker-registry", true},
		{"https://index.docker.io/v1/", "jenkins", true},
		{"https://index.docker.io/v1/", "jenkins/jenkins", true},
		{"https://index.docker.io/v1/", "docker.io/library/nginx", true},
		{"https://index.docker.io/v1/", "index.docker.io/library/nginx", true},
		{"https://index.docker.io/v1/", "world.mesos.org/foo/bar", false},
		{"index.docker.io", "nginx", true},
		{"docker.io", "nginx", true},
		{"docker.io", "index.docker.io/user/app", true},
		{"docker.io/library", "nginx", true},
		{"docker.io/library", "user/app", false},
		{"registry-1.docker.io", "nginx", false},
		{"registry-1.docker.io", "docker.io/library/nginx", false},
		{"https://registry-1.docker.io/v2/", "nginx", false},
		{"registry-1.docker.io", "registry-1.docker.io/library/nginx", true},
		{"index.docker.io/library", "nginx", false},
		{"index.docker.io:443", "nginx", false},
		// Paths: a plain string prefix, "/v1/" and "/v2/" dropped on any host.
		{"reg.io/team", "reg.io/team/app", true},
		{"reg.io/team", "reg.io/teamx/app", true},
		{"reg.io/team/", "reg.io/team", false},
		{"reg.io/team/", "reg.io/team/app", true},
		{"reg.io/v2/team", "reg.io/team/app", true},
		{"reg.io/v2", "reg.io/team/app", false},
		// Hosts are compared case-sensitively; ports must be equal.
		{"Private-Registry.io", "private-registry.io/apps/internal-app", false},
		{"private-registry.io", "private-registry.io/apps/internal-app", true},
		{"private-registry.io", "private-registry.io:5000/apps/internal-app", false},
		{"private-registry.io:5000", "private-registry.io:5000/apps/internal-app@" + testDigest, true},
		{"[::1]:5000", "[::1]:5000/x", true},
		{"[::1]:5000", "[::1]:5001/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.key+" "+tt.image, func(t *testing.T) {
			k, err := ParseKey(tt.key)
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", tt.key, err)
			}
			img, err := ParseImage(tt.image)
			if err != nil {
				t.Fatalf("ParseImage(%q): %v", tt.image, err)
			}
			if got := k.MatchesImage(img); got != tt.want {
				t.Fatalf("%+v.MatchesImage(%+v) = %v, want %v", k, img, got, tt.want)
			}
		})
	}
}

func TestKeyCovers(t *testing.T) {
	tests := []struct {
		key, server string
		want        bool
	}{
		{"reg.io", "reg.io", true},
		{"reg.io", "reg.io/team", true},
		{"reg.io/team", "reg.io/team", true},
		{"reg.io/team", "reg.io/team/app", true},
		{"reg.io/team", "reg.io/teamx", true}, // plain string prefix
		{"reg.io/te", "reg.io/team", true},
		{"reg.io/team/", "reg.io/team", false}, // reg.io/team itself has none
		{"reg.io/team/", "reg.io/team/app", true},
		{"reg.io/team/app", "reg.io/team", false},
		{"reg.io/team", "reg.io", false},
		{"https://reg.io/", "reg.io/team", true},
		{"https://reg.io/v2/", "reg.io", true},
		{"other.io", "reg.io", false},
		{"REG.IO", "reg.io", false}, // the kubelet is case-sensitive, images are lower-case
		// Ports.
		{"reg.io:5000", "reg.io:5000/team", true},
		{"reg.io", "reg.io:5000", false},
		{"reg.io:5000", "reg.io", false},
		{"reg.io:5000", "reg.io:5001", false},
		{"[::1]:5000", "[::1]:5000/x", true},
		// Docker Hub.
		{"https://index.docker.io/v1/", "docker.io", true},
		{"https://index.docker.io/v1/", "docker.io/bitnami", true},
		{"index.docker.io", "docker.io", true},
		{"docker.io", "docker.io", true},
		{"docker.io", "index.docker.io/library", true},
		{"registry-1.docker.io", "docker.io", false},
		{"registry-1.docker.io", "registry-1.docker.io", true},
		{"index.docker.io/library", "docker.io/library", false},
		{"docker.io/library", "docker.io", false},
		// Wildcard keys.
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.example.com/team", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "a.example.com:5000", false},
		{"*.example.com/team", "a.example.com/team/app", true},
		{"*.example.com/team", "a.example.com/other", false},
		// Wildcard servers: covered only by the same pattern or "*".
		{"*.example.com", "*.example.com", true},
		{"*.example.com", "*.example.com/team", true},
		{"a.example.com", "*.example.com", false},
		{"reg*.example.com", "reg?.example.com", false},
		{"*.*.com", "*.example.com", true},
		{"*", "localhost", true},
		{"*", "localhost:5000", false},
	}
	for _, tt := range tests {
		t.Run(tt.key+" "+tt.server, func(t *testing.T) {
			k, err := ParseKey(tt.key)
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", tt.key, err)
			}
			s, err := ParseServer(tt.server)
			if err != nil {
				t.Fatalf("ParseServer(%q): %v", tt.server, err)
			}
			if got := k.Covers(s); got != tt.want {
				t.Fatalf("%+v.Covers(%+v) = %v, want %v", k, s, got, tt.want)
			}
		})
	}
}

func TestHint(t *testing.T) {
	tests := []struct {
		keys   []string
		server string
		says   string
	}{
		{[]string{"registry-1.docker.io"}, "docker.io", "registry-1.docker.io for Docker Hub"},
		{[]string{"https://registry-1.docker.io/v2/"}, "docker.io/team", "registry-1.docker.io for Docker Hub"},
		{[]string{"index.docker.io/team"}, "docker.io/team", "write docker.io/team"},
		{[]string{"Private-Registry.io"}, "private-registry.io", "letter case"},
		{[]string{"other.io"}, "private-registry.io", ""},
		{[]string{"registry-1.docker.io"}, "quay.io", ""},
	}
	for _, tt := range tests {
		cfg := &DockerConfig{}
		for _, s := range tt.keys {
			k, err := ParseKey(s)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Keys = append(cfg.Keys, k)
		}
		srv, err := ParseServer(tt.server)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Covers(srv) {
			t.Fatalf("%v covers %q", tt.keys, tt.server)
		}
		got := cfg.Hint(srv)
		if (tt.says == "") != (got == "") || !strings.Contains(got, tt.says) {
			t.Errorf("Hint(%v, %q) = %q, want it to say %q", tt.keys, tt.server, got, tt.says)
		}
	}
	if (*DockerConfig)(nil).Hint(Server{Host: DockerHub}) != "" {
		t.Error("nil config has a hint")
	}
}

func TestCredentialFor(t *testing.T) {
	data := func(js string) map[string][]byte { return map[string][]byte{DockerConfigJSONKey: []byte(js)} }
	srv := func(s string) Server {
		v, err := ParseServer(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, js, server, user, pass string
		ok                           bool
	}{
		{"username and password", `{"auths":{"reg.io":{"username":"u","password":"p"}}}`, "reg.io", "u", "p", true},
		{"auth wins, split at the first colon", `{"auths":{"reg.io":{"username":"x","auth":"` + auth("u", "p:q") + `"}}}`, "reg.io", "u", "p:q", true},
		{"the most specific key first, as the kubelet orders them", `{"auths":{"reg.io":{"username":"host"},"reg.io/team":{"username":"team"}}}`, "reg.io/team", "team", "", true},
		{"Docker Hub by its legacy key", `{"auths":{"https://index.docker.io/v1/":{"username":"hub","password":"p"}}}`, "docker.io", "hub", "p", true},
		{"registry-1.docker.io does not serve docker.io", `{"auths":{"registry-1.docker.io":{"username":"hub"}}}`, "docker.io", "", "", false},
		{"invalid data", `{"auths":"x"}`, "reg.io", "", "", false},
	}
	for _, tt := range tests {
		c, ok := CredentialFor(SecretTypeDockerConfigJSON, data(tt.js), srv(tt.server))
		if ok != tt.ok || c.Username != tt.user || c.Password != tt.pass {
			t.Errorf("%s: CredentialFor = %q/%q, %v; want %q/%q, %v", tt.name, c.Username, c.Password, ok, tt.user, tt.pass, tt.ok)
		}
	}
}
