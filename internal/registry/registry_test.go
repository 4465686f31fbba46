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
	"errors"
	"slices"
	"strings"
	"testing"
)

const testDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParseImage(t *testing.T) {
	tests := []struct {
		in      string
		want    Image
		wantErr bool
	}{
		// Docker Hub familiar names.
		{in: "nginx", want: Image{"docker.io", "library/nginx"}},
		{in: "nginx:1.27", want: Image{"docker.io", "library/nginx"}},
		{in: "user/app:tag", want: Image{"docker.io", "user/app"}},
		{in: "user/app", want: Image{"docker.io", "user/app"}},
		{in: "docker.io/nginx", want: Image{"docker.io", "library/nginx"}},
		{in: "docker.io/library/nginx:latest", want: Image{"docker.io", "library/nginx"}},
		{in: "index.docker.io/library/nginx", want: Image{"docker.io", "library/nginx"}},
		{in: "index.docker.io/nginx", want: Image{"docker.io", "library/nginx"}},
		// To distribution/reference and the kubelet, registry-1.docker.io is
		// a registry of its own.
		{in: "registry-1.docker.io/library/nginx", want: Image{"registry-1.docker.io", "library/nginx"}},
		{in: "registry-1.docker.io/nginx", want: Image{"registry-1.docker.io", "nginx"}},
		{in: "Docker.IO/nginx", want: Image{"docker.io", "library/nginx"}},
		{in: "Index.Docker.io/bitnami/redis", want: Image{"docker.io", "bitnami/redis"}},
		// Digests (with and without tag) are dropped.
		{in: "nginx@" + testDigest, want: Image{"docker.io", "library/nginx"}},
		{in: "nginx:1.27@" + testDigest, want: Image{"docker.io", "library/nginx"}},
		{in: "reg.example.com/team/app@" + testDigest, want: Image{"reg.example.com", "team/app"}},
		// Other registries, ports, localhost, IP addresses.
		{in: "reg.example.com/team/app:v1", want: Image{"reg.example.com", "team/app"}},
		{in: "REG.Example.COM/team/app", want: Image{"reg.example.com", "team/app"}},
		{in: "quay.io/org/sub/app", want: Image{"quay.io", "org/sub/app"}},
		{in: "localhost:5000/x", want: Image{"localhost:5000", "x"}},
		{in: "localhost/x", want: Image{"localhost", "x"}},
		{in: "LOCALHOST/x", want: Image{"localhost", "x"}},
		{in: "myreg:5000/x:tag", want: Image{"myreg:5000", "x"}},
		{in: "10.0.0.1:5000/x", want: Image{"10.0.0.1:5000", "x"}},
		{in: "[::1]:5000/x", want: Image{"[::1]:5000", "x"}},
		{in: "[::1]/x", want: Image{"[::1]", "x"}},
		{in: "[2001:DB8::1]:5000/x:v1", want: Image{"[2001:db8::1]:5000", "x"}},
		{in: "docker.io:5000/x", want: Image{"docker.io:5000", "x"}}, // not Docker Hub: has a port
		// Invalid.
		{in: "", wantErr: true},
		{in: "reg.example.com/Team/app", wantErr: true}, // upper-case repository
		{in: "nginx:", wantErr: true},
		{in: "nginx@sha256:abc", wantErr: true},
		{in: " nginx", wantErr: true},
		{in: "a_b.io/x", wantErr: true}, // reference: path without domain
		{in: "FOO/bar", wantErr: true},  // reference: domain "FOO"; "foo/bar" is Docker Hub
		{in: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", wantErr: true},     // 64-hex identifier
		{in: "Docker.io/" + strings.Repeat("a", 250), wantErr: true},                                // library/ prefix makes the path > 255
		{in: "reg.io/" + strings.Repeat("a", 256), wantErr: true},                                   // path > 255
		{in: "[fe80::1%eth0]/x", wantErr: true},                                                     // zones are not supported
		{in: "https://reg.io/x", wantErr: true},                                                     // scheme
		{in: "reg.io/x/", wantErr: true},                                                            // trailing slash
		{in: "reg.io//x", wantErr: true},                                                            // empty component
		{in: "-reg.io/x", wantErr: true},                                                            // bad label
		{in: "reg.io/" + strings.Repeat("a", 255), want: Image{"reg.io", strings.Repeat("a", 255)}}, // path length limit
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseImage(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseImage(%q) = %+v, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseImage(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseImage(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.want.Host+"/"+tt.want.Path {
				t.Fatalf("String() = %q", s)
			}
		})
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct {
		in      string
		want    Server
		wantErr bool
	}{
		{in: "reg.example.com", want: Server{"reg.example.com", ""}},
		{in: "reg.example.com/", want: Server{"reg.example.com", ""}},
		{in: "reg.example.com///", want: Server{"reg.example.com", ""}},
		{in: "reg.example.com/team", want: Server{"reg.example.com", "team"}},
		{in: "reg.example.com/team/app/", want: Server{"reg.example.com", "team/app"}},
		{in: "https://reg.example.com", want: Server{"reg.example.com", ""}},
		{in: "http://reg.example.com/team/", want: Server{"reg.example.com", "team"}},
		{in: "HTTPS://Reg.Example.COM/team", want: Server{"reg.example.com", "team"}},
		{in: "reg.example.com:5000", want: Server{"reg.example.com:5000", ""}},
		{in: "https://reg.example.com:443/v2/", want: Server{"reg.example.com:443", "v2"}}, // /v2 kept off Docker Hub
		{in: "localhost:5000/x", want: Server{"localhost:5000", "x"}},
		{in: "localhost", want: Server{"localhost", ""}},
		{in: "10.0.0.1:5000", want: Server{"10.0.0.1:5000", ""}},
		{in: "[::1]:5000", want: Server{"[::1]:5000", ""}},
		{in: "[::1]", want: Server{"[::1]", ""}},
		{in: "https://[2001:DB8::1]:5000/team", want: Server{"[2001:db8::1]:5000", "team"}},
		// Docker Hub's names and the legacy key.
		{in: "docker.io", want: Server{"docker.io", ""}},
		{in: "index.docker.io", want: Server{"docker.io", ""}},
		{in: "registry-1.docker.io", want: Server{"registry-1.docker.io", ""}}, // not Docker Hub to the kubelet
		{in: "Index.Docker.IO", want: Server{"docker.io", ""}},
		{in: "https://index.docker.io/v1/", want: Server{"docker.io", ""}},
		{in: "https://index.docker.io/v1", want: Server{"docker.io", ""}},
		{in: "https://index.docker.io/v2/", want: Server{"docker.io", ""}},
		{in: "registry-1.docker.io/v2", want: Server{"registry-1.docker.io", "v2"}},
		{in: "docker.io/library", want: Server{"docker.io", "library"}},
		{in: "docker.io/bitnami/", want: Server{"docker.io", "bitnami"}},
		{in: "index.docker.io/v1/library", want: Server{"docker.io", "v1/library"}}, // only an exact /v1 is dropped
		{in: "docker.io:443", want: Server{"docker.io:443", ""}},                    // with a port it is not an alias
		// Wildcards.
		{in: "*.example.com", want: Server{"*.example.com", ""}},
		{in: "*.Example.com:5000/team", want: Server{"*.example.com:5000", "team"}},
		{in: "reg-*.example.com", want: Server{"reg-*.example.com", ""}},
		{in: "reg?.example.com", want: Server{"reg?.example.com", ""}},
		{in: "reg[0-9].example.com", want: Server{"reg[0-9].example.com", ""}},
		{in: "[ab].example.com", want: Server{"[ab].example.com", ""}},
		{in: "*", want: Server{"*", ""}},
		// Paths.
		{in: "reg.io/a.b_c__d--e/f", want: Server{"reg.io", "a.b_c__d--e/f"}},
		// Invalid.
		{in: "", wantErr: true},
		{in: " reg.io", wantErr: true},
		{in: "reg.io ", wantErr: true},
		{in: "reg io", wantErr: true},
		{in: "reg.io/te am", wantErr: true},
		{in: "reg.io\t", wantErr: true},
		{in: "rég.io", wantErr: true},
		{in: "https://", wantErr: true},
		{in: "/team", wantErr: true},
		{in: "ftp://reg.io", wantErr: true},
		{in: "https://http://reg.io", wantErr: true},
		{in: "reg.io:", wantErr: true},
		{in: "reg.io:0", wantErr: true},
		{in: "reg.io:65536", wantErr: true},
		{in: "reg.io:123456", wantErr: true},
		{in: "reg.io:http", wantErr: true},
		{in: "reg.io:5000:6000", wantErr: true},
		{in: "user:pass@reg.io", wantErr: true},
		{in: "reg.io?x=1", wantErr: true},
		{in: "reg.io#frag", wantErr: true},
		{in: "reg..io", wantErr: true},
		{in: ".reg.io", wantErr: true},
		{in: "reg.io.", wantErr: true},
		{in: "-reg.io", wantErr: true},
		{in: "reg-.io", wantErr: true},
		{in: "reg_x.io", wantErr: true},
		{in: "[::1", wantErr: true},
		{in: "[::1]x", wantErr: true},
		{in: "[zz::1]", wantErr: true},
		{in: "[abc]:5000", wantErr: true}, // IPv6-shaped but not an address
		{in: "[fe80::1%eth0]", wantErr: true},
		{in: "[::ffff:1.2.3.4]", wantErr: true},
		{in: "[1.2.3.4]", wantErr: true},
		{in: "reg[.io", wantErr: true}, // bad glob
		{in: `reg\*.io`, wantErr: true},
		{in: "reg.io//team", wantErr: true},
		{in: "reg.io/Team", wantErr: true},
		{in: "reg.io/team_", wantErr: true},
		{in: "reg.io/te..am", wantErr: true},
		{in: "reg.io/te___am", wantErr: true},
		{in: "reg.io/team:tag", wantErr: true},
		{in: "reg.io/team@" + testDigest, wantErr: true},
		{in: "reg.io/*", wantErr: true}, // no wildcards in paths
		{in: "reg.io/" + strings.Repeat("a", 256), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseServer(tt.in)
			norm, nerr := NormalizeServer(tt.in)
			if tt.wantErr {
				if err == nil || nerr == nil {
					t.Fatalf("ParseServer(%q) = %+v, want error", tt.in, got)
				}
				return
			}
			if err != nil || nerr != nil {
				t.Fatalf("ParseServer(%q): %v / %v", tt.in, err, nerr)
			}
			if got != tt.want {
				t.Fatalf("ParseServer(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if norm != got.String() {
				t.Fatalf("NormalizeServer(%q) = %q, want %q", tt.in, norm, got.String())
			}
			again, err := ParseServer(norm)
			if err != nil || again != got {
				t.Fatalf("ParseServer(%q) = %+v, %v; not idempotent", norm, again, err)
			}
		})
	}
}

func TestServerString(t *testing.T) {
	tests := []struct {
		s    Server
		want string
	}{
		{Server{"reg.io", ""}, "reg.io"},
		{Server{"reg.io:5000", "team/app"}, "reg.io:5000/team/app"},
		{Server{"[::1]:5000", "x"}, "[::1]:5000/x"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestMatchesImage(t *testing.T) {
	tests := []struct {
		server, image string
		want          bool
	}{
		// Docker Hub and its aliases, on both sides.
		{"docker.io", "nginx", true},
		{"docker.io", "user/app:tag", true},
		{"docker.io", "index.docker.io/library/nginx", true},
		{"docker.io", "registry-1.docker.io/library/nginx", false},
		{"index.docker.io", "nginx", true},
		{"registry-1.docker.io", "nginx", false},
		{"registry-1.docker.io", "registry-1.docker.io/library/nginx", true},
		{"https://index.docker.io/v1/", "nginx@" + testDigest, true},
		{"https://index.docker.io/v1/", "quay.io/org/app", false},
		{"docker.io/library", "nginx", true},
		{"docker.io/library/nginx", "nginx:1.27", true},
		{"docker.io/library/nginx", "nginx-extra", false},
		{"docker.io/bitnami", "bitnami/redis", true},
		{"docker.io/bitnami", "nginx", false},
		{"docker.io/nginx", "nginx", false}, // server paths are literal: library/ is not added
		{"docker.io", "docker.io.evil.com/x", false},
		{"quay.io", "nginx", false},
		// Ports.
		{"localhost:5000", "localhost:5000/x", true},
		{"localhost:5000", "localhost/x", false},
		{"localhost", "localhost:5000/x", false},
		{"localhost:5000", "localhost:5001/x", false},
		{"reg.example.com", "reg.example.com:443/x", false},
		{"reg.example.com:443", "reg.example.com/x", false},
		{"[::1]:5000", "[::1]:5000/x", true},
		{"[::1]:5000", "[::1]/x", false},
		{"[::1]", "[::1]/x", true},
		{"[::1]:5000", "[::2]:5000/x", false},
		{"[2001:db8::1]:5000", "[2001:DB8::1]:5000/x", true},
		{"10.0.0.1:5000", "10.0.0.1:5000/x", true},
		// Path prefixes on segment boundaries.
		{"reg.io/team", "reg.io/team/app", true},
		{"reg.io/team", "reg.io/team", true},
		{"reg.io/team/", "reg.io/team/sub/app:v1", true},
		{"reg.io/team", "reg.io/teamx/app", false},
		{"reg.io/team", "reg.io/team-x/app", false},
		{"reg.io/team", "reg.io/tea/app", false},
		{"reg.io/team/app", "reg.io/team", false},
		{"reg.io/team", "reg.io/other/team", false},
		{"reg.io", "reg.io/anything/at/all", true},
		// Wildcards: one label.
		{"*.example.com", "a.example.com/x", true},
		{"*.example.com", "example.com/x", false},
		{"*.example.com", "a.b.example.com/x", false},
		{"*.example.com", "a.example.org/x", false},
		{"*.example.com", "a.example.com:5000/x", false},
		{"*.example.com:5000", "a.example.com:5000/x", true},
		{"*.example.com/team", "a.example.com/team/app", true},
		{"*.example.com/team", "a.example.com/teamx/app", false},
		{"*.*.example.com", "a.b.example.com/x", true},
		{"reg-*.example.com", "reg-eu.example.com/x", true},
		{"reg-*.example.com", "cache.example.com/x", false},
		{"reg?.example.com", "reg1.example.com/x", true},
		{"reg?.example.com", "reg12.example.com/x", false},
		{"reg[0-9].example.com", "reg7.example.com/x", true},
		{"reg[0-9].example.com", "rega.example.com/x", false},
		{"[ab].example.com", "a.example.com/x", true},
		{"*", "localhost/x", true},
		{"*", "reg.io/x", false},
		{"*.io", "docker.io/library/nginx", true},
		{"*.docker.io", "nginx", false},
		// Case-insensitive hosts.
		{"REG.Example.com", "reg.example.COM/x", true},
		{"*.EXAMPLE.com", "A.example.com/x", true},
		{"Docker.IO", "nginx", true},
	}
	for _, tt := range tests {
		t.Run(tt.server+" "+tt.image, func(t *testing.T) {
			s, err := ParseServer(tt.server)
			if err != nil {
				t.Fatalf("ParseServer(%q): %v", tt.server, err)
			}
			img, err := ParseImage(tt.image)
			if err != nil {
				t.Fatalf("ParseImage(%q): %v", tt.image, err)
			}
			if got := s.MatchesImage(img); got != tt.want {
				t.Fatalf("%+v.MatchesImage(%+v) = %v, want %v", s, img, got, tt.want)
			}
			if got := s.MatchesImageRef(tt.image); got != tt.want {
				t.Fatalf("%+v.MatchesImageRef(%q) = %v, want %v", s, tt.image, got, tt.want)
			}
		})
	}
}

// Hand-built (not normalised) values are still compared case-insensitively,
// with index.docker.io as docker.io.
func TestMatchesImageUnnormalised(t *testing.T) {
	tests := []struct {
		s    Server
		img  Image
		want bool
	}{
		{Server{Host: "Index.Docker.IO"}, Image{"docker.io", "library/nginx"}, true},
		{Server{Host: "docker.io"}, Image{"registry-1.docker.io", "library/nginx"}, false},
		{Server{Host: "REG.io", Path: "/team/"}, Image{"reg.IO", "team/app"}, true},
		{Server{Host: "*.Example.com"}, Image{"A.EXAMPLE.com", "x"}, true},
		{Server{Host: "reg.io"}, Image{"reg.io:5000", "x"}, false},
		{Server{Host: "\u212a.io"}, Image{"k.io", "x"}, false}, // Kelvin sign is not "k"
		{Server{}, Image{}, true},
	}
	for _, tt := range tests {
		if got := tt.s.MatchesImage(tt.img); got != tt.want {
			t.Errorf("%+v.MatchesImage(%+v) = %v, want %v", tt.s, tt.img, got, tt.want)
		}
	}
}

func TestMatchesImageRefInvalid(t *testing.T) {
	s := Server{Host: "docker.io"}
	for _, image := range []string{"", "UPPER/Case", "nginx@sha256:abc", "a_b.io/x"} {
		if s.MatchesImageRef(image) {
			t.Errorf("MatchesImageRef(%q) = true, want false", image)
		}
	}
}

// auth returns the "auth" field value for user and password.
func auth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

func TestParseSecret(t *testing.T) {
	validAuth := auth("robot", "s3cr3tP@ss")
	tests := []struct {
		name        string
		secretType  string
		data        map[string][]byte
		wantReason  string // "" for success
		wantServers []string
		wantInvalid int
	}{
		{
			name:       "dockerconfigjson",
			secretType: SecretTypeDockerConfigJSON,
			data: map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{
				"reg.example.com":{"username":"robot","password":"s3cr3tP@ss","auth":"` + validAuth + `"},
				"https://index.docker.io/v1/":{"auth":"` + validAuth + `"}}}`)},
			wantServers: []string{"docker.io", "reg.example.com"},
		},
		{
			name:       "dockerconfigjson with scheme keys, duplicates and invalid keys",
			secretType: SecretTypeDockerConfigJSON,
			data: map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{
				"https://reg.example.com/":{"auth":"` + validAuth + `"},
				"http://REG.example.com":{"username":"u","password":"p"},
				"reg.example.com":{},
				"https://quay.io/org/":{"auth":"` + validAuth + `"},
				"registry-1.docker.io":{},
				"not a server":{},
				"":{}}, "credsStore":"desktop"}`)},
			// As the kubelet reads them: case and a trailing slash are kept.
			wantServers: []string{"REG.example.com", "quay.io/org/", "reg.example.com", "registry-1.docker.io"},
			wantInvalid: 2,
		},
		{
			name:        "dockerconfigjson auths key is case-insensitive like the kubelet",
			secretType:  SecretTypeDockerConfigJSON,
			data:        map[string][]byte{DockerConfigJSONKey: []byte(`{"Auths":{"reg.io":{}}}`)},
			wantServers: []string{"reg.io"},
		},
		{
			name:        "dockerconfigjson unpadded auth is accepted like the kubelet",
			secretType:  SecretTypeDockerConfigJSON,
			data:        map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{"auth":"` + strings.TrimRight(auth("a", "bc"), "=") + `"}}}`)},
			wantServers: []string{"reg.io"},
		},
		{
			name:        "dockerconfigjson null fields are accepted",
			secretType:  SecretTypeDockerConfigJSON,
			data:        map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{"username":null,"auth":null}},"HttpHeaders":{"User-Agent":"x"}}`)},
			wantServers: []string{"reg.io"},
		},
		{
			name:        "dockerconfigjson all keys invalid",
			secretType:  SecretTypeDockerConfigJSON,
			data:        map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"bad key":{},"ftp://x":{}}}`)},
			wantServers: []string{},
			wantInvalid: 2,
		},
		{
			name:       "dockercfg",
			secretType: SecretTypeDockercfg,
			data: map[string][]byte{DockercfgKey: []byte(`{
				"https://index.docker.io/v1/":{"auth":"` + validAuth + `","email":"a@b.c"},
				"reg.example.com:5000/team":{"username":"robot","password":"s3cr3tP@ss"}}`)},
			wantServers: []string{"docker.io", "reg.example.com:5000/team"},
		},
		{
			name:       "wrong type Opaque",
			secretType: "Opaque",
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{}}}`)},
			wantReason: ReasonWrongType,
		},
		{
			name:       "wrong type empty",
			secretType: "",
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{}}}`)},
			wantReason: ReasonWrongType,
		},
		{
			name:       "missing key dockerconfigjson",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockercfgKey: []byte(`{"reg.io":{}}`)},
			wantReason: ReasonMissingKey,
		},
		{
			name:       "missing key dockercfg",
			secretType: SecretTypeDockercfg,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{}}}`)},
			wantReason: ReasonMissingKey,
		},
		{
			name:       "nil data",
			secretType: SecretTypeDockerConfigJSON,
			wantReason: ReasonMissingKey,
		},
		{
			name:       "empty value",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(" \n")},
			wantReason: ReasonMissingKey,
		},
		{
			name:       "malformed JSON",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{"password":"s3cr3tP@ss"}}`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "malformed JSON dockercfg",
			secretType: SecretTypeDockercfg,
			data:       map[string][]byte{DockercfgKey: []byte(`{"reg.io":{"password":s3cr3tP@ss}}`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "top-level array",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`["reg.io"]`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "top-level string dockercfg",
			secretType: SecretTypeDockercfg,
			data:       map[string][]byte{DockercfgKey: []byte(`"s3cr3tP@ss"`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "no auths",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"credsStore":"desktop"}`)},
			wantReason: ReasonNoAuths,
		},
		{
			name:       "top-level null",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`null`)},
			wantReason: ReasonNoAuths,
		},
		{
			name:       "auths null",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":null}`)},
			wantReason: ReasonNoAuths,
		},
		{
			name:       "empty auths",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{}}`)},
			wantReason: ReasonNoAuths,
		},
		{
			name:       "empty dockercfg",
			secretType: SecretTypeDockercfg,
			data:       map[string][]byte{DockercfgKey: []byte(`{}`)},
			wantReason: ReasonNoAuths,
		},
		{
			name:       "auths is not an object",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":["reg.io"]}`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "auths is a string",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":"s3cr3tP@ss"}`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "entry is not an object",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{},"other.io":"s3cr3tP@ss"}}`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "entry is null",
			secretType: SecretTypeDockercfg,
			data:       map[string][]byte{DockercfgKey: []byte(`{"reg.io":null}`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "password is not a string",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{"password":12345678901}}}`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "auth is not base64",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{"auth":"s3cr3tP@ss!"}}}`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "auth has no colon",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("s3cr3tP@ss")) + `"}}}`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "invalid duplicate entry is reported even if a later one is valid",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{"auth":"!!"},"reg.io":{}}}`)},
			wantReason: ReasonMalformedJSON,
		},
		{
			name:       "HttpHeaders is not an object of strings",
			secretType: SecretTypeDockerConfigJSON,
			data:       map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{"reg.io":{}},"HttpHeaders":{"X":1}}`)},
			wantReason: ReasonMalformedJSON,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseSecret(tt.secretType, tt.data)
			if tt.wantReason != "" {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("ParseSecret() = %+v, %v; want *ParseError %s", cfg, err, tt.wantReason)
				}
				if pe.Reason != tt.wantReason {
					t.Fatalf("Reason = %q (%s), want %q", pe.Reason, pe.Message, tt.wantReason)
				}
				if cfg != nil {
					t.Fatalf("config = %+v, want nil on error", cfg)
				}
				if pe.Error() != pe.Message || pe.Message == "" {
					t.Fatalf("Error() = %q, Message = %q", pe.Error(), pe.Message)
				}
				for _, secret := range []string{"s3cr3t", "robot", validAuth} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("error message %q leaks %q", err.Error(), secret)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecret(): %v", err)
			}
			got := []string{}
			for _, s := range cfg.Keys {
				got = append(got, s.String())
			}
			if !slices.Equal(got, tt.wantServers) {
				t.Fatalf("Servers = %q, want %q", got, tt.wantServers)
			}
			if cfg.Invalid != tt.wantInvalid {
				t.Fatalf("Invalid = %d, want %d", cfg.Invalid, tt.wantInvalid)
			}
		})
	}
}

