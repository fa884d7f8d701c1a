package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// A plugin's name names files under data_dir (a tail checkpoint, a Lua
// filter's preserved data, an output's disk buffer), so it must be a plain
// file name: letters, digits, '_', '-' and '.', starting with a letter or a
// digit, no "..", at most 128 bytes.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// checkName returns what is wrong with a plugin name, or "".
func checkName(name string) string {
	if namePattern.MatchString(name) && !strings.Contains(name, "..") {
		return ""
	}
	return fmt.Sprintf("%q is not a valid name: use letters, digits, '_', '-' and '.', starting with a letter or digit, without \"..\", at most 128 characters (it names files under data_dir)", name)
}

// SafeFileName returns name as one file name that stays in its directory:
// a valid plugin name unchanged, anything else with every byte other than
// [A-Za-z0-9_.-], and a leading '.', written as %XX. Config loading already
// refuses other names; this is the second line, for callers that bypass it.
// Distinct names give distinct file names.
func SafeFileName(name string) string {
	if checkName(name) == "" {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		plain := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0
		if plain {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() == 0 {
		return "%" // the empty name: a file name no other name gives
	}
	return b.String()
}

// DataPath is where the plugin keeps a file of its own under data_dir:
// data_dir/dir/<name><suffix>, the name made safe by SafeFileName, so that
// no name can reach outside dir.
func (e *Env) DataPath(dir, suffix string) string {
	return filepath.Join(e.Agent.DataDir, dir, SafeFileName(e.Name)+suffix)
}

// WriteFileAtomic replaces path with data, crash-safely: data is written to
// a temporary file beside it and synced, renamed over path, and the
// directory synced, so that after a crash path holds either the old
// content or the new, whole. The directory is made if needed.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
