#!/usr/bin/env bash
# make run: the demo pipeline (configs/demo.toml) writing into a local
# InfluxDB 1.8 whose data lives under ./var/influxdb. An InfluxDB already
# answering on INFLUX_URL is reused; otherwise one is installed if needed
# (go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10) and started,
# and stopped again when the demo ends (Ctrl-C). The same goes for mailpit
# (go install github.com/axllent/mailpit@v1.33.1), which receives the demo's
# alert mails on SMTP_ADDR and shows them on MAILPIT_UI.
#
# Every port it uses is checked first; a taken one is named with the
# variable that moves it. Once the pipeline runs, the banner asks its admin
# API (/api/listeners) where it listens, so that it shows what is bound.
#
#   scripts/demo.sh                 the demo
#   scripts/demo.sh --check-ports   only the port check (exit 1 when one is taken)
#   scripts/demo.sh --banner        only the banner, of a demo pipeline already running
#
# The variables (defaults in brackets) are listed in the README's first
# section.
set -euo pipefail
cd "$(dirname "$0")/.."

export INFLUX_PORT="${INFLUX_PORT:-8086}"
export INFLUX_URL="${INFLUX_URL:-http://127.0.0.1:${INFLUX_PORT}}"
export INFLUX_DB="${INFLUX_DB:-interoceptor}"
export DEMO_ADMIN_ADDR="${DEMO_ADMIN_ADDR:-127.0.0.1:8377}"
export DEMO_NATS_LISTEN="${DEMO_NATS_LISTEN:-127.0.0.1:4222}"
export SMTP_ADDR="${SMTP_ADDR:-127.0.0.1:1025}"
export MAILPIT_UI="${MAILPIT_UI:-127.0.0.1:8025}"
export ALERT_MAIL_TO="${ALERT_MAIL_TO:-ops@example.com}"
data="$PWD/var/influxdb"
gobin="$(go env GOPATH | cut -d: -f1)/bin"
bin="$gobin/influxd"
mailpit_bin="$gobin/mailpit"
started=""
mail_started=""
banner_pid=""

ping() { curl -fsS -m 2 -o /dev/null "$INFLUX_URL/ping" 2>/dev/null; }
mailpit_up() { curl -fsS -m 2 -o /dev/null "http://$MAILPIT_UI/api/v1/info" 2>/dev/null; }
# mailpit is started unless the alert mails go elsewhere (SMTP_ADDR set).
want_mailpit() { [ "$SMTP_ADDR" = "127.0.0.1:1025" ] || [ -n "${DEMO_MAILPIT:-}" ]; }

# The host and port of HOST:PORT ([::1]:4222 included); a host that means
# every address is reached on 127.0.0.1.
port_of() { echo "${1##*:}"; }
host_of() {
  local h="${1%:*}"
  h="${h#[}"; h="${h%]}"
  case "$h" in ""|0.0.0.0|::) h=127.0.0.1 ;; esac
  echo "$h"
}

# taken HOST PORT: something accepts connections there.
taken() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# owner PORT: " (by pid N, name)" of the process listening on PORT, when
# ss or lsof can tell.
owner() {
  local pid=""
  if command -v ss >/dev/null; then
    pid=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
  fi
  if [ -z "$pid" ] && command -v lsof >/dev/null; then
    pid=$(lsof -t -iTCP:"$1" -sTCP:LISTEN 2>/dev/null | head -1 || true)
  fi
  [ -n "$pid" ] || return 0
  local name
  name=$(ps -o comm= -p "$pid" 2>/dev/null || true)
  echo " (by pid $pid${name:+, $name})"
}

# free_after HOST PORT: the first port after PORT that nothing holds.
free_after() {
  local p=$(( $2 + 1 ))
  while [ "$p" -lt $(( $2 + 100 )) ] && taken "$1" "$p"; do p=$(( p + 1 )); done
  echo "$p"
}

# free_influx_after PORT: the first port after PORT that is free with the
# one two above it (InfluxDB's RPC).
free_influx_after() {
  local p=$(( $1 + 1 ))
  while [ "$p" -lt $(( $1 + 100 )) ] && { taken 127.0.0.1 "$p" || taken 127.0.0.1 $(( p + 2 )); }; do p=$(( p + 1 )); done
  echo "$p"
}

