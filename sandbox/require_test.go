package sandbox

import (
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
		{`require("nope")`, "module 'nope' is not allowed (allowed: "},
		{`require("io")`, "not allowed"},
		{`require("Greet")`, "not allowed"},
		{`require("greet.lua")`, "not allowed"},
		{`require("../modules/greet")`, "not allowed"},
		{`require("/etc/passwd")`, "not allowed"},
		{`require("broken")`, "broken.lua"},
		{`require("loop_a")`, "loop loading module 'loop_a'"},
		{`require("fails")`, "fails on purpose"},
		{`require("fails")`, "fails on purpose"}, // tried again, not "loop"
	})
	_, err := evalAll(t, s, `require("nope")`)
	if msg := err.Error(); !strings.Contains(msg, "test_box") || !strings.Contains(msg, "NAME.lua in testdata/modules") {
		t.Errorf("the error does not list what is allowed: %v", err)
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
