# Interoceptor. `make run` runs the demo pipeline; `make test` runs everything.
GO          ?= go
BIN         := bin/interoceptor
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# What `interoceptor version` prints; `make dist` builds with the same.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
DATE        ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

# Packages with concurrency run under the race detector; e2e drives the built
# binary (and external nats-server processes), so it runs without it, as do
# packaging's checks of the install files (no concurrency of ours there).
RACE_PKGS := ./pipeline/... ./inputs/... ./filters/... ./outputs/... ./decoders/... ./sandbox/... ./internal/... ./configs/... ./cmd/... ./scripts/...

GOBIN_DIR   := $(shell $(GO) env GOPATH | cut -d: -f1)/bin
INFLUXD     := $(GOBIN_DIR)/influxd
MAILPIT_VERSION      := v1.33.1
ALERTMANAGER_VERSION := v0.27.0

.PHONY: all build run test unit e2e lint fuzz bench pgo eval clean influxd mailpit alertmanager tools dist

all: build

build:
	@[ -e $(BIN) ] || echo "building $(BIN) (the first build downloads and compiles the modules: a minute or two)"
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/interoceptor

# Release archives: static linux/amd64 and linux/arm64 binaries with the
# licence, docs, default config and systemd files, and SHA256SUMS, in dist/.
DIST_DIR    ?= dist
DIST_ARCHES ?= amd64 arm64

dist:
	GO='$(GO)' VERSION='$(VERSION)' LDFLAGS='$(LDFLAGS)' DIST_DIR='$(DIST_DIR)' DIST_ARCHES='$(DIST_ARCHES)' ./scripts/dist.sh

# The demo pipeline, writing to a local InfluxDB 1.8 (installed and started
# under ./var/influxdb when none answers on INFLUX_URL); see scripts/demo.sh.
run: build
	./scripts/demo.sh

test: lint tools unit e2e

# The real services the tests talk to, installed once here.
tools: influxd mailpit alertmanager

# InfluxDB 1.8 for the tests that need a real one (1.8 serves the v2 write
# API; Debian's 1.6 does not). Installed once here, not by each test binary.
influxd:
	@$(GO) version -m $(INFLUXD) 2>/dev/null | grep -q 'github.com/influxdata/influxdb[[:space:]]*v1\.8\.' || \
	  { echo "installing influxd v1.8.10 (go install, about a minute)"; GOFLAGS= $(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10; }

# mailpit receives the alert mails of the tests and of `make run` (SMTP, and
# an API to read them back).
mailpit:
	@$(GO) version -m $(GOBIN_DIR)/mailpit 2>/dev/null | grep -q 'github.com/axllent/mailpit[[:space:]]*$(MAILPIT_VERSION)' || \
	  { echo "installing mailpit $(MAILPIT_VERSION) (go install, about a minute)"; GOFLAGS= $(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION); }

# Alertmanager for outputs.alertmanager's tests (newer tags do not build from
# the module).
alertmanager:
	@$(GO) version -m $(GOBIN_DIR)/alertmanager 2>/dev/null | grep -q 'github.com/prometheus/alertmanager[[:space:]]*$(ALERTMANAGER_VERSION)' || \
	  { echo "installing alertmanager $(ALERTMANAGER_VERSION) (go install, about a minute)"; GOFLAGS= $(GO) install github.com/prometheus/alertmanager/cmd/alertmanager@$(ALERTMANAGER_VERSION); }

# -pgo=off: the tests need no profile-guided build of cmd/interoceptor (see
# pgo), and without it the race build of its test shares the other
# packages' compiled code.
unit:
	$(GO) test -race -pgo=off -count=1 $(RACE_PKGS)
	$(GO) test -count=1 ./packaging/...

e2e: build
	./$(BIN) test plugins
	$(GO) test -count=1 -timeout 15m ./e2e/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@echo "go vet and staticcheck (the first run compiles every package: a minute or two)"
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Runs every fuzz target briefly (the committed seeds always run in `make test`).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$pkg || exit 1; \
	  done; \
	done

bench: build
	$(GO) run ./bench/cmd/benchrun -out bench/RESULTS.md -cpuprofile bench/work/profiles

# Regenerates cmd/interoceptor/default.pgo, the CPU profile that `go build`
# optimizes the binary with (profile-guided optimization: hot calls inlined,
# hot interface calls made direct): a profiled run of each throughput
# scenario, merged so that each weighs alike. Run it after changing a hot
# path, and compare `make bench` before and after.
PGO_SCENARIOS := tcp-raw,tcp-influx,stdin-raw,tail,tail-durable,tcp-durable,lua,lua-raw,lua-metric,lua-metric-table,lua-decoder,tcp-influxdb

pgo: build influxd
	rm -rf bench/work/pgo
	$(GO) run ./bench/cmd/benchrun -skip-go -runs 1 -lines 3000000 -only $(PGO_SCENARIOS) -cpuprofile bench/work/pgo -out bench/work/pgo/report.md
	$(GO) run ./bench/cmd/pgomerge -o cmd/interoceptor/default.pgo bench/work/pgo/*.pprof

# Scores a detector on the labelled series of ../shared/data (NAB and TCPD,
# the dev splits): NAB result files under var/eval, the table on stdout.
# EVAL_CONFIG=plugins/filters/change_detect.toml scores another detector.
EVAL_DATA   ?= ../shared/data
EVAL_CONFIG ?= plugins/filters/anomaly.toml

eval: build
	@if [ ! -d "$(EVAL_DATA)" ]; then echo "make eval: $(EVAL_DATA) is absent, so there are no labelled series to score: nothing done"; exit 0; fi; \
	  ./$(BIN) eval -nab $(EVAL_DATA)/nab-dev -tcpd $(EVAL_DATA)/tcpd-dev -out var/eval -config $(EVAL_CONFIG)

clean:
	rm -rf bin bench/work dist
