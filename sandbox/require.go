package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
)

// require(name) loads, once per state, either a module written in Go that
// registered itself with RegisterModule (change, circular_buffer, json) or
// name.lua from the first directory of Options.ModulePath that has it.
// Names are [a-z0-9_]+, so a name is never a path. The error tells a name
// the sandbox refuses (a path, Lua's io, os, debug...) from a module that
// is simply not there, and for that one lists the files it looked for.

// RestoreFunc rebuilds a module's userdata from what the value's
// Preserve method returned (see RegisterRestore).
type RestoreFunc func(L *lua.LState, data []byte) (lua.LValue, error)

// Preserver is implemented by the Go values that modules keep in userdata
// and that can be carried across a reload or a restart.
type Preserver interface {
	Preserve() ([]byte, error)
}

var (
	registryMu sync.RWMutex
	goModules  = map[string]lua.LGFunction{}
	restorers  = map[string]RestoreFunc{}
)

// RegisterModule makes a module written in Go available to require(name).
// loader is called with the module name as its argument and returns the
// module (usually a table). Modules call it from init; the filters.lua
// plugin imports them. It panics on a duplicate or an invalid name.
func RegisterModule(name string, loader lua.LGFunction) {
	if !validModuleName(name) {
		panic(fmt.Sprintf("sandbox: invalid module name %q (want [a-z0-9_]+)", name))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := goModules[name]; dup {
		panic(fmt.Sprintf("sandbox: module %q registered twice", name))
	}
	goModules[name] = loader
}

// RegisterRestore lets Preserve keep a module's userdata. typeName is the
// name the module gave its metatable with L.NewTypeMetatable; a userdata
// with that metatable whose Value implements Preserver is saved with its
// Preserve output, and Restore calls fn with it to rebuild the value (fn
// must not assume that the script has required the module yet). It panics
// on a duplicate.
func RegisterRestore(typeName string, fn RestoreFunc) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := restorers[typeName]; dup {
		panic(fmt.Sprintf("sandbox: restore for %q registered twice", typeName))
	}
	restorers[typeName] = fn
}

// Modules returns the names of the registered Go modules, sorted.
func Modules() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(goModules))
	for n := range goModules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func goModule(name string) lua.LGFunction {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return goModules[name]
}

func restorer(typeName string) RestoreFunc {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return restorers[typeName]
}

func validModuleName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(islower(c) || isdigit(c) || c == '_') {
			return false
		}
	}
	return true
}

// requireLoading marks a module whose loading has started, to catch loops.
var requireLoading = lua.LString("\x00loading")

func (s *Sandbox) luaRequire(L *lua.LState) int {
	name := L.CheckString(1)
	switch v := s.loaded.RawGetString(name); v {
	case lua.LNil:
	case requireLoading:
		L.RaiseError("loop loading module '%s'", name)
	default:
		L.Push(v)
		return 1
	}
	var fn *lua.LFunction
	if !validModuleName(name) || deniedModules[name] {
		L.RaiseError("%s", s.notAllowed(name))
	}
	if loader := goModule(name); loader != nil {
		fn = L.NewFunction(loader)
	} else {
		path := s.findLuaModule(name)
		if path == "" {
			L.RaiseError("%s", s.notFound(name))
		}
		src, err := os.ReadFile(path)
		if err != nil {
			L.RaiseError("module '%s': %v", name, err)
		}
		if fn, err = L.Load(strings.NewReader(string(src)), path); err != nil {
			L.RaiseError("module '%s': %v", name, compileError(path, err))
		}
		trimProto(fn.Proto)
		s.files = append(s.files, path)
	}
	s.loaded.RawSetString(name, requireLoading)
	L.Push(fn)
	L.Push(lua.LString(name))
	if err := L.PCall(1, 1, nil); err != nil {
		s.loaded.RawSetString(name, lua.LNil) // a later require tries again
		if aerr, ok := err.(*lua.ApiError); ok {
			L.Error(aerr.Object, 0)
		}
		L.RaiseError("%v", err)
	}
	mod := L.Get(-1)
	L.Pop(1)
	if mod == lua.LNil {
		mod = lua.LTrue
	}
	s.loaded.RawSetString(name, mod)
	switch mod.(type) {
	case *lua.LTable, *lua.LFunction, *lua.LUserData:
		s.builtin[mod] = struct{}{} // code, not data: Preserve skips it
	}
	// As Heka's sandbox did, require also sets the global of that name.
	if s.globals.RawGetString(name) == lua.LNil {
		s.globals.RawSetString(name, mod)
	}
	L.Push(mod)
	return 1
}

func (s *Sandbox) findLuaModule(name string) string {
	for _, dir := range s.opts.ModulePath {
		p := filepath.Join(dir, name+".lua")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// deniedModules are Lua's standard libraries the sandbox leaves out on
// purpose: their require is refused, not searched for.
var deniedModules = map[string]bool{"io": true, "os": true, "debug": true, "package": true,
	"ffi": true, "jit": true, "coroutine": true}

// builtIn lists the modules written in Go, for the errors.
func builtIn() string {
	if mods := Modules(); len(mods) > 0 {
		return strings.Join(mods, ", ")
	}
	return "none"
}

// notAllowed is the error for a name the sandbox refuses whatever is on disk.
func (s *Sandbox) notAllowed(name string) string {
	why := "a module name is [a-z0-9_]+, never a path"
	if deniedModules[name] {
		why = "it is a Lua standard library the sandbox does not offer"
	}
	return fmt.Sprintf("module '%s' is not allowed by the sandbox: %s (built in: %s; or NAME.lua in module_path)", name, why, builtIn())
}

// notFound is the error for an allowed name that is neither built in nor a
// file in the module path: it names every file looked for, as absolute
// paths, so that a module path relative to another directory shows.
func (s *Sandbox) notFound(name string) string {
	if len(s.opts.ModulePath) == 0 {
		return fmt.Sprintf("module '%s' not found: it is not built in (%s) and no module_path is set to look for %s.lua", name, builtIn(), name)
	}
	searched := make([]string, 0, len(s.opts.ModulePath))
	for _, dir := range s.opts.ModulePath {
		p := filepath.Join(dir, name+".lua")
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		searched = append(searched, p)
	}
	return fmt.Sprintf("module '%s' not found (searched: %s; built in: %s)", name, strings.Join(searched, ", "), builtIn())
}

// ModulePathOr returns modulePath, or, when it is nil (a config that sets
// no module_path), the default of the Lua filter and decoder: the modules
// folder beside the script's folder, as plugins/modules is beside
// plugins/filters and plugins/decoders. An empty module_path means none.
func ModulePathOr(modulePath []string, script string) []string {
	if modulePath != nil {
		return modulePath
	}
	return []string{filepath.Join(filepath.Dir(script), "..", "modules")}
}
