package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// allowedLicences are the licences a module compiled into the binary may
// have: permissive ones that Apache-2.0 (the project's, LICENSE) can carry.
var allowedLicences = map[string]bool{"Apache-2.0": true, "MIT": true, "BSD": true, "ISC": true}

// classifyLicence names a licence from its text; "" when it is none of those
// it knows. Copyleft and source-available licences are looked for first, so
// that a file that quotes several is not taken for a permissive one.
func classifyLicence(text string) string {
	t := strings.Join(strings.Fields(text), " ")
	for _, l := range []struct{ name, marker string }{
		{"AGPL", "GNU AFFERO GENERAL PUBLIC LICENSE"},
		{"LGPL", "GNU LESSER GENERAL PUBLIC LICENSE"},
		{"GPL", "GNU GENERAL PUBLIC LICENSE"},
		{"MPL", "Mozilla Public License"},
		{"BSL", "Business Source License"},
		{"SSPL", "Server Side Public License"},
		{"Apache-2.0", "Apache License Version 2.0"},
		{"Apache-2.0", "Apache License, Version 2.0"},
		{"MIT", "Permission is hereby granted, free of charge"},
		{"BSD", "Redistribution and use in source and binary forms"},
		{"ISC", "Permission to use, copy, modify, and/or distribute this software for any purpose"},
	} {
		if strings.Contains(t, l.marker) {
			return l.name
		}
	}
	return ""
}

var licenceFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying)(\.md|\.txt)?$`)
var noticeFile = regexp.MustCompile(`(?i)^notice(\.md|\.txt)?$`)

// TestLicences checks each module compiled into cmd/interoceptor: its
// licence is in allowedLicences, and when it ships a NOTICE file (Apache-2.0
// section 4(d)) the project's NOTICE names it.
func TestLicences(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module cache")
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}\t{{.Dir}}{{end}}", "./cmd/interoceptor")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	notice, err := os.ReadFile("../NOTICE")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, ok := strings.Cut(line, "\t")
		if !ok || seen[path] || path == "github.com/interoceptor/interoceptor" {
			continue
		}
		seen[path] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Errorf("%s: %v (go mod download first)", path, err)
			continue
		}
		licence, hasNotice := "", false
		for _, e := range entries {
			switch {
			case licenceFile.MatchString(e.Name()) && licence == "":
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				licence = classifyLicence(string(b))
				if licence == "" {
					licence = "unknown (" + e.Name() + ")"
				}
			case noticeFile.MatchString(e.Name()):
				hasNotice = true
			}
		}
		switch {
		case licence == "":
			t.Errorf("%s: no licence file", path)
		case !allowedLicences[licence]:
			t.Errorf("%s: licence %s is not one of the allowed (LICENSE is Apache-2.0)", path, licence)
		}
		if hasNotice && !bytes.Contains(notice, []byte("\n"+path+"\n")) {
			t.Errorf("%s ships a NOTICE file: NOTICE must reproduce it under a line naming the module", path)
		}
	}
	if len(seen) < 10 {
		t.Fatalf("go list named only %d modules: %q", len(seen), out)
	}
}

func TestClassifyLicence(t *testing.T) {
	for text, want := range map[string]string{
		"Mozilla Public License Version 2.0":                                     "MPL",
		"GNU LESSER GENERAL PUBLIC LICENSE\n Version 3":                          "LGPL",
		"Apache License\n   Version 2.0, January 2004":                           "Apache-2.0",
		"Permission is hereby granted, free of charge, to any person":            "MIT",
		"Redistribution and use in source and binary forms, with or without":     "BSD",
		"Some licence of its own":                                                "",
		"Apache License Version 2.0 ... GNU GENERAL PUBLIC LICENSE (a dual one)": "GPL",
	} {
		if got := classifyLicence(text); got != want {
			t.Errorf("classifyLicence(%q) = %q, want %q", text, got, want)
		}
	}
}
