package pipeline

import (
	"path/filepath"
	"reflect"
)

// A relative path written in a config file is relative to that file's
// folder, as Fluent Bit users expect, so that `check -config
// /etc/x/pipeline.toml` and `run` from any working directory read the same
// files. A key that holds a path (or a glob, or a list of them) says so
// with a struct tag:
//
//	path:"true"
//
// Only keys a file sets are resolved: a default is the plugin's own (the
// default data_dir, ./var, stays in the working directory).

// resolvePath returns p joined to dir when p is relative; "" stays "".
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// resolveSetPaths resolves, against dir, the path-tagged fields of the
// struct dst points to whose keys table sets, in sub-tables and arrays of
// tables too.
func resolveSetPaths(dir string, table map[string]any, dst reflect.Value) {
	for dst.Kind() == reflect.Pointer || dst.Kind() == reflect.Interface {
		if dst.IsNil() {
			return
		}
		dst = dst.Elem()
	}
	if dst.Kind() != reflect.Struct {
		return
	}
	keys := structKeys(dst.Type())
	for k, x := range table {
		i, ok := keys[k]
		if !ok {
			continue // an unknown key, reported by decodeTable
		}
		f, fv := dst.Type().Field(i), dst.Field(i)
		if f.Tag.Get("path") == "true" {
			resolveValue(dir, fv)
			continue
		}
		switch sub := x.(type) {
		case map[string]any:
			resolveSetPaths(dir, sub, fv)
		case []map[string]any:
			if fv.Kind() == reflect.Slice {
				for j := 0; j < fv.Len() && j < len(sub); j++ {
					resolveSetPaths(dir, sub[j], fv.Index(j))
				}
			}
		}
	}
}

// resolveValue resolves a string, or each string of a slice, in place.
func resolveValue(dir string, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(resolvePath(dir, v.String()))
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			resolveValue(dir, v.Index(i))
		}
	}
}

// resolveDecoderPaths resolves the path of a Lua decoder script and the
// directories of its decoder_config.module_path, the paths the runtime
// decodes for an input. It returns a new decoder_config, leaving the one
// read from the file (compared on reload) as it was.
func resolveDecoderPaths(dir, decoder string, cfg map[string]any) (string, map[string]any) {
	if !IsDecoderScript(decoder) {
		return decoder, cfg
	}
	mp, ok := cfg["module_path"].([]any)
	if !ok {
		return resolvePath(dir, decoder), cfg
	}
	out := make(map[string]any, len(cfg))
	for k, v := range cfg {
		out[k] = v
	}
	dirs := make([]any, len(mp))
	for i, x := range mp {
		if s, ok := x.(string); ok {
			x = resolvePath(dir, s)
		}
		dirs[i] = x
	}
	out["module_path"] = dirs
	return resolvePath(dir, decoder), out
}

// PathKeys lists the keys of [agent], [nats] and each registered plugin
// that are tagged path:"true", named as SecretKeys names them; a test
// checks that the path-looking ones are.
func PathKeys() map[string]bool {
	out := map[string]bool{}
	walkConfigKeys(func(key string, f reflect.StructField) {
		if f.Tag.Get("path") == "true" {
			out[key] = true
		}
	})
	return out
}
