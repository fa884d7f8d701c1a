package pipeline

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
)

// What the TOML parser does not give us: the line of every key, including
// keys inside the n-th element of an array of tables, and ${VAR}
// substitution that knows comments from values.

// lexState is where a scan of TOML source is.
type lexState int

const (
	lexCode lexState = iota
	lexComment
	lexBasic      // "..."
	lexLiteral    // '...'
	lexMultiBasic // """..."""
	lexMultiLit   // '''...'''
)

// scanTOML calls visit for every byte of src with the state it is in. It is a
// deliberately small lexer: enough to tell comments and strings from code.
func scanTOML(src string, visit func(i int, st lexState)) {
	st := lexCode
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch st {
		case lexCode:
			switch {
			case c == '#':
				st = lexComment
			case strings.HasPrefix(src[i:], `"""`):
				visit(i, lexCode)
				visit(i+1, lexCode)
				i += 2
				st = lexMultiBasic
			case strings.HasPrefix(src[i:], `'''`):
				visit(i, lexCode)
				visit(i+1, lexCode)
				i += 2
				st = lexMultiLit
			case c == '"':
				visit(i, lexCode)
				st = lexBasic
				continue
			case c == '\'':
				visit(i, lexCode)
				st = lexLiteral
				continue
			}
		case lexComment:
			if c == '\n' {
				st = lexCode
			}
		case lexBasic:
			if c == '\\' && i+1 < len(src) {
				visit(i, st)
				i++
			} else if c == '"' || c == '\n' {
				st = lexCode
			}
		case lexLiteral:
			if c == '\'' || c == '\n' {
				st = lexCode
			}
		case lexMultiBasic:
			if c == '\\' && i+1 < len(src) {
				visit(i, st)
				i++
			} else if strings.HasPrefix(src[i:], `"""`) {
				st = lexCode
				visit(i, st)
				visit(i+1, st)
				i += 2
			}
		case lexMultiLit:
			if strings.HasPrefix(src[i:], `'''`) {
				st = lexCode
				visit(i, st)
				visit(i+1, st)
				i += 2
			}
		}
		visit(i, st)
	}
}

// expandEnv replaces ${VAR} and ${VAR:-default} outside comments. Inside a
// basic string the value is escaped, so that a quote or a backslash in a
// password cannot break the file. An unset variable without a default is an
// error naming the line. It also returns, by line of the expanded text, the
// variables expanded there, so that errors can name them instead of
// showing their values.
func expandEnv(file, src string) (string, map[int][]string, []error) {
	states := make([]lexState, len(src))
	scanTOML(src, func(i int, st lexState) { states[i] = st })
	var b strings.Builder
	var errs []error
	line := 1
	outLine := 1 // the value of a variable may hold newlines
	vars := map[int][]string{}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\n' {
			line++
		}
		if c != '$' || i+1 >= len(src) || src[i+1] != '{' || states[i] == lexComment {
			if c == '\n' {
				outLine++
			}
			b.WriteByte(c)
			continue
		}
		end := strings.IndexAny(src[i:], "}\n")
		if end < 0 || src[i+end] != '}' {
			b.WriteByte(c)
			continue
		}
		expr := src[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			b.WriteByte(c)
			continue
		}
		val, ok := os.LookupEnv(name)
		if !ok || (hasDef && val == "") {
			if !hasDef {
				errs = append(errs, &ConfigError{File: file, Line: line,
					Msg: fmt.Sprintf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)})
			}
			val = def
		}
		switch states[i] {
		case lexBasic, lexMultiBasic:
			r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
			val = r.Replace(val)
		}
		vars[outLine] = append(vars[outLine], name)
		outLine += strings.Count(val, "\n")
		b.WriteString(val)
		i += end
	}
	return b.String(), vars, errs
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// keyLines knows the line of each table header and key in one file.
type keyLines struct {
	headers map[string]int // "inputs.tcp#1" -> line of the second [[inputs.tcp]]
	keys    map[string]int // "inputs.tcp#1/config.field" -> line
	starts  []int          // every line a header or a key starts on, in order
	env     map[int][]string
}

// tableID names a table: "agent#0", or "inputs.tcp#2" for the third element.
func tableID(path string, index int) string { return fmt.Sprintf("%s#%d", path, index) }

