package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// goBenchPackages are the packages whose benchmarks go into the report.
var goBenchPackages = []string{"./pipeline/", "./pipeline/wire/", "./pipeline/matcher/", "./decoders/...", "./sandbox/modules/anomaly/", "./filters/alert/"}

// The sandbox's benchmarks the Lua issue asks for: an idle sandbox's heap, and
// the cost of process_message in a filter of the usual shape.
var sandboxBenchArgs = []string{"test", "-run", "^$", "-bench", "IdleSandbox|ProcessMessage", "-benchmem", "./sandbox/"}

// goBench is one `go test -bench` run and what was read from its output.
type goBench struct {
	args    []string
	raw     string
	results []benchResult
	elapsed time.Duration
	err     error
}

// benchResult is one Benchmark line of `go test -bench` output.
type benchResult struct {
	pkg     string // import path
	name    string // without the "Benchmark" prefix and the -GOMAXPROCS suffix
	procs   int    // GOMAXPROCS the benchmark ran with
	iters   int64
	metrics map[string]float64 // unit → value: "ns/op", "B/op", "allocs/op", "MB/s", ...
	units   []string           // in the order they were printed
}

func runGoBenchmarks() goBench {
	return runGoTest(append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1"}, goBenchPackages...))
}

// runGoTest runs `go ARGS...` from the module's root and reads the benchmark
// lines of its output.
func runGoTest(args []string) goBench {
	g := goBench{args: args}
	progress("go %s", shellJoin(g.args))
	cmd := exec.Command("go", g.args...)
	if mod := command("go", "env", "GOMOD"); mod != "?" && mod != "" && mod != "/dev/null" {
		cmd.Dir = filepath.Dir(mod)
	}
	began := time.Now()
	out, err := cmd.CombinedOutput()
	g.elapsed = time.Since(began)
	g.raw = string(out)
	g.err = err
	g.results = parseBenchOutput(g.raw)
	progress("go test: %d benchmarks in %s", len(g.results), g.elapsed.Round(time.Second))
	if err == nil && len(g.results) == 0 {
		g.err = fmt.Errorf("no benchmark lines in the output of go %s", strings.Join(g.args, " "))
	}
	return g
}

var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// parseBenchOutput reads the Benchmark lines of `go test -bench` output, in
// the standard format: name, iterations, then value/unit pairs.
func parseBenchOutput(out string) []benchResult {
	var results []benchResult
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		r := benchResult{pkg: pkg, name: strings.TrimPrefix(f[0], "Benchmark"), iters: iters, metrics: map[string]float64{}}
		if m := procsSuffix.FindStringSubmatch(r.name); m != nil {
			r.procs, _ = strconv.Atoi(m[1])
			r.name = strings.TrimSuffix(r.name, m[0])
		}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			r.metrics[f[i+1]] = v
			r.units = append(r.units, f[i+1])
		}
		if ok {
			results = append(results, r)
		}
	}
	return results
}

// shortPkg turns an import path into the directory it was run as.
func shortPkg(pkg string) string {
	const mod = "github.com/interoceptor/interoceptor/"
	return strings.TrimPrefix(pkg, mod)
}
