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

import "testing"

const (
	img = "private-registry.io/apps/app:1"
	// A digest full of 401, 403, 404 and 429, which must not count as status codes.
	digest = "sha256:4010403040442901a4010403040442901a4010403040442901a40104030404"
)

// classifyCases are messages as the kubelet shows them, in the waiting message
// (bare, wrapped in "rpc error: code = ... desc = " by older kubelets, or
// behind "Back-off pulling image ...: ErrImagePull: " from kubelet 1.31) or in
// the note of a Failed Event ("Failed to pull image ...: ").
var classifyCases = []struct {
	name string
	msg  string
	want string
}{
	// containerd 1.7 / 2.x
	{
		name: "containerd 1.7: wrong password, basic auth (registry:2 htpasswd)",
		msg:  `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": unexpected status from HEAD request to https://private-registry.io/v2/apps/app/manifests/1: 401 Unauthorized`,
		want: Unauthorized,
	},
	{
		name: "containerd 1.7: wrong password, bearer token (Docker Hub, oauth POST)",
		msg:  `failed to pull and unpack image "docker.io/acme/private:latest": failed to resolve reference "docker.io/acme/private:latest": failed to authorize: failed to fetch oauth token: unexpected status from POST request to https://auth.docker.io/token: 401 Unauthorized`,
		want: Unauthorized,
	},
	{
		name: "containerd 1.7: wrong password, bearer token (GET fallback after POST 401), Event note",
		msg:  `Failed to pull image "private-registry.io/apps/app:1": failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://auth.example/token?scope=repository%3Aapps%2Fapp%3Apull&service=registry: 401 Unauthorized`,
		want: Unauthorized,
	},
	{
		name: "containerd 1.7: no credentials, anonymous token refused",
		msg:  `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://auth.example/token?scope=repository%3Aapps%2Fapp%3Apull&service=registry: 401 Unauthorized`,
		want: Unauthorized,
	},
	{
		name: "containerd 1.7: no credentials for a private GHCR package, Event note",
		msg:  `Failed to pull image "ghcr.io/acme/private:1.0.0": failed to pull and unpack image "ghcr.io/acme/private:1.0.0": failed to resolve reference "ghcr.io/acme/private:1.0.0": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token?scope=repository%3Aacme%2Fprivate%3Apull&service=ghcr.io: 401 Unauthorized`,
		want: Unauthorized,
	},
	{
		name: "containerd 1.7: no pull scope, GHCR token without read:packages",
		msg:  `failed to pull and unpack image "ghcr.io/acme/private:1": failed to resolve reference "ghcr.io/acme/private:1": failed to authorize: failed to fetch oauth token: unexpected status from POST request to https://ghcr.io/token: 403 Forbidden`,
		want: Forbidden,
	},
	{
		name: "containerd 1.7: no pull scope, Docker Hub (insufficient_scope)",
		msg:  `rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/acme/private:latest": failed to resolve reference "docker.io/acme/private:latest": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`,
		want: Forbidden,
	},
	{
		name: "containerd 1.7: no pull scope, Harbor robot account (insufficient_scope)",
		msg:  `failed to pull and unpack image "harbor.example/proj/app:1": failed to resolve reference "harbor.example/proj/app:1": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`,
		want: Forbidden,
	},
	{
		name: "containerd 1.7: no pull scope, Artifact Registry (token GET 403)",
		msg:  `failed to pull and unpack image "europe-docker.pkg.dev/acme/apps/app:1": failed to resolve reference "europe-docker.pkg.dev/acme/apps/app:1": failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://europe-docker.pkg.dev/v2/token?scope=repository%3Aacme%2Fapps%2Fapp%3Apull&service=europe-docker.pkg.dev: 403 Forbidden`,
		want: Forbidden,
	},
	{
		name: "containerd 1.7: no pull permission, ECR (HEAD 403)",
		msg:  `failed to pull and unpack image "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1": failed to resolve reference "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1": unexpected status from HEAD request to https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/1: 403 Forbidden`,
		want: Forbidden,
	},
	{
		name: "containerd 1.7: token rejected by the registry (invalid_token)",
		msg:  `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": pull access denied, repository does not exist or may require authorization: server message: invalid_token: authorization failed`,
		want: Unauthorized,
	},
	{
		name: "containerd 1.7: tag missing (gRPC NotFound)",
		msg:  `rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:nope": failed to resolve reference "docker.io/library/nginx:nope": docker.io/library/nginx:nope: not found`,
		want: NotFound,
	},
	{
		name: "containerd 1.7: tag missing",
		msg:  `failed to pull and unpack image "docker.io/library/nginx:nope": failed to resolve reference "docker.io/library/nginx:nope": docker.io/library/nginx:nope: not found`,
		want: NotFound,
	},
	{
		name: "containerd 1.7: tag named 401 missing",
		msg:  `failed to pull and unpack image "docker.io/acme/app:401": failed to resolve reference "docker.io/acme/app:401": docker.io/acme/app:401: not found`,
		want: NotFound,
	},
	{
		name: "containerd 1.7: digest missing, digest digits are not status codes",
		msg:  `failed to pull and unpack image "docker.io/library/nginx@` + digest + `": failed to resolve reference "docker.io/library/nginx@` + digest + `": docker.io/library/nginx@` + digest + `: not found`,
		want: NotFound,
	},
	{
		name: "containerd 1.7: repository missing on a private registry",
		msg:  `failed to pull and unpack image "private-registry.io/apps/nope:1": failed to resolve reference "private-registry.io/apps/nope:1": private-registry.io/apps/nope:1: not found`,
		want: NotFound,
	},
	{
		name: "containerd 1.7: DNS, no such host",
		msg:  `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": failed to do request: Head "https://private-registry.io/v2/apps/app/manifests/1": dial tcp: lookup private-registry.io on 10.96.0.10:53: no such host`,
		want: Other,
	},
	{
		name: "containerd 1.7: DNS, server misbehaving",
		msg:  `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": failed to do request: Head "https://private-registry.io/v2/apps/app/manifests/1": dial tcp: lookup private-registry.io on 10.96.0.10:53: server misbehaving`,
		want: Other,
	},
	{
		name: "containerd 1.7: registry unreachable, connection refused",
		msg:  `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": failed to do request: Head "https://private-registry.io/v2/apps/app/manifests/1": dial tcp 10.0.0.5:443: connect: connection refused`,
		want: Other,
	},
	{
		name: "containerd 1.7: registry unreachable, i/o timeout",
		msg:  `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": failed to do request: Head "https://private-registry.io/v2/apps/app/manifests/1": dial tcp 10.0.0.5:443: i/o timeout`,
		want: Other,
	},
	{
		name: "containerd 1.7: TLS, x509 unknown authority",
		msg:  `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": failed to do request: Head "https://private-registry.io/v2/apps/app/manifests/1": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
		want: Other,
	},
	{
		name: "containerd 1.7: rate limit 429 toomanyrequests (Docker Hub)",
		msg:  `failed to pull and unpack image "docker.io/library/nginx:latest": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/` + digest + `: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit`,
		want: Other,
	},
	{
		name: "containerd 1.7: no image for the node's platform",
		msg:  `failed to pull and unpack image "docker.io/acme/app:1": no match for platform in manifest: not found`,
		want: Other,
	},
	{
		name: "containerd 1.7: node-local permission denied while unpacking",
		msg:  `failed to pull and unpack image "docker.io/library/nginx:1": failed to extract layer ` + digest + `: mount callback failed on /var/lib/containerd/tmpmounts/containerd-mount123: permission denied`,
		want: Other,
	},

	// containerd 1.6 and older
	{
		name: "containerd 1.6: wrong password, basic auth",
		msg:  `failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": pulling from host private-registry.io failed with status code [manifests 1]: 401 Unauthorized`,
		want: Unauthorized,
	},
	{
		name: "containerd 1.6: no pull permission, basic auth",
		msg:  `rpc error: code = Unknown desc = failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": pulling from host private-registry.io failed with status code [manifests 1]: 403 Forbidden`,
		want: Forbidden,
	},
	{
		name: "containerd 1.5: no credentials, anonymous token 401",
		msg:  `rpc error: code = Unknown desc = failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized`,
		want: Unauthorized,
	},
	{
		name: "containerd 1.5: anonymous token 403 (GHCR), Event note",
		msg:  `Failed to pull image "ghcr.io/acme/private:latest": rpc error: code = Unknown desc = failed to pull and unpack image "ghcr.io/acme/private:latest": failed to resolve reference "ghcr.io/acme/private:latest": failed to authorize: failed to fetch anonymous token: unexpected status: 403 Forbidden`,
		want: Forbidden,
	},
	{
		name: "containerd 1.6: TLS, x509 unknown authority",
		msg:  `rpc error: code = Unknown desc = failed to pull and unpack image "private-registry.io/apps/app:1": failed to resolve reference "private-registry.io/apps/app:1": failed to do request: Head "https://private-registry.io/v2/apps/app/manifests/1": x509: certificate signed by unknown authority`,
		want: Other,
	},

	// CRI-O
	{
		name: "CRI-O: wrong password, basic auth",
		msg:  `initializing source docker://private-registry.io/apps/app:1: reading manifest 1 in private-registry.io/apps/app: unauthorized: authentication required`,
		want: Unauthorized,
	},
	{
		name: "CRI-O: wrong password, bearer token (Docker Hub)",
		msg:  `initializing source docker://docker.io/acme/private:latest: unable to retrieve auth token: invalid username/password: unauthorized: incorrect username or password`,
		want: Unauthorized,
	},
	{
		name: "CRI-O: no pull scope, GHCR bearer token 403",
		msg:  `initializing source docker://ghcr.io/acme/private:1: Requesting bearer token: invalid status code from registry 403 (Forbidden)`,
		want: Forbidden,
	},
	{
		name: "CRI-O: no pull scope, Quay (Quay answers 401 UNAUTHORIZED)",
		msg:  `initializing source docker://quay.io/acme/private:latest: reading manifest latest in quay.io/acme/private: unauthorized: access to the requested resource is not authorized`,
		want: Unauthorized,
	},
	{
		name: "CRI-O: no credentials, Harbor private project",
		msg:  `initializing source docker://harbor.example/proj/app:1: reading manifest 1 in harbor.example/proj/app: unauthorized: unauthorized to access repository: proj/app, action: pull: unauthorized to access repository: proj/app, action: pull`,
		want: Unauthorized,
	},
	{
		name: "CRI-O: no pull scope, Docker Hub (denied and unauthorized)",
		msg:  "initializing source docker://acme/private:latest: reading manifest latest in docker.io/acme/private: errors:\ndenied: requested access to the resource is denied\nunauthorized: authentication required\n",
		want: Forbidden,
	},
	{
		name: "CRI-O: no pull permission, ECR",
		msg:  `initializing source docker://123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1: reading manifest 1 in 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app: denied: User: arn:aws:sts::123456789012:assumed-role/node/i-0abc is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:eu-west-1:123456789012:repository/app because no identity-based policy allows the ecr:BatchGetImage action`,
		want: Forbidden,
	},
	{
		name: "CRI-O: tag missing",
		msg:  `initializing source docker://nginx:nope: reading manifest nope in docker.io/library/nginx: manifest unknown`,
		want: NotFound,
	},
	{
		name: "CRI-O: tag named 401 missing",
		msg:  `initializing source docker://private-registry.io/apps/app:401: reading manifest 401 in private-registry.io/apps/app: manifest unknown`,
		want: NotFound,
	},
	{
		name: "CRI-O (older): tag missing, gRPC wrapped",
		msg:  `rpc error: code = Unknown desc = Error reading manifest nope in docker.io/library/nginx: manifest unknown: manifest unknown`,
		want: NotFound,
	},
	{
		name: "CRI-O: repository missing on a private registry",
		msg:  `initializing source docker://private-registry.io/apps/nope:1: reading manifest 1 in private-registry.io/apps/nope: name unknown: repository name not known to registry`,
		want: NotFound,
	},
	{
		name: "CRI-O: DNS, no such host",
		msg:  `initializing source docker://private-registry.io/apps/app:1: pinging container registry private-registry.io: Get "https://private-registry.io/v2/": dial tcp: lookup private-registry.io on 10.96.0.10:53: no such host`,
		want: Other,
	},
	{
		name: "CRI-O: TLS, x509 unknown authority",
		msg:  `initializing source docker://private-registry.io/apps/app:1: pinging container registry private-registry.io: Get "https://private-registry.io/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
		want: Other,
	},
	{
		name: "CRI-O: rate limit toomanyrequests (Docker Hub)",
		msg:  `initializing source docker://nginx:latest: reading manifest latest in docker.io/library/nginx: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit`,
		want: Other,
	},
	{
		name: "CRI-O (kubelet 1.29+): signature validation failed",
		msg:  `image pull failed for quay.io/acme/app:1 because the signature validation failed: Source image rejected: A signature was required, but no signature exists`,
		want: Other,
	},

	// Docker (dockershim / cri-dockerd)
	{
		name: "Docker: wrong password, bearer token (Docker Hub), gRPC wrapped",
		msg:  `rpc error: code = Unknown desc = Error response from daemon: Get "https://registry-1.docker.io/v2/": unauthorized: incorrect username or password`,
		want: Unauthorized,
	},
	{
		name: "Docker: wrong password, basic auth",
		msg:  `Error response from daemon: Get "https://private-registry.io/v2/": unauthorized: authentication required`,
		want: Unauthorized,
	},
	{
		name: "Docker: no credentials, basic auth",
		msg:  `Error response from daemon: Head "https://private-registry.io/v2/apps/app/manifests/1": no basic auth credentials`,
		want: Unauthorized,
	},
	{
		name: "Docker: expired ECR token",
		msg:  `Error response from daemon: pull access denied for 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app, repository does not exist or may require 'docker login': denied: Your authorization token has expired. Reauthenticate and try again.`,
		want: Unauthorized,
	},
	{
		name: "Docker: no pull scope, Docker Hub or Harbor",
		msg:  `Error response from daemon: pull access denied for private-registry.io/apps/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`,
		want: Forbidden,
	},
	{
		name: "Docker: no pull scope, GCR",
		msg:  `Error response from daemon: pull access denied for gcr.io/acme/app, repository does not exist or may require 'docker login': denied: Permission denied for "latest" from request "/v2/acme/app/manifests/latest".`,
		want: Forbidden,
	},
	{
		name: "Docker: no pull scope, GHCR",
		msg:  `Error response from daemon: Head "https://ghcr.io/v2/acme/private/manifests/1": denied`,
		want: Forbidden,
	},
	{
		name: "Docker: proxy in front of the registry answers 403 in HTML",
		msg:  `Error response from daemon: error parsing HTTP 403 response body: invalid character '<' looking for beginning of value: "<html>\r\n<head><title>403 Forbidden</title></head>\r\n</html>\r\n"`,
		want: Forbidden,
	},
	{
		name: "Docker: tag missing",
		msg:  `Error response from daemon: manifest for nginx:nope not found: manifest unknown: manifest unknown`,
		want: NotFound,
	},
	{
		name: "Docker: repository missing on a private registry",
		msg:  `Error response from daemon: repository private-registry.io/apps/nope not found: name unknown: repository name not known to registry`,
		want: NotFound,
	},
	{
		name: "Docker: DNS, no such host",
		msg:  `Error response from daemon: Get "https://private-registry.io/v2/": dial tcp: lookup private-registry.io on 10.96.0.10:53: no such host`,
		want: Other,
	},
	{
		name: "Docker: registry unreachable, client timeout",
		msg:  `Error response from daemon: Get "https://private-registry.io/v2/": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)`,
		want: Other,
	},
	{
		name: "Docker: TLS, x509 unknown authority",
		msg:  `Error response from daemon: Get "https://private-registry.io/v2/": x509: certificate signed by unknown authority`,
		want: Other,
	},
	{
		name: "Docker: rate limit toomanyrequests (Docker Hub)",
		msg:  `Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit`,
		want: Other,
	},

	// kubelet
	{
		name: "kubelet < 1.31: bare back-off",
		msg:  `Back-off pulling image "` + img + `"`,
		want: Other,
	},
	{
		name: "kubelet: bare back-off, image name made of reason words",
		msg:  `Back-off pulling image "unauthorized"`,
		want: Other,
	},
	{
		name: "kubelet: Error: ErrImagePull Event",
		msg:  `Error: ErrImagePull`,
		want: Other,
	},
	{
		name: "kubelet: ErrImageNeverPull",
		msg:  `Container image "` + img + `" is not present with pull policy of Never`,
		want: Other,
	},
	{
		name: "kubelet 1.31+: back-off with detail, containerd 401",
		msg:  `Back-off pulling image "` + img + `": ErrImagePull: failed to pull and unpack image "` + img + `": failed to resolve reference "` + img + `": unexpected status from HEAD request to https://private-registry.io/v2/apps/app/manifests/1: 401 Unauthorized`,
		want: Unauthorized,
	},
	{
		name: "kubelet 1.31+: back-off with detail, Docker denied",
		msg:  `Back-off pulling image "` + img + `": ErrImagePull: Error response from daemon: pull access denied for private-registry.io/apps/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`,
		want: Forbidden,
	},
	{
		name: "kubelet 1.31+: back-off with detail, CRI-O manifest unknown",
		msg:  `Back-off pulling image "` + img + `": ErrImagePull: initializing source docker://private-registry.io/apps/app:1: reading manifest 1 in private-registry.io/apps/app: manifest unknown`,
		want: NotFound,
	},
	{
		name: "kubelet 1.31+: back-off with detail, containerd DNS",
		msg:  `Back-off pulling image "` + img + `": ErrImagePull: failed to pull and unpack image "` + img + `": failed to resolve reference "` + img + `": failed to do request: Head "https://private-registry.io/v2/apps/app/manifests/1": dial tcp: lookup private-registry.io on 10.96.0.10:53: no such host`,
		want: Other,
	},
	{
		name: "empty message",
		msg:  "",
		want: Other,
	},
}

