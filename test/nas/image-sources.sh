#!/usr/bin/env bash
# Where images come from (issue 14), on the stand-in: a real registry on
# loopback (Debian's docker-registry, the CNCF distribution) with basic auth,
# and a runner-side Docker engine of its own (own socket, data root, exec root,
# pidfile, no bridge, no iptables), so that an image a `runner` release built
# is on the NAS's engine only if it crossed the SSH connection.
# Idempotent; `--down` stops both (their data stays for the next start).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"

dir=$NAS_STATE/registry
reg_pidfile=$dir/registry.pid
reg_listen=127.0.0.1:5000
# The tests read the registry's user and password from here (the password is the tests' secret).
reg_user=nrr-ci
run_dir=/run/nas-runner
run_sock=$run_dir/docker.sock
run_pidfile=$run_dir/docker.pid
run_root=/var/lib/nas-runner-docker
run_log=$NAS_STATE/runner-dockerd.log
say() { printf '[nas] %s\n' "$*"; }
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ "${1:-}" = --down ]; then
  running "$reg_pidfile" && kill "$(cat "$reg_pidfile")"
  rm -f "$reg_pidfile"
  if running "$run_pidfile"; then
    pid=$(cat "$run_pidfile"); kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  exit 0
fi

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends: the package's own service is not wanted (ours has its own port, auth and storage)
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 1. The registry: basic auth (bcrypt htpasswd), storage under $dir, loopback only.
mkdir -p "$dir/data"
chmod 755 "$dir"
[ -s "$dir/password" ] || { head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/password"; chmod 644 "$dir/password"; }
echo "$reg_user" > "$dir/user"
htpasswd -Bbc "$dir/htpasswd" "$reg_user" "$(cat "$dir/password")" 2>/dev/null
cat > "$dir/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $reg_listen
auth:
  htpasswd:
    realm: nas-standin
    path: $dir/htpasswd
CONF
if ! running "$reg_pidfile"; then
  say "starting the registry on $reg_listen"
  # Descriptors above 2 closed: under `flock ... bash image-sources.sh` the daemon would hold the lock for ever.
  setsid docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! > "$reg_pidfile"
fi

# 2. The runner's engine: nothing shared with the NAS's but the kernel.
mkdir -p "$run_dir" "$run_root"
if ! DOCKER_HOST=unix://$run_sock docker info >/dev/null 2>&1; then
  say "starting the runner's dockerd on $run_sock"
  setsid dockerd --host "unix://$run_sock" --data-root "$run_root" --exec-root "$run_dir/exec" \
    --pidfile "$run_pidfile" --bridge=none --iptables=false --ip6tables=false \
    >"$run_log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  for _ in $(seq 1 60); do DOCKER_HOST=unix://$run_sock docker info >/dev/null 2>&1 && break; sleep 0.5; done
  DOCKER_HOST=unix://$run_sock docker info >/dev/null 2>&1 || { tail -20 "$run_log" >&2; say "ERROR: the runner's dockerd did not start (log: $run_log)"; exit 1; }
fi
# Its base image, made as up.sh makes the NAS's (docker import of BusyBox's files): no registry is reachable.
if ! DOCKER_HOST=unix://$run_sock docker image inspect "$NAS_BASE_IMAGE" >/dev/null 2>&1; then
  say "building $NAS_BASE_IMAGE on the runner's engine"
  BUSYBOX=$(command -v busybox || echo /bin/busybox)
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/www"
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list); do [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"; done
  echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
  tar -C "$root" -c . | DOCKER_HOST=unix://$run_sock docker import -c 'ENV PATH=/bin' - "$NAS_BASE_IMAGE" >/dev/null
  rm -rf "$root"
fi

for _ in $(seq 1 40); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$reg_listen/v2/")" = 401 ] && exit 0
  sleep 0.25
done
tail -20 "$dir/registry.log" >&2
say "ERROR: the registry did not answer on $reg_listen (log: $dir/registry.log)"
exit 1
