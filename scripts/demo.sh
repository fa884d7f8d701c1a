#!/usr/bin/env bash
# make run: the demo pipeline (configs/demo.toml) writing into a local
# InfluxDB 1.8 whose data lives under ./var/influxdb. An InfluxDB already
# answering on INFLUX_URL is reused; otherwise one is installed if needed
# (go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10) and started,
# and stopped again when the demo ends (Ctrl-C). The same goes for mailpit
# (go install github.com/axllent/mailpit@v1.33.1), which receives the demo's
# alert mails on SMTP_ADDR and shows them on MAILPIT_UI.
set -euo pipefail
cd "$(dirname "$0")/.."

export INFLUX_PORT="${INFLUX_PORT:-8086}"
export INFLUX_URL="${INFLUX_URL:-http://127.0.0.1:${INFLUX_PORT}}"
export INFLUX_DB="${INFLUX_DB:-interoceptor}"
data="$PWD/var/influxdb"
bin="$(go env GOPATH | cut -d: -f1)/bin/influxd"
started=""
export SMTP_ADDR="${SMTP_ADDR:-127.0.0.1:1025}"
export MAILPIT_UI="${MAILPIT_UI:-127.0.0.1:8025}"
mailpit_bin="$(go env GOPATH | cut -d: -f1)/bin/mailpit"
mail_started=""

ping() { curl -fsS -o /dev/null "$INFLUX_URL/ping" 2>/dev/null; }

if ping; then
  echo "demo: reusing the InfluxDB that answers at $INFLUX_URL"
else
  if ! go version -m "$bin" 2>/dev/null | grep -q 'github.com/influxdata/influxdb[[:space:]]*v1\.8\.'; then
    echo "demo: installing influxd v1.8.10 (go install, about a minute the first time)"
    GOFLAGS= go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10
  fi
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

mailpit_up() { curl -fsS -o /dev/null "http://$MAILPIT_UI/api/v1/info" 2>/dev/null; }

if mailpit_up; then
  echo "demo: reusing the mailpit that answers at http://$MAILPIT_UI/"
elif [ "${SMTP_ADDR}" = "127.0.0.1:1025" ] || [ -n "${DEMO_MAILPIT:-}" ]; then
  if ! go version -m "$mailpit_bin" 2>/dev/null | grep -q 'github.com/axllent/mailpit[[:space:]]*v1\.33\.1'; then
    echo "demo: installing mailpit v1.33.1 (go install, about a minute the first time)"
    GOFLAGS= go install github.com/axllent/mailpit@v1.33.1
  fi
  mkdir -p "$PWD/var/mailpit"
  setsid "$mailpit_bin" --smtp "$SMTP_ADDR" --listen "$MAILPIT_UI" --database "$PWD/var/mailpit/mailpit.db" \
    --smtp-auth-accept-any --smtp-auth-allow-insecure --smtp-disable-rdns --quiet >"$PWD/var/mailpit/mailpit.log" 2>&1 &
  mail_started=$!
  for _ in $(seq 1 300); do mailpit_up && break; sleep 0.1; done
  mailpit_up || { echo "demo: mailpit did not start; see var/mailpit/mailpit.log" >&2; tail -20 "$PWD/var/mailpit/mailpit.log" >&2; }
fi

stop_services() {
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

cat <<INFO

  InfluxDB    $INFLUX_URL   database "$INFLUX_DB"   (InfluxQL: curl -G $INFLUX_URL/query --data-urlencode db=$INFLUX_DB --data-urlencode 'q=SHOW MEASUREMENTS')
  Admin API   http://127.0.0.1:8377/   (/healthz, /metrics, /api/plugins)
  NATS        nats://127.0.0.1:4222    (./bin/interoceptor cat -subject 'demo.>')
  Alert mails http://$MAILPIT_UI/   (mailpit; the demo's alert rules mail ops@example.com through SMTP $SMTP_ADDR)
  Alerts      ./bin/interoceptor alerts -config configs/demo.toml   (list, ack, silence)
  Grafana     provisioning in $PWD/configs/grafana/provisioning  (see configs/grafana/README.md; INFLUX_URL=$INFLUX_URL INFLUX_DB=$INFLUX_DB)

  Ctrl-C stops the pipeline (it drains first), then InfluxDB and mailpit.

INFO

# The pipeline runs in the foreground's process group, so Ctrl-C reaches it
# directly; the trap then stops InfluxDB and mailpit.
set +e
./bin/interoceptor run -config configs/demo.toml
code=$?
exit $code