func TestClassify(t *testing.T) {
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.msg); got != tc.want {
				t.Errorf("Classify(%q) = %s, want %s", tc.msg, got, tc.want)
			}
		})
	}
}

func TestHasDetail(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want bool
	}{
		{"kubelet < 1.31: bare back-off", `Back-off pulling image "` + img + `"`, false},
		{"bare back-off, trailing newline", "Back-off pulling image \"" + img + "\"\n", false},
		{"bare back-off, lower case (kubelet 1.5)", `back-off pulling image "` + img + `"`, false},
		{"Event: Error: ErrImagePull", `Error: ErrImagePull`, false},
		{"Event: Error: ImagePullBackOff", `Error: ImagePullBackOff`, false},
		{"empty", "", false},
		{"back-off with an empty detail", `Back-off pulling image "` + img + `": ErrImagePull: `, false},
		{"kubelet 1.31+: back-off with detail", `Back-off pulling image "` + img + `": ErrImagePull: ` +
			`failed to pull and unpack image "` + img + `": failed to resolve reference "` + img + `": ` + img + `: not found`, true},
		{"ErrImagePull waiting message, containerd", `failed to pull and unpack image "` + img + `": failed to resolve reference "` + img + `": ` + img + `: not found`, true},
		{"ErrImagePull waiting message, gRPC wrapped", `rpc error: code = Unknown desc = Error response from daemon: manifest for nginx:nope not found: manifest unknown: manifest unknown`, true},
		{"Failed Event note", `Failed to pull image "` + img + `": initializing source docker://` + img + `: reading manifest 1 in private-registry.io/apps/app: manifest unknown`, true},
		{"ErrImageNeverPull", `Container image "` + img + `" is not present with pull policy of Never`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := HasDetail(tc.msg); got != tc.want {
				t.Errorf("HasDetail(%q) = %v, want %v", tc.msg, got, tc.want)
			}
		})
	}
}

