package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDist runs `make dist` for linux/arm64 only (cross-building both
// architectures would double the time; amd64 goes through the same script)
// into a temporary folder: the archive holds what the README says, its
// binary is a static aarch64 ELF, and SHA256SUMS matches the archive.
func TestDist(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds the binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	dir := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "dist", "DIST_DIR="+dir, "DIST_ARCHES=arm64", "VERSION=v1.2.3-test")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	const name = "interoceptor_1.2.3-test_linux_arm64"
	archive := filepath.Join(dir, name+".tar.gz")
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}

	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]) + "  " + name + ".tar.gz\n"; string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}

	files := untar(t, data)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"CHANGELOG.md", "LICENSE", "NOTICE", "README.md", "interoceptor", "interoceptor.toml",
		"systemd/interoceptor-sysusers.conf", "systemd/interoceptor.service"}
	for i := range want {
		want[i] = name + "/" + want[i]
	}
	if !slices.Equal(names, want) {
		t.Errorf("archive holds %q, want %q", names, want)
	}
	for _, f := range []string{"LICENSE", "interoceptor.toml", "systemd/interoceptor.service"} {
		src := map[string]string{"LICENSE": "../LICENSE"}[f]
		if src == "" {
			src = f
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(files[name+"/"+f], b) {
			t.Errorf("%s in the archive is not %s", f, src)
		}
	}
	checkStaticELF(t, files[name+"/interoceptor"], elf.EM_AARCH64)
}

// untar returns the regular files of a .tar.gz by name.
func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bufio.NewReader(zr))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: owner %d:%d, want 0:0", h.Name, h.Uid, h.Gid)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(h.Name, "/interoceptor") && h.Mode&0o111 == 0 {
			t.Errorf("%s is not executable (mode %o)", h.Name, h.Mode)
		}
		files[h.Name] = b
	}
}

// checkStaticELF fails unless b is a Linux executable for machine that needs
// no dynamic loader.
func checkStaticELF(t *testing.T, b []byte, machine elf.Machine) {
	t.Helper()
	for _, p := range staticELFProblems(b, machine) {
		t.Error("binary: " + p)
	}
}

// staticELFProblems says what keeps b from being a static Linux executable
// for machine: another machine, a PT_INTERP or PT_DYNAMIC program header, a
// .interp or .dynamic section, imported libraries.
func staticELFProblems(b []byte, machine elf.Machine) []string {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return []string{"not ELF: " + err.Error()}
	}
	defer f.Close()
	var problems []string
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		problems = append(problems, fmt.Sprintf("machine %v, type %v; want %v, ET_EXEC", f.Machine, f.Type, machine))
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			problems = append(problems, fmt.Sprintf("a %v program header: not static", p.Type))
		}
	}
	for _, name := range []string{".interp", ".dynamic"} {
		if f.Section(name) != nil {
			problems = append(problems, "a "+name+" section: not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		problems = append(problems, fmt.Sprintf("imports %q", libs))
	}
	return problems
}

// TestStaticELFProblems makes sure the check can fail: /bin/sh is a dynamic
// executable on every distribution this runs on.
func TestStaticELFProblems(t *testing.T) {
	b, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Skip(err)
	}
	got := strings.Join(staticELFProblems(b, elf.EM_AARCH64), "; ")
	if !strings.Contains(got, "PT_INTERP") {
		t.Errorf("/bin/sh: problems %q, want a PT_INTERP one", got)
	}
}