problems=0
# check_addr VAR HOST:PORT WHAT: complain when the port is taken, naming the
# variable that moves it.
check_addr() {
  local var=$1 addr=$2 what=$3 host port
  host=$(host_of "$addr"); port=$(port_of "$addr")
  [ "$port" != 0 ] && taken "$host" "$port" || return 0
  echo "demo: port $port ($what) is taken$(owner "$port"); set $var=${addr%:*}:$(free_after "$host" "$port") to use another" >&2
  problems=$(( problems + 1 ))
}

# check_ports: every port the demo would bind, before anything starts.
check_ports() {
  problems=0
  if [ "$DEMO_ADMIN_ADDR" != off ]; then
    if [ "$(port_of "$DEMO_ADMIN_ADDR")" = 0 ]; then
      echo "demo: DEMO_ADMIN_ADDR=$DEMO_ADMIN_ADDR: give it a port other than 0 (the banner asks the admin API where everything is)" >&2
      problems=$(( problems + 1 ))
    fi
    check_addr DEMO_ADMIN_ADDR "$DEMO_ADMIN_ADDR" "the admin API"
  fi
  check_addr DEMO_NATS_LISTEN "$DEMO_NATS_LISTEN" "NATS"
  if ! ping; then
    local p
    for p in "$INFLUX_PORT" $(( INFLUX_PORT + 2 )); do
      if taken 127.0.0.1 "$p"; then
        echo "demo: port $p (InfluxDB's $([ "$p" = "$INFLUX_PORT" ] && echo HTTP API || echo "RPC, INFLUX_PORT+2")) is taken$(owner "$p"), and no InfluxDB answers at $INFLUX_URL; set INFLUX_PORT=$(free_influx_after "$INFLUX_PORT") to start one on another port, or INFLUX_URL to use yours" >&2
        problems=$(( problems + 1 ))
      fi
    done
  fi
  if ! mailpit_up && want_mailpit; then
    check_addr SMTP_ADDR "$SMTP_ADDR" "mailpit's SMTP"
    check_addr MAILPIT_UI "$MAILPIT_UI" "mailpit's web UI"
  fi
  [ "$problems" = 0 ]
}

# json_value KEY: the string KEY of the indented JSON on stdin.
json_value() { sed -n "s/^  \"$1\": \"\([^\"]*\)\",\{0,1\}\$/\1/p"; }

# print_banner: where everything is, as the running pipeline reports it.
print_banner() {
  local admin="off" nats="" cat_server="" alerts_cmd="-config configs/demo.toml" listeners="" influx mails
  if [ "$DEMO_ADMIN_ADDR" != off ]; then
    local base="http://$(host_of "$DEMO_ADMIN_ADDR"):$(port_of "$DEMO_ADMIN_ADDR")"
    for _ in $(seq 1 600); do
      listeners=$(curl -fsS "$base/api/listeners" 2>/dev/null) && break
      sleep 0.1
    done
    if [ -z "$listeners" ]; then
      echo "demo: the pipeline's admin API did not answer at $base within a minute: no banner" >&2
      return 1
    fi
    admin=$(json_value admin <<<"$listeners")
    nats=$(json_value nats <<<"$listeners")
  fi
  if [ -z "$nats" ]; then
    nats="$DEMO_NATS_LISTEN (as configured: the admin API is off, so this is unconfirmed)"
  elif [ "$nats" != "nats://127.0.0.1:4222" ]; then
    cat_server=" -server $nats"
  fi
  if [ "$DEMO_ADMIN_ADDR" != 127.0.0.1:8377 ]; then
    alerts_cmd="-admin $DEMO_ADMIN_ADDR"
  fi
  influx="$INFLUX_URL   database \"$INFLUX_DB\"   (InfluxQL: curl -G $INFLUX_URL/query --data-urlencode db=$INFLUX_DB --data-urlencode 'q=SHOW MEASUREMENTS')"
  ping || influx="$INFLUX_URL   (not answering)"
  if mailpit_up; then
    mails="http://$MAILPIT_UI/   (mailpit; the demo's alert rules mail $ALERT_MAIL_TO through SMTP $SMTP_ADDR)"
  else
    mails="to $ALERT_MAIL_TO through SMTP $SMTP_ADDR"
  fi
  cat <<INFO

  InfluxDB    $influx
  Admin API   $admin   (a page of the plugins; /healthz, /metrics, /api/plugins, /api/listeners)
  NATS        $nats   (./bin/interoceptor cat$cat_server -subject 'demo.>')
  Alert mails $mails
  Alerts      ./bin/interoceptor alerts $alerts_cmd   (list, ack, silence)
  Grafana     provisioning in $PWD/configs/grafana/provisioning  (see configs/grafana/README.md; INFLUX_URL=$INFLUX_URL INFLUX_DB=$INFLUX_DB)

  Ctrl-C stops the pipeline (it drains first), then InfluxDB and mailpit.

INFO
}

