package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// reloadConfig is version v of the pipeline the reload test edits:
//
//   - inputs.tcp[main] and outputs.file[all] never change;
//   - filters.lua[tag] gets a new config.label each time (it takes it in
//     place, keeping its count with preserve_data), and every seventh
//     version a matcher (a new runner, with the same script state);
//   - outputs.file[churn] writes to one of three files (replaced each time);
//   - outputs.file[extra] is there every fourth version (added, removed);
//   - inputs.tcp[side] is there every other version, on one of two ports
//     (added, moved to another address, removed).
func reloadConfig(dir string, v, mainPort, sideA, sideB int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[agent]
data_dir = %q
admin_addr = "127.0.0.1:0"

[[inputs.tcp]]
name = "main"
publish = "raw"
address = "127.0.0.1:%d"

[[filters.lua]]
name = "tag"
subscribe = ["raw"]
publish = "tagged"
script = %q
preserve_data = true
watch = false
`, filepath.Join(dir, "var"), mainPort, filepath.Join(dir, "tag.lua"))
	if v%7 == 0 {
		b.WriteString("matcher = \"Type == 'log'\"\n")
	}
	fmt.Fprintf(&b, `  [filters.lua.config]
  label = "v%d"

[[outputs.file]]
name = "all"
subscribe = ["tagged"]
path = %q

[[outputs.file]]
name = "churn"
subscribe = ["tagged"]
path = %q
`, v, filepath.Join(dir, "all.txt"), filepath.Join(dir, fmt.Sprintf("churn-%d.txt", v%3)))
	if v%4 == 0 {
		fmt.Fprintf(&b, "\n[[outputs.file]]\nname = \"extra\"\nsubscribe = [\"tagged\"]\npath = %q\n",
			filepath.Join(dir, fmt.Sprintf("extra-%d.txt", v)))
	}
	if v%2 == 0 {
		port := sideA
		if v%4 == 2 {
			port = sideB
		}
		fmt.Fprintf(&b, "\n[[inputs.tcp]]\nname = \"side\"\npublish = \"side\"\naddress = \"127.0.0.1:%d\"\n", port)
	}
	return b.String()
}

// The whole config is reloaded 100 times while 50,000 lines/s flow from one
// tcp connection through a Lua filter to files, with plugins added, removed,
// changed and unchanged: every line reaches the outputs that were there
// throughout exactly once, the client's connection to the unchanged input
// is never closed, and the Lua filter's count goes on across every change.
func TestWholeConfigReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "tag.lua"), `seen = 0
function process_message()
  seen = seen + 1
  inject_message({Type = "tagged", Payload = read_message("Payload") .. " " .. seen .. " " .. read_config("label")})
  return 0
end
`)
	mainPort, sideA, sideB := freePort(t), freePort(t), freePort(t)
	path := filepath.Join(dir, "p.toml")
	writeFile(t, path, reloadConfig(dir, 1, mainPort, sideA, sideB))
	p := start(t, exec.Command(binary, "run", "-config", path, "-log-format", "json"))
	p.waitRunning(t)
	recs := logRecords(p.stderr.String(), "admin API listening")
	if len(recs) == 0 {
		t.Fatal("no \"admin API listening\" record")
	}
	admin := strings.TrimSuffix(strings.TrimPrefix(recs[0]["url"].(string), "http://"), "/")

	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", mainPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := startLineSender(conn, 50000)

	post := func() (int, []byte) {
		resp, err := http.Post("http://"+admin+"/api/reload", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	reloadsLogged := func() int { return strings.Count(p.stderr.String(), `"msg":"config reloaded"`) }
	const reloads = 100
	for v := 2; v <= reloads+1; v++ {
		if err := s.failed(); err != nil {
			t.Fatalf("before reload %d: the sender's connection to the unchanged input failed: %v", v-1, err)
		}
		if v%25 == 0 {
			// A broken config and a [nats] change are refused; the
			// pipeline goes on as it was.
			writeFile(t, path, reloadConfig(dir, v-1, mainPort, sideA, sideB)+"\n[[outputs.file]]\nname = \"all\"\nsubscribe = [\"tagged\"]\npath = \"x\"\n")
			cmd := exec.Command(binary, "reload", "-admin", admin)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "422") ||
				!regexp.MustCompile(`p\.toml:\d+: outputs\.file\[all\]: key "name": duplicate name`).Match(out) || !strings.Contains(string(out), "the running pipeline goes on unchanged") {
				t.Fatalf("interoceptor reload of a config naming an output twice: exit %d\n%s\nwant exit 1 with the file, line and plugin", code, out)
			}
			writeFile(t, path, strings.Replace(reloadConfig(dir, v-1, mainPort, sideA, sideB), "[agent]", "[nats]\nbatch_bytes = 1000\n[agent]", 1))
			if code, body := post(); code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "nats.batch_bytes changed: only a restart applies") {
				t.Fatalf("reload of a [nats] change: %d %s; want 422 naming the key", code, body)
			}
		}
		// Lines flow between any two reloads: at least a thousand more sent.
		before := s.count()
		pipelinetest.WaitUntil(t, 30*time.Second, "1,000 more lines sent", func() error {
			if n := s.count() - before; n < 1000 {
				return fmt.Errorf("%d more lines sent", n)
			}
			return nil
		})
		writeFile(t, path, reloadConfig(dir, v, mainPort, sideA, sideB))
		if v%10 == 0 {
			before := reloadsLogged()
			p.signal(t, syscall.SIGHUP)
			pipelinetest.WaitUntil(t, 30*time.Second, "the reload on SIGHUP", func() error {
				if n := reloadsLogged(); n <= before {
					return fmt.Errorf("%d reloads logged, as before the signal", n)
				}
				return nil
			})
		} else {
			code, body := post()
			var results []struct{ Plugin, Action, Error string }
			if err := json.Unmarshal(body, &results); code != http.StatusOK || err != nil {
				t.Fatalf("reload %d: %d %s", v-1, code, body)
			}
			actions := map[string]string{}
			for _, r := range results {
				actions[r.Plugin] = r.Action
			}
			want := map[string]string{"inputs.tcp[main]": "unchanged", "outputs.file[all]": "unchanged",
				"outputs.file[churn]": "replaced", "filters.lua[tag]": "reconfigured"}
			if v%7 == 0 || v%7 == 1 {
				want["filters.lua[tag]"] = "replaced" // its matcher came or went
			}
			for plugin, action := range want {
				if actions[plugin] != action {
					t.Fatalf("reload %d: %s was %q, want %q: %s", v-1, plugin, actions[plugin], action, body)
				}
			}
		}
		// The side input is bound exactly when the config has it.
		sideUp := func(port int) bool {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}
		switch {
		case v%4 == 0 && (!sideUp(sideA) || sideUp(sideB)):
			t.Fatalf("version %d: side input should listen on %d only", v, sideA)
		case v%4 == 2 && (sideUp(sideA) || !sideUp(sideB)):
			t.Fatalf("version %d: side input should listen on %d only", v, sideB)
		case v%2 == 1 && (sideUp(sideA) || sideUp(sideB)):
			t.Fatalf("version %d: side input should be gone", v)
		}
	}
	sent := s.stop()
	if err := s.failed(); err != nil {
		t.Fatalf("the sender's connection to the unchanged input failed: %v", err)
	}
	t.Logf("%d reloads, %d lines sent (%.0f lines/s)", reloads, sent, s.rate())

	all := filepath.Join(dir, "all.txt")
	pipelinetest.WaitUntil(t, 2*time.Minute, fmt.Sprintf("%d lines in all.txt", sent), hasLines(t, all, sent))
	maxN := checkExactlyOnce(t, sent, all)
	if maxN != sent {
		t.Errorf("the Lua filter counted %d messages at the end, want %d: its state was not carried across every reload", maxN, sent)
	}
	churn := []string{filepath.Join(dir, "churn-0.txt"), filepath.Join(dir, "churn-1.txt"), filepath.Join(dir, "churn-2.txt")}
	pipelinetest.WaitUntil(t, time.Minute, "the churn files", func() error {
		n := 0
		for _, f := range churn {
			n += countLines(t, f)
		}
		if n < sent {
			return fmt.Errorf("%d of %d lines", n, sent)
		}
		return nil
	})
	checkExactlyOnce(t, sent, churn...)

	// The connection to the unchanged input is still open: a read waits
	// (times out) rather than seeing the server close it.
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read on the client's connection: %v, want a timeout (the connection open)", err)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d", code)
	}
	c := stoppedCounters(t, p.stderr.String(), "outputs.file[all]")
	if c["dropped"] != 0 || c["errors"] != 0 || c["duplicates"] != 0 {
		t.Errorf("outputs.file[all] stopped with %v", c)
	}
}

// checkExactlyOnce reads the files the outputs wrote ("line N xxx… count
// label") and checks that each of the sent sequence numbers is there once;
// it returns the highest count the Lua filter wrote.
func checkExactlyOnce(t *testing.T, sent int, files ...string) int {
	t.Helper()
	seen := make([]uint8, sent)
	maxN, extra := 0, 0
	for _, f := range files {
		fh, err := os.Open(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) != 5 || fields[0] != "line" {
				t.Fatalf("%s: unexpected line %q", f, sc.Text())
			}
			seq, err1 := strconv.Atoi(fields[1])
			n, err2 := strconv.Atoi(fields[3])
			if err1 != nil || err2 != nil || seq >= sent {
				extra++
				continue
			}
			seen[seq]++
			maxN = max(maxN, n)
		}
		fh.Close()
	}
	var lost, twice []int
	for seq, c := range seen {
		switch {
		case c == 0:
			lost = append(lost, seq)
		case c > 1:
			twice = append(twice, seq)
		}
	}
	if len(lost) > 0 || len(twice) > 0 || extra > 0 {
		t.Fatalf("%s: of %d lines, %d lost (first %v), %d written twice (first %v), %d unknown",
			strings.Join(files, ", "), sent, len(lost), head(lost), len(twice), head(twice), extra)
	}
	return maxN
}

func head(s []int) []int { return s[:min(len(s), 5)] }

// lineSender writes seqLine(0), seqLine(1)… to a connection at a steady
// rate until stopped.
type lineSender struct {
	mu      sync.Mutex
	err     error
	sent    int
	began   time.Time
	elapsed time.Duration
	quit    chan struct{}
	done    chan struct{}
}

func startLineSender(conn net.Conn, perSecond int) *lineSender {
	s := &lineSender{quit: make(chan struct{}), done: make(chan struct{}), began: time.Now()}
	go func() {
		defer close(s.done)
		w := bufio.NewWriterSize(conn, 256<<10)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.quit:
				s.mu.Lock()
				s.err = w.Flush()
				s.elapsed = time.Since(s.began)
				s.mu.Unlock()
				return
			case <-tick.C:
			}
			// Catch up to the rate since the start: a late tick sends more.
			want := int(time.Since(s.began).Seconds() * float64(perSecond))
			s.mu.Lock()
			n := s.sent
			s.mu.Unlock()
			for ; n < want; n++ {
				if _, err := w.WriteString(seqLine(n) + "\n"); err != nil {
					s.mu.Lock()
					s.err = err
					s.mu.Unlock()
					return
				}
			}
			err := w.Flush()
			s.mu.Lock()
			s.sent, s.err = n, err
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

// count returns how many lines have been written so far.
func (s *lineSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

func (s *lineSender) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// stop stops sending and returns how many lines were written.
func (s *lineSender) stop() int {
	close(s.quit)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

func (s *lineSender) rate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return float64(s.sent) / s.elapsed.Seconds()
}

// With agent.watch_config a config directory is reloaded when one of its
// files is added, changed or removed; a file that breaks the config is
// reported (file and line) and the pipeline goes on as it was.
func TestWatchConfigReloadsADirectory(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	writeFile(t, filepath.Join(conf, "10-agent.toml"), fmt.Sprintf(`[agent]
data_dir = %q
admin_addr = "off"
watch_config = true

[[inputs.tcp]]
name = "in"
publish = "raw"
address = "127.0.0.1:%d"
`, filepath.Join(dir, "var"), port))
	first, second := filepath.Join(dir, "first.txt"), filepath.Join(dir, "second.txt")
	writeFile(t, filepath.Join(conf, "20-first.toml"), fmt.Sprintf("[[outputs.file]]\nname = \"first\"\nsubscribe = [\"raw\"]\npath = %q\n", first))
	p := start(t, exec.Command(binary, "run", "-config", conf, "-log-format", "json"))
	p.waitRunning(t)
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sent := 0
	send := func() {
		t.Helper()
		if _, err := fmt.Fprintf(conn, "%s\n", seqLine(sent)); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	send()
	pipelinetest.WaitUntil(t, 10*time.Second, "the first line in first.txt", hasExactLines(t, first, 1))

	// A new file: its output starts.
	writeFile(t, filepath.Join(conf, "30-second.toml"), fmt.Sprintf("[[outputs.file]]\nname = \"second\"\nsubscribe = [\"raw\"]\npath = %q\n", second))
	pipelinetest.WaitUntil(t, 30*time.Second, "the reload that adds outputs.file[second]",
		p.logHas(`"msg":"reload: added","plugin":"outputs.file[second]"`))
	send()
	pipelinetest.WaitUntil(t, 10*time.Second, "the second line in both files", func() error {
		if err := hasExactLines(t, first, 2)(); err != nil {
			return err
		}
		return hasExactLines(t, second, 1)()
	})

	// A broken file: refused, reported with its line; nothing changes.
	writeFile(t, filepath.Join(conf, "30-second.toml"), "[[outputs.file]]\nname = \"second\"\nsubscribe = [\"raw\"]\npath = 42\n")
	pipelinetest.WaitUntil(t, 30*time.Second, "the refused reload", p.logHas(`"msg":"reload refused"`, `30-second.toml:4`))
	send()
	pipelinetest.WaitUntil(t, 10*time.Second, "the third line in both files", func() error {
		if err := hasExactLines(t, first, 3)(); err != nil {
			return err
		}
		return hasExactLines(t, second, 2)()
	})

	// The file removed: its output drains and stops.
	if err := os.Remove(filepath.Join(conf, "30-second.toml")); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 30*time.Second, "the reload that removes outputs.file[second]",
		p.logHas(`"msg":"reload: removed","plugin":"outputs.file[second]"`))
	send()
	pipelinetest.WaitUntil(t, 10*time.Second, "the fourth line in first.txt only", hasExactLines(t, first, 4))
	if n := countLines(t, second); n != 2 {
		t.Errorf("second.txt has %d lines after its output was removed, want 2", n)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
