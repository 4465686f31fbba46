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

package regcheck

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// ExpiresAt returns when a credential says it expires, or the zero time:
//   - the "exp" claim of a JWT in the password, the identity token or the
//     registry token (Azure Container Registry refresh tokens, GitLab and
//     Harbor robot tokens, the short-lived tokens of most generators);
//   - the "expiration" of an Amazon ECR authorization token (the password is
//     base64 of a JSON document with that field), as external-secrets'
//     ECRAuthorizationToken generator and `aws ecr get-login-password` give
//     it.
//
// The earliest of them wins. Nothing is verified: the time only warns
// before a credential runs out.
func ExpiresAt(a authn.AuthConfig) time.Time {
	var earliest time.Time
	for _, v := range []string{a.Password, a.IdentityToken, a.RegistryToken} {
		t := jwtExpiry(v)
		if t.IsZero() {
			t = ecrExpiry(v)
		}
		if !t.IsZero() && (earliest.IsZero() || t.Before(earliest)) {
			earliest = t
		}
	}
	return earliest
}

// jwtExpiry reads the "exp" claim (seconds since the epoch) of a JWT.
func jwtExpiry(v string) time.Time {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || len(v) > 16<<10 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}
	}
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 || f > 1e11 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0).UTC()
}

// ecrExpiry reads the "expiration" of an ECR authorization token.
func ecrExpiry(v string) time.Time {
	if len(v) < 32 || len(v) > 16<<10 {
		return time.Time{}
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return time.Time{}
	}
	var doc struct {
		Payload    string      `json:"payload"`
		Expiration json.Number `json:"expiration"`
	}
	if json.Unmarshal(raw, &doc) != nil || doc.Payload == "" {
		return time.Time{}
	}
	f, err := doc.Expiration.Float64()
	if err != nil || f <= 0 || f > 1e11 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0).UTC()
}
