#!/usr/bin/env bash
# Tears the stand-in NAS down: its containers, sshd, and (with --engine) the Docker engine it started.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
ids=$(docker ps -aq --filter name='^scanium-' 2>/dev/null)
[ -z "$ids" ] || docker rm -f $ids >/dev/null
for pidfile in "$NAS_STATE"/sshd*.pid; do
  [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null && rm -f "$pidfile"
done
"$here/prometheus.sh" --stop
"$here/bastion.sh" --down   # the jump host (issue #16)
bash "$here/postgres.sh" --down   # the backup tests' containers and volumes
bash "$here/mariadb.sh" --down   # the MySQL backup tests' containers and volumes
bash "$here/services.sh" --down   # the three-service sample application (issue 14)
bash "$here/image-sources.sh" --down   # the registry and the runner's engine (issue 14)
bash "$here/bluegreen-services.sh" --down   # several services as blue-green colours
bash "$here/bluegreen.sh" --down   # the blue-green sample's containers (issue 15)
if [ "${1:-}" = --engine ]; then pkill -x dockerd || true; fi
echo "[nas] down"
