package sandbox

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRequire(t *testing.T) {
	s, _ := newSandbox(t, `
local greet = require("greet")
first = greet.hello("world")
same = require("greet") == greet
box = require("test_box").new(5)
`)
	runEvalCases(t, s, []evalCase{
		{`first, same`, "hello world true"},
		{`greet.count()`, "1"}, // require also sets the global, as Heka's did
		{`box:get()`, "5"},
		{`require("greet").count()`, "1"}, // loaded once
	})
	if files := s.Files(); !slices.Equal(files, []string{"test.lua", "testdata/modules/greet.lua"}) {
		t.Errorf("Files = %v", files)
	}
	runErrorCases(t, s, []evalCase{
		{`require("nope")`, "module 'nope' not found (searched: "},
		{`require("io")`, "module 'io' is not allowed by the sandbox: it is a Lua standard library"},
		{`require("debug")`, "not allowed by the sandbox"},
		{`require("Greet")`, "not allowed"},
		{`require("greet.lua")`, "not allowed"},
		{`require("../modules/greet")`, "module '../modules/greet' is not allowed by the sandbox: a module name is [a-z0-9_]+, never a path"},
		{`require("/etc/passwd")`, "not allowed"},
		{`require("broken")`, "broken.lua"},
		{`require("loop_a")`, "loop loading module 'loop_a'"},
		{`require("fails")`, "fails on purpose"},
		{`require("fails")`, "fails on purpose"}, // tried again, not "loop"
	})
	_, err := evalAll(t, s, `require("nope")`)
	abs, _ := filepath.Abs("testdata/modules/nope.lua")
	if msg := err.Error(); !strings.Contains(msg, "test_box") || !strings.Contains(msg, "searched: "+abs+";") || strings.Contains(msg, "not allowed") {
		t.Errorf("the error does not say what was searched: %v", err)
	}
}

func TestRegisterModulePanics(t *testing.T) {
	for _, f := range []func(){
		func() { RegisterModule("test_box", nil) },
		func() { RegisterModule("Bad.Name", nil) },
		func() { RegisterRestore(boxType, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
	if !slices.Contains(Modules(), "test_box") {
		t.Errorf("Modules() = %v", Modules())
	}
}

// Without a module path, a module that is not built in is not found, and
// the error says that no module_path is set rather than "not allowed".
func TestRequireWithoutModulePath(t *testing.T) {
	s, _ := newSandbox(t, "", func(o *Options) { o.ModulePath = nil })
	_, err := evalAll(t, s, `require("series")`)
	if err == nil || !strings.Contains(err.Error(), "module 'series' not found: it is not built in") ||
		!strings.Contains(err.Error(), "no module_path is set") {
		t.Errorf("got %v", err)
	}
}