// encoding/json quotes the offending character in its syntax errors; make
// sure none of that reaches the message, whatever the malformation.
func TestParseSecretMalformedDoesNotLeak(t *testing.T) {
	const password = "s3cr3tP@ss"
	payloads := []string{
		`{"auths":{"reg.io":{"password":"s3cr3tP@ss}}}`,
		`{"auths":{"reg.io":{"password":s3cr3tP@ss}}}`,
		`{"auths":{"reg.io":{"password":"s3cr3tP@ss"}}`,
		`{"auths":{"reg.io":{"password":"s3cr3tP@ss",}}}`,
		`{"auths":{"reg.io":{"password":"s3cr3tP@ss" "x"}}}`,
		`{"auths":{"reg.io":{"password":"s3cr3tP@ss\x"}}}`,
		`{"auths":{"reg.io":{"password":"\u00s3cr3tP@ss"}}}`,
		`{"auths":{"reg.io":{"password":"s3cr3tP@ss"}}}}`,
		`{"auths":{"reg.io":{"password":"s3cr3tP@ss"}}} s3cr3tP@ss`,
		`s3cr3tP@ss`,
		"{\"auths\":{\"reg.io\":{\"password\":\"s3cr3tP@ss\x01\"}}}",
		`{"auths":{"reg.io":{"password":["s3cr3tP@ss"]}}}`,
		`{"auths":{"reg.io":{"auth":"s3cr3tP@ss"}}}`,
		`{"auths":{"reg.io":"s3cr3tP@ss"}}`,
		`{"auths":"s3cr3tP@ss"}`,
		`{"auths":{"reg.io":{}},"HttpHeaders":{"Authorization":["s3cr3tP@ss"]}}`,
		`{"auths":{"reg.io":{}},"HttpHeaders":"s3cr3tP@ss"}`,
		`"s3cr3tP@ss"`,
		`1e99999`,
	}
	for _, secretType := range []string{SecretTypeDockerConfigJSON, SecretTypeDockercfg} {
		key := DockerConfigJSONKey
		if secretType == SecretTypeDockercfg {
			key = DockercfgKey
		}
		for _, p := range payloads {
			for _, payload := range []string{p, strings.Replace(p, `{"auths":`, "", 1)} {
				_, err := ParseSecret(secretType, map[string][]byte{key: []byte(payload)})
				if err == nil {
					continue
				}
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("%s %q: error %T is not a *ParseError", secretType, payload, err)
				}
				if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), password) {
					t.Errorf("%s %q: message %q leaks the password", secretType, payload, err.Error())
				}
			}
		}
	}
	// The first payload is reported with its offset.
	_, err := ParseSecret(SecretTypeDockerConfigJSON, map[string][]byte{DockerConfigJSONKey: []byte(payloads[1])})
	if err == nil || !strings.Contains(err.Error(), "byte offset 32") {
		t.Errorf("message %v does not give the offset", err)
	}
}