case "${1:-}" in
  --check-ports) check_ports; exit ;;
  --banner) print_banner; exit ;;
  "") ;;
  *) echo "usage: $0 [--check-ports | --banner]" >&2; exit 2 ;;
esac

check_ports || { echo "demo: nothing started" >&2; exit 1; }

if ping; then
  echo "demo: reusing the InfluxDB that answers at $INFLUX_URL"
else
  if ! go version -m "$bin" 2>/dev/null | grep -q 'github.com/influxdata/influxdb[[:space:]]*v1\.8\.'; then
    echo "demo: installing influxd v1.8.10 (go install, about a minute the first time)"
    GOFLAGS= go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10
  fi
  echo "demo: starting InfluxDB on 127.0.0.1:$INFLUX_PORT"
  mkdir -p "$data"
  cat > "$data/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$((INFLUX_PORT + 2))"
[meta]
  dir = "$data/meta"
[data]
  dir = "$data/data"
  wal-dir = "$data/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$INFLUX_PORT"
  log-enabled = false
  flux-enabled = false
[monitor]
  store-enabled = false
CONF
  # its own session: the Ctrl-C meant for the pipeline must not stop it first
  setsid "$bin" run -config "$data/influxdb.conf" >"$data/influxd.log" 2>&1 &
  started=$!
  for _ in $(seq 1 300); do ping && break; sleep 0.1; done
  ping || { echo "demo: influxd did not start; see $data/influxd.log" >&2; tail -20 "$data/influxd.log" >&2; kill "$started" 2>/dev/null; exit 1; }
fi

if mailpit_up; then
  echo "demo: reusing the mailpit that answers at http://$MAILPIT_UI/"
elif want_mailpit; then
  if ! go version -m "$mailpit_bin" 2>/dev/null | grep -q 'github.com/axllent/mailpit[[:space:]]*v1\.33\.1'; then
    echo "demo: installing mailpit v1.33.1 (go install, about a minute the first time)"
    GOFLAGS= go install github.com/axllent/mailpit@v1.33.1
  fi
  echo "demo: starting mailpit (SMTP $SMTP_ADDR, web UI $MAILPIT_UI)"
  mkdir -p "$PWD/var/mailpit"
  setsid "$mailpit_bin" --smtp "$SMTP_ADDR" --listen "$MAILPIT_UI" --database "$PWD/var/mailpit/mailpit.db" \
    --smtp-auth-accept-any --smtp-auth-allow-insecure --smtp-disable-rdns --quiet >"$PWD/var/mailpit/mailpit.log" 2>&1 &
  mail_started=$!
  for _ in $(seq 1 300); do mailpit_up && break; sleep 0.1; done
  mailpit_up || { echo "demo: mailpit did not start; see var/mailpit/mailpit.log" >&2; tail -20 "$PWD/var/mailpit/mailpit.log" >&2; }
fi

stop_services() {
  if [ -n "$banner_pid" ]; then
    kill "$banner_pid" 2>/dev/null || true
  fi
  if [ -n "$started" ]; then
    kill -INT "$started" 2>/dev/null || true
    wait "$started" 2>/dev/null || true
    echo "demo: InfluxDB stopped (its data stays in $data)"
  fi
  if [ -n "$mail_started" ]; then
    kill -TERM "$mail_started" 2>/dev/null || true
    wait "$mail_started" 2>/dev/null || true
    echo "demo: mailpit stopped (its mails stay in var/mailpit)"
  fi
}
trap stop_services EXIT

curl -fsS -o /dev/null -XPOST "$INFLUX_URL/query" --data-urlencode "q=CREATE DATABASE \"$INFLUX_DB\""

# The banner waits for the pipeline to answer and prints what it reports.
print_banner &
banner_pid=$!

# The pipeline runs in the foreground's process group, so Ctrl-C reaches it
# directly; the trap then stops InfluxDB and mailpit.
set +e
./bin/interoceptor run -config configs/demo.toml
code=$?
exit $code
