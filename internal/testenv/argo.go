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
	"fmt"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"
)

// ArgoHealthScript reads the Argo CD health check the project ships
// (config/argocd/health.lua).
func ArgoHealthScript() ([]byte, error) {
	return os.ReadFile(filepath.Join(RepoRoot(), "config", "argocd", "health.lua"))
}

// ArgoHealth runs an Argo CD health script as Argo CD does: the object (as
// decoded from JSON) as the global obj; it returns the returned table's
// fields (status, message).
func ArgoHealth(script []byte, obj map[string]any) (map[string]string, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	v, err := toLua(L, obj)
	if err != nil {
		return nil, err
	}
	L.SetGlobal("obj", v)
	if err := L.DoString(string(script)); err != nil {
		return nil, fmt.Errorf("health.lua: %w", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("health.lua returned %s, want a table", L.Get(-1).Type())
	}
	out := map[string]string{}
	ret.ForEach(func(k, v lua.LValue) { out[k.String()] = v.String() })
	return out, nil
}

// toLua converts a decoded JSON value to Lua as Argo CD does: objects to
// tables, arrays to 1-based tables, numbers to numbers.
func toLua(L *lua.LState, v any) (lua.LValue, error) {
	switch v := v.(type) {
	case nil:
		return lua.LNil, nil
	case bool:
		return lua.LBool(v), nil
	case string:
		return lua.LString(v), nil
	case int64:
		return lua.LNumber(v), nil
	case float64:
		return lua.LNumber(v), nil
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			lv, err := toLua(L, e)
			if err != nil {
				return nil, err
			}
			t.RawSetString(k, lv)
		}
		return t, nil
	case []any:
		t := L.NewTable()
		for _, e := range v {
			lv, err := toLua(L, e)
			if err != nil {
				return nil, err
			}
			t.Append(lv)
		}
		return t, nil
	}
	return nil, fmt.Errorf("toLua: unexpected %T", v)
}
