package luatest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
)

// updateKeys are the headers -update writes. uuid, hostname and pid differ
// from run to run and machine to machine, and the sandbox sets logger to
// the plugin instance's name, which a case does not have.
var updateKeys = map[string]bool{"timestamp": true, "type": true, "severity": true, "payload": true, "fields": true}

// leadingComments returns the comment lines at the top of an expected file,
// which -update keeps; nothing when the file does not exist yet.
func leadingComments(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, configErrorf(path, 0, "%v", err)
	}
	var head []byte
	for line := range bytes.SplitAfterSeq(data, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) == 0 || t[0] != '#' {
			break
		}
		head = append(head, line...)
	}
	if len(head) > 0 && head[len(head)-1] != '\n' {
		head = append(head, '\n')
	}
	return head, nil
}

// writeExpected writes what the script did as an expected file.
func writeExpected(path string, head []byte, got []*event) error {
	buf := slices.Clone(head)
	for _, ev := range got {
		buf = append(buf, renderEvent(ev, nil)...)
		buf = append(buf, '\n')
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return configErrorf(path, 0, "%v", err)
	}
	return nil
}
