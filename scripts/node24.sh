#!/usr/bin/env bash
# Runs a command with Node 24 first on the PATH: the actions run on node24, so
# the tests, the demo and the benchmark do too, whatever Node the machine
# starts with. A missing Node 24 is installed from the npm registry's `node`
# package into NODE24_DIR (default /opt/node24 as root, else ~/.cache).
#   bash scripts/node24.sh <command> [args...]
set -euo pipefail
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 24 ]; then
  if [ "$(id -u)" = 0 ]; then default_dir=/opt/node24; else default_dir="$HOME/.cache/nas-release/node24"; fi
  NODE24_DIR=${NODE24_DIR:-$default_dir}
  if ! "$NODE24_DIR/node_modules/.bin/node" --version 2>/dev/null | grep -q '^v24\.'; then
    echo "[node24] installing Node 24 into $NODE24_DIR (the actions run on node24)" >&2
    mkdir -p "$NODE24_DIR"
    (cd "$NODE24_DIR" && npm install --no-save --no-audit --no-fund --ignore-scripts=false node@24 >/dev/null)
  fi
  export PATH="$NODE24_DIR/node_modules/.bin:$PATH"
fi
exec "$@"