// indexKeyLines finds headers and keys line by line. Keys inside inline
// tables and multi-line arrays are attributed to the line of their parent key,
// which is close enough to point a user at.
func indexKeyLines(src string) *keyLines {
	kl := &keyLines{headers: map[string]int{}, keys: map[string]int{}}
	code := []byte(src)
	scanTOML(src, func(i int, st lexState) {
		if st == lexComment {
			code[i] = ' '
		} else if st != lexCode && code[i] != '\n' {
			code[i] = 'x' // blank string contents so that brackets inside do not count
		}
	})
	counts := map[string]int{}
	latest := map[string][2]string{} // array path -> owner and sub of its latest element
	elems := map[string]int{}        // owner/sub of a nested array -> its elements so far
	owner, sub := "", ""
	depth := 0 // open [ or { of a value spanning lines
	origLines := strings.Split(src, "\n")
	for n, text := range strings.Split(string(code), "\n") {
		line := n + 1
		orig := origLines[n]
		t := strings.TrimSpace(text)
		if depth == 0 && strings.HasPrefix(t, "[") {
			path := headerPath(strings.TrimSpace(orig))
			if strings.HasPrefix(t, "[[") {
				id := tableID(path, counts[path])
				counts[path]++
				owner, sub = id, ""
				kl.headers[id] = line
				// An array of tables inside the latest element of another
				// ([[filters.alert.rules]]): its keys are that element's,
				// under "rules.[i]", the path decodeTable gives them.
				if o, s, rel, ok := latestElement(latest, path); ok {
					arr := joinKey(s, rel)
					owner, sub = o, fmt.Sprintf("%s.[%d]", arr, elems[o+"/"+arr])
					elems[o+"/"+arr]++
					kl.keys[owner+"/"+sub] = line
				}
				latest[path] = [2]string{owner, sub}
			} else {
				// A sub-table of the latest element of an array ([inputs.tcp.config]) or a plain table.
				owner, sub = tableID(path, 0), ""
				if o, s, rel, ok := latestElement(latest, path); ok {
					owner, sub = o, joinKey(s, rel)
				}
				if _, seen := kl.headers[owner]; !seen && sub == "" {
					kl.headers[owner] = line
				}
				if sub != "" {
					kl.keys[owner+"/"+sub] = line
				}
			}
			continue
		}
		if depth == 0 {
			if eq := strings.Index(t, "="); eq > 0 {
				key := cleanKey(strings.TrimSpace(orig[:strings.Index(orig, "=")]))
				if sub != "" {
					key = sub + "." + key
				}
				kl.keys[owner+"/"+key] = line
			}
		}
		depth += strings.Count(text, "[") + strings.Count(text, "{") - strings.Count(text, "]") - strings.Count(text, "}")
		if depth < 0 {
			depth = 0
		}
	}
	for _, m := range []map[string]int{kl.headers, kl.keys} {
		for _, l := range m {
			kl.starts = append(kl.starts, l)
		}
	}
	sort.Ints(kl.starts)
	return kl
}

// latestElement finds the array of tables, among those seen, that path is
// inside (the longest prefix), and returns the owner and sub of its latest
// element with the rest of path.
func latestElement(latest map[string][2]string, path string) (owner, sub, rel string, ok bool) {
	for p := path; strings.Contains(p, "."); {
		p = p[:strings.LastIndex(p, ".")]
		if at, found := latest[p]; found {
			return at[0], at[1], strings.TrimPrefix(path, p+"."), true
		}
	}
	return "", "", "", false
}

func joinKey(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// fromEnv returns the ${VAR}s expanded in the value of key in table id: on
// the lines from the key's to the next key's or header's.
func (kl *keyLines) fromEnv(id string, key []string) []string {
	if len(kl.env) == 0 {
		return nil
	}
	from := kl.line(id, key)
	to := math.MaxInt
	if i := sort.SearchInts(kl.starts, from+1); i < len(kl.starts) {
		to = kl.starts[i]
	}
	var lines []int
	for l := range kl.env {
		if l >= from && l < to {
			lines = append(lines, l)
		}
	}
	sort.Ints(lines)
	var out []string
	for _, l := range lines {
		out = append(out, kl.env[l]...)
	}
	return out
}

// headerPath turns `[[ inputs."my tcp" ]]  # c` into `inputs.my tcp`.
func headerPath(h string) string {
	h = strings.TrimLeft(h, "[")
	if i := strings.Index(h, "]"); i >= 0 {
		h = h[:i]
	}
	return cleanKey(h)
}

// cleanKey normalises a dotted key: spaces around dots and quotes removed.
func cleanKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// line returns the line of key (dotted, relative to the table) in table id,
// falling back to its parent keys and then to the table's header.
func (kl *keyLines) line(id string, key []string) int {
	for n := len(key); n > 0; n-- {
		if l, ok := kl.keys[id+"/"+strings.Join(key[:n], ".")]; ok {
			return l
		}
	}
	return kl.headers[id]
}
