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
	"encoding/json"
	"testing"
)

func TestLeaks(t *testing.T) {
	const secret = "s3cr3t-Pa55w0rd-xyz"
	data, _ := json.Marshal(map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"r.io":{"password":"` + secret + `"}}}`)})
	cases := map[string]bool{
		"nothing here":                          false,
		"raw " + secret:                         true,
		"a Secret logged whole " + string(data): true,
		"auth " + base64.StdEncoding.EncodeToString([]byte("robot:"+secret)):  true,
		"auth " + base64.StdEncoding.EncodeToString([]byte("robo:"+secret)):   true,
		"auth " + base64.StdEncoding.EncodeToString([]byte("robott:"+secret)): true,
		"auth " + base64.StdEncoding.EncodeToString([]byte("robot:other")):    false,
	}
	for text, want := range cases {
		if got := len(Leaks(text, secret)) > 0; got != want {
			t.Errorf("Leaks(%q) = %v, want %v", text, got, want)
		}
	}
}