func TestImageIn(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want string
	}{
		{"bare back-off", `Back-off pulling image "` + img + `"`, img},
		{"back-off with detail names the image first", `Back-off pulling image "` + img + `": ErrImagePull: failed to pull and unpack image "docker.io/apps/app:1": not found`, img},
		{"Failed Event note", `Failed to pull image "` + img + `": rpc error: code = Unknown desc = Error response from daemon: no basic auth credentials`, img},
		{"containerd waiting message", `failed to pull and unpack image "docker.io/library/nginx:nope": failed to resolve reference "docker.io/library/nginx:nope": docker.io/library/nginx:nope: not found`, "docker.io/library/nginx:nope"},
		{"digest reference", `failed to pull and unpack image "docker.io/library/nginx@` + digest + `": not found`, "docker.io/library/nginx@" + digest},
		{"Pulling Event", `Pulling image "` + img + `"`, img},
		{"CRI-O waiting message quotes no image", `initializing source docker://` + img + `: reading manifest 1 in private-registry.io/apps/app: manifest unknown`, ""},
		{"Docker waiting message quotes no image", `Error response from daemon: manifest for nginx:nope not found: manifest unknown: manifest unknown`, ""},
		{"ErrImageNeverPull is no pull", `Container image "` + img + `" is not present with pull policy of Never`, ""},
		{"unterminated quote", `Back-off pulling image "` + img, ""},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ImageIn(tc.msg); got != tc.want {
				t.Errorf("ImageIn(%q) = %q, want %q", tc.msg, got, tc.want)
			}
		})
	}
}