func TestDockerConfigCovers(t *testing.T) {
	cfg, err := ParseSecret(SecretTypeDockerConfigJSON, map[string][]byte{DockerConfigJSONKey: []byte(`{"auths":{
		"https://index.docker.io/v1/":{},
		"reg.example.com/team":{},
		"*.cache.example.com:5000":{}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		server string
		want   bool
	}{
		{"docker.io", true},
		{"docker.io/bitnami", true},
		{"reg.example.com/team", true},
		{"reg.example.com/team/app", true},
		{"reg.example.com", false},
		{"reg.example.com/teamx", true}, // the kubelet's path prefix is a plain string prefix
		{"eu.cache.example.com:5000", true},
		{"eu.cache.example.com", false},
		{"quay.io", false},
	}
	for _, tt := range tests {
		s, err := ParseServer(tt.server)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Covers(s); got != tt.want {
			t.Errorf("Covers(%q) = %v, want %v", tt.server, got, tt.want)
		}
	}
	imgs := []struct {
		image string
		want  bool
	}{
		{"nginx", true},
		{"reg.example.com/team/app:v1", true},
		{"reg.example.com/other/app", false},
		{"a.cache.example.com:5000/x", true},
	}
	for _, tt := range imgs {
		img, err := ParseImage(tt.image)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.MatchesImage(img); got != tt.want {
			t.Errorf("MatchesImage(%q) = %v, want %v", tt.image, got, tt.want)
		}
	}
	var nilCfg *DockerConfig
	if nilCfg.Covers(Server{Host: "docker.io"}) || nilCfg.MatchesImage(Image{Host: "docker.io", Path: "library/nginx"}) {
		t.Error("nil config covers something")
	}
}

func TestMatchesImageDoesNotAllocate(t *testing.T) {
	servers := []Server{}
	for _, s := range []string{"docker.io", "reg.example.com/team", "*.example.com:5000/team", "reg[0-9].example.com", "[::1]:5000"} {
		srv, err := ParseServer(s)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, srv)
	}
	images := []Image{}
	for _, s := range []string{"nginx", "reg.example.com/team/app", "a.example.com:5000/team/x", "reg1.example.com/x", "[::1]:5000/x"} {
		img, err := ParseImage(s)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, img)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, s := range servers {
			for _, img := range images {
				_ = s.MatchesImage(img)
				_ = Key(s).Covers(s)
				_ = Key(img).MatchesImage(img)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("MatchesImage allocates %v times per run", allocs)
	}
}

func BenchmarkMatchesImage(b *testing.B) {
	s, _ := ParseServer("*.example.com/team")
	img, _ := ParseImage("reg.example.com/team/app:v1")
	lit, _ := ParseServer("reg.example.com/team")
	b.ReportAllocs()
	for b.Loop() {
		_ = s.MatchesImage(img)
		_ = lit.MatchesImage(img)
	}
}

func BenchmarkParseImage(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ParseImage("reg.example.com/team/app:v1@" + testDigest)
	}
}
