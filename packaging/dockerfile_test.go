package packaging

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// instruction is one Dockerfile instruction: its keyword in upper case and
// the rest of its line(s), continuation lines joined.
type instruction struct {
	line    int
	keyword string
	args    string
}

// parseDockerfile reads a Dockerfile's instructions: comments and blank lines
// dropped, lines ending in a backslash joined (no container runtime runs
// here to build it, so this is what checks it).
func parseDockerfile(t *testing.T, file string) []instruction {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		cont := strings.HasSuffix(line, `\`)
		cur.WriteString(strings.TrimSuffix(line, `\`))
		if cont {
			cur.WriteString(" ")
			continue
		}
		kw, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{start, strings.ToUpper(kw), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends in a continuation line", file)
	}
	return out
}

var knownInstructions = []string{"FROM", "ARG", "ENV", "RUN", "COPY", "ADD", "WORKDIR", "USER", "VOLUME",
	"EXPOSE", "ENTRYPOINT", "CMD", "LABEL", "HEALTHCHECK", "STOPSIGNAL", "SHELL", "ONBUILD"}

// TestDockerfile checks the image's promises: a Go builder stage on the
// go.mod Go version, a distroless (or scratch) final stage run as a non-root
// user, no remote ADD, COPY sources that exist, data_dir a volume, the admin
// port exposed, and a command the binary accepts on the config the image
// holds.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "../Dockerfile")
	args := map[string]string{}
	var froms []instruction
	var final []instruction // the last stage's instructions
	for _, in := range ins {
		if !slices.Contains(knownInstructions, in.keyword) {
			t.Errorf("Dockerfile:%d: unknown instruction %s", in.line, in.keyword)
		}
		switch in.keyword {
		case "FROM":
			froms = append(froms, in)
			final = nil
		case "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			if len(froms) == 0 {
				args[k] = v
			}
		case "ADD":
			if regexp.MustCompile(`(?i)(https?|git)://|git@`).MatchString(in.args) {
				t.Errorf("Dockerfile:%d: ADD of a URL (fetch nothing unpinned into the image)", in.line)
			}
		}
		if len(froms) > 0 && in.keyword != "FROM" {
			final = append(final, in)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a builder and a final one", len(froms))
	}

	goVersion := goModVersion(t)
	builder := strings.Fields(froms[0].args)
	if len(builder) != 3 || !strings.EqualFold(builder[1], "AS") ||
		!strings.HasPrefix(builder[0], "golang:${GO_VERSION}") || args["GO_VERSION"] != goVersion {
		t.Errorf("Dockerfile:%d: the builder is %q with GO_VERSION=%q; want golang:${GO_VERSION}... AS NAME with go.mod's %s",
			froms[0].line, froms[0].args, args["GO_VERSION"], goVersion)
	}
	last := froms[len(froms)-1].args
	if !strings.HasPrefix(last, "gcr.io/distroless/static") && last != "scratch" {
		t.Errorf("Dockerfile: the final stage is FROM %q, want distroless static or scratch", last)
	}

	var user, volume, expose string
	var entrypoint, cmd []string
	configCopied := ""
	for _, in := range final {
		switch in.keyword {
		case "USER":
			user = in.args
		case "VOLUME":
			volume = in.args
		case "EXPOSE":
			expose += " " + in.args
		case "ENTRYPOINT":
			entrypoint = execForm(t, in)
		case "CMD":
			cmd = execForm(t, in)
		case "RUN":
			t.Errorf("Dockerfile:%d: RUN in the final stage (distroless has no shell)", in.line)
		case "COPY":
			f := strings.Fields(in.args)
			if strings.HasSuffix(f[len(f)-1], "interoceptor.toml") {
				configCopied = f[len(f)-1]
			}
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("Dockerfile: the final stage runs as %q, want a non-root user (65532 is distroless's nonroot)", user)
	}
	if !strings.Contains(volume, "/var/lib/interoceptor") {
		t.Errorf("Dockerfile: VOLUME %q does not hold /var/lib/interoceptor", volume)
	}
	_, adminPort, _ := net.SplitHostPort(pipeline.DefaultAdminAddr)
	if !slices.Contains(strings.Fields(expose), adminPort) {
		t.Errorf("Dockerfile: EXPOSE%s lacks the admin port %s", expose, adminPort)
	}

	// Every COPY source is in the build context (the repository), or is
	// something the builder stage made.
	for _, in := range ins {
		if in.keyword != "COPY" {
			continue
		}
		f := strings.Fields(in.args)
		from := ""
		var srcs []string
		for _, a := range f[:len(f)-1] {
			switch {
			case strings.HasPrefix(a, "--from="):
				from = strings.TrimPrefix(a, "--from=")
			case strings.HasPrefix(a, "--"):
			default:
				srcs = append(srcs, a)
			}
		}
		for _, src := range srcs {
			if from != "" {
				rel, ok := strings.CutPrefix(src, "/src/")
				if !ok || strings.HasPrefix(rel, "bin/") {
					continue // built in the builder stage
				}
				src = rel
			}
			if _, err := os.Stat(path.Join("..", src)); err != nil {
				t.Errorf("Dockerfile:%d: COPY source %s: %v", in.line, src, err)
			}
		}
	}

	if len(entrypoint) != 1 || entrypoint[0] != "/usr/local/bin/interoceptor" || len(cmd) < 3 || cmd[0] != "run" {
		t.Fatalf("Dockerfile: ENTRYPOINT %q CMD %q, want the binary and run -config ...", entrypoint, cmd)
	}
	if i := slices.Index(cmd, "-config"); i < 0 || i+1 >= len(cmd) || cmd[i+1] != configCopied {
		t.Errorf("Dockerfile: CMD %q does not run the config copied to %q", cmd, configCopied)
	}
	if testing.Short() {
		return
	}
	accepted := commandFlags(t, buildBinary(t), cmd[0])
	for _, a := range cmd[1:] {
		if strings.HasPrefix(a, "-") && !accepted[strings.TrimLeft(a, "-")] {
			t.Errorf("Dockerfile: CMD %q: interoceptor run has no flag %s", cmd, a)
		}
	}
}

// execForm decodes an instruction's JSON array form (a shell form would need
// a shell, which distroless lacks).
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Errorf("Dockerfile:%d: %s is not in exec form (a JSON array): %v", in.line, in.keyword, err)
	}
	return v
}

// goModVersion is go.mod's go line.
func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}
