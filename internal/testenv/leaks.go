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

package testenv

import (
	"encoding/base64"
	"strings"
)

// Leaks returns the forms in which any of the secrets appears in text: the
// secret itself, or its base64 encoding at any of the three byte alignments
// it can have inside a longer encoded value (a Secret's data, a docker
// config "auth"). Suites run it over everything the manager logged.
func Leaks(text string, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(text, s) {
			found = append(found, s)
		}
		for _, form := range base64Forms(s) {
			if strings.Contains(text, form) {
				found = append(found, form+" (base64 of "+s+")")
			}
		}
	}
	return found
}

// base64Forms are the parts of s's base64 encoding that do not depend on
// what precedes or follows s, for each alignment.
func base64Forms(s string) []string {
	var out []string
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x00", pad) + s))
		// drop the characters that mix in the padding before and after s.
		start := (pad*8 + 5) / 6
		end := len(strings.TrimRight(enc, "=")) - 2
		if end-start >= 8 {
			out = append(out, enc[start:end])
		}
	}
	return out
}
