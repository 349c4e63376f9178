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
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 24 ]; then
  NODE24_DIR=${NODE24_DIR:-/opt/node24}
  if ! "$NODE24_DIR/node_modules/.bin/node" --version 2>/dev/null | grep -q '^v24\.'; then
    echo "[demo] installing Node 24 into $NODE24_DIR (the actions run on node24)"
    mkdir -p "$NODE24_DIR" && (cd "$NODE24_DIR" && npm install --no-save --no-audit --no-fund --ignore-scripts=false node@24 >/dev/null)
  fi
  export PATH="$NODE24_DIR/node_modules/.bin:$PATH"
fi
[ -d node_modules/yaml ] || npm ci --no-audit --no-fund
bash test/nas/up.sh
bash test/nas/reset.sh
exec node scripts/demo.mjs
