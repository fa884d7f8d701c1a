package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const unitPath = "systemd/interoceptor.service"

// unitFile is a systemd unit as sections of keys, each key with its values in
// order (ExecStartPre may repeat).
type unitFile map[string]map[string][]string

// parseUnit reads the subset of systemd's format the project's unit uses:
// [Section] headers, Key=Value lines, # and ; comments. A line that is none of
// these is an error, so a typo cannot hide.
func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unitFile) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// TestSystemdUnit checks the unit's promises: a dedicated user, data_dir in
// its StateDirectory, hardening, only CAP_NET_BIND_SERVICE, SIGHUP for
// reload, restart on failure.
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, unitPath)
	want := map[string]string{
		"User":                   "interoceptor",
		"Group":                  "interoceptor",
		"StateDirectory":         "interoceptor",
		"ConfigurationDirectory": "interoceptor",
		"WorkingDirectory":       "/var/lib/interoceptor",
		"Restart":                "on-failure",
		"ExecReload":             "/bin/kill -HUP $MAINPID",
		"NoNewPrivileges":        "yes",
		"ProtectSystem":          "strict",
		"ProtectHome":            "yes",
		"PrivateTmp":             "yes",
		"PrivateDevices":         "yes",
		"ProtectKernelTunables":  "yes",
		"ProtectKernelModules":   "yes",
		"ProtectControlGroups":   "yes",
		"RestrictSUIDSGID":       "yes",
		"SystemCallFilter":       "@system-service",
		"AmbientCapabilities":    "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet":  "CAP_NET_BIND_SERVICE",
	}
	for k, v := range want {
		if got := u.get("Service", k); got != v {
			t.Errorf("[Service] %s = %q, want %q", k, got, v)
		}
	}
	if got := u.get("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("[Install] WantedBy = %q", got)
	}
	for _, k := range []string{"DynamicUser", "PermissionsStartOnly"} {
		if _, ok := u["Service"][k]; ok {
			t.Errorf("[Service] %s is set: the unit runs as the sysusers.d user", k)
		}
	}

	// The config it runs is the default one the archive ships, whose
	// data_dir is the StateDirectory.
	var cfg struct {
		Agent struct {
			DataDir string `toml:"data_dir"`
		} `toml:"agent"`
	}
	if _, err := toml.DecodeFile("interoceptor.toml", &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.DataDir != "/var/lib/"+u.get("Service", "StateDirectory") {
		t.Errorf("interoceptor.toml data_dir = %q, not the unit's StateDirectory", cfg.Agent.DataDir)
	}
}

// TestSystemdUnitCommands runs the built binary on the unit's ExecStartPre and
// ExecStart command lines: each subcommand exists and accepts each flag, and
// check passes on the default config (for the config path, the one in
// packaging/). Then systemd's own tools verify the unit and the sysusers.d
// file, where they are installed.
func TestSystemdUnitCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	u := parseUnit(t, unitPath)
	bin := buildBinary(t)
	cmds := append(slices.Clone(u["Service"]["ExecStartPre"]), u["Service"]["ExecStart"]...)
	if len(cmds) != 2 {
		t.Fatalf("ExecStartPre and ExecStart: %q", cmds)
	}
	for _, line := range cmds {
		args := strings.Fields(line)
		if args[0] != "/usr/local/bin/interoceptor" {
			t.Errorf("%q: the binary is not /usr/local/bin/interoceptor (where the README installs it)", line)
			continue
		}
		accepted := commandFlags(t, bin, args[1])
		for i, a := range args[2:] {
			if !strings.HasPrefix(a, "-") {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !accepted[name] {
				t.Errorf("%q: interoceptor %s has no flag -%s (it has %v)", line, args[1], name, accepted)
			}
			if name == "config" && args[2+i+1] != "/etc/interoceptor/interoceptor.toml" {
				t.Errorf("%q: -config is not /etc/interoceptor/interoceptor.toml", line)
			}
		}
	}
	out, err := exec.Command(bin, "check", "-config", "interoceptor.toml").CombinedOutput()
	if err != nil {
		t.Errorf("interoceptor check -config packaging/interoceptor.toml: %v\n%s", err, out)
	}

	if analyze, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is not installed: the unit is checked by the parser above only")
	} else {
		// verify wants the binary to exist: point the unit at the built one.
		b, err := os.ReadFile(unitPath)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		unit := filepath.Join(dir, "interoceptor.service")
		if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/interoceptor", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		// An unknown key is only a warning (exit 0): any output fails.
		out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	if sysusers, err := exec.LookPath("systemd-sysusers"); err != nil {
		t.Log("systemd-sysusers is not installed: the sysusers.d file is not checked")
	} else {
		f, err := os.Open("systemd/interoceptor-sysusers.conf")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd := exec.Command(sysusers, "--root", t.TempDir(), "--dry-run", "-") // a path would be read under --root
		cmd.Stdin = f
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Creating user 'interoceptor'") {
			t.Errorf("systemd-sysusers --dry-run: %v\n%s", err, out)
		}
	}
}

// buildBinary builds cmd/interoceptor for this machine into a temporary
// folder.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "interoceptor")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/interoceptor")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var flagLine = regexp.MustCompile(`(?m)^\s+-([a-zA-Z0-9][a-zA-Z0-9._-]*)`)

// commandFlags returns the flags `interoceptor SUB -h` lists.
func commandFlags(t *testing.T, bin, sub string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(bin, sub, "-h").CombinedOutput() // -h exits 0 or 2 as flag does
	flags := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["config"] {
		t.Fatalf("interoceptor %s -h lists no -config flag:\n%s", sub, out)
	}
	return flags
}
