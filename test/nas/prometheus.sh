#!/usr/bin/env bash
# The stand-in NAS's metrics store for the release watch (issue 17): a real
# Prometheus from Debian's package, on the host beside the engine, listening
# on 127.0.0.1:9090 with its own config and data under $NAS_STATE/prometheus.
# It scrapes the sample backend's /cgi-bin/metrics every second, so a test's
# guard sees a new release within seconds. Idempotent; `--stop` stops it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"

dir=$NAS_STATE/prometheus
pidfile=$dir/prometheus.pid
listen=127.0.0.1:9090
say() { printf '[nas] %s\n' "$*"; }

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if [ "${1:-}" = --stop ]; then
  if running; then kill "$(cat "$pidfile")"; fi
  rm -f "$pidfile"
  exit 0
fi

if ! command -v prometheus >/dev/null; then
  say "installing prometheus"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends: the node exporter and the service's start are not wanted here
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
# The package may start its own service (on a machine with an init that runs it): ours has its own port and data.
mkdir -p "$dir/data"
cat > "$dir/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: scanium-backend
    metrics_path: /cgi-bin/metrics
    static_configs:
      - targets: ['127.0.0.1:18080']
CONF
if running; then
  kill -HUP "$(cat "$pidfile")"   # pick up a changed config
else
  say "starting prometheus on $listen"
  # Descriptors above 2 are closed: a daemon that kept the caller's (say the fd of
  # `flock /tmp/nas-e2e.lock bash prometheus.sh`) would hold that lock for ever.
  setsid prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --storage.tsdb.retention.time=2d --web.listen-address="$listen" \
    >"$dir/prometheus.log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! > "$pidfile"
fi
for _ in $(seq 1 60); do
  wget -q -O /dev/null "http://$listen/-/ready" 2>/dev/null && exit 0
  sleep 0.5
done
tail -20 "$dir/prometheus.log" >&2
say "ERROR: prometheus did not become ready (log: $dir/prometheus.log)"
exit 1
