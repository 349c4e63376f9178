#!/usr/bin/env bash
# npm run demo: installs what is missing, brings the stand-in NAS up, and runs
# a release end to end through the real bundles in dist/, printing each
# action's outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "The demo brings up a stand-in NAS (dockerd, sshd, a NAS user), which needs root: sudo npm run demo" >&2
  exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
bash test/nas/up.sh
bash test/nas/reset.sh
exec bash scripts/node24.sh node scripts/demo.mjs
