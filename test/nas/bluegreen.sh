#!/usr/bin/env bash
# The blue-green sample of the stand-in NAS (issue 15), idempotent, root:
#  - nrg-nginx:latest, an nginx image made without a registry: FROM the local
#    BusyBox base with the nginx binary of Debian's nginx package (apt-get
#    download + dpkg -x) and the libraries it links copied in;
#  - the sample application (test/nas/app-bluegreen: the backend as two colours
#    and nginx in front, ports 18120 proxy, 18121 blue, 18122 green) in a bare
#    origin and a NAS checkout of its own, /volume1/docker/nrg/repo.
# --reset: puts the sample back to its first state (no nrg-* containers or
# nrg-backend images, a fresh origin and checkout). --down: removes its containers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
. "$here/seed.sh"
NRG_IMAGE=nrg-nginx:latest
NRG_ORIGIN=$NAS_VOLUME/git/nrg.git
NRG_REPO=$NAS_VOLUME/docker/nrg/repo
say() { printf '[nas/bluegreen] %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo 'bluegreen.sh needs root' >&2; exit 1; }

remove_containers() {
  local ids
  ids=$( { docker ps -aq --filter name='^nrg-'; for p in nrg nrg-blue nrg-green; do docker ps -aq --filter label=com.docker.compose.project=$p; done; } | sort -u)
  [ -n "$ids" ] || return 0
  # a release's detached drain may be removing one of them at this moment, and docker refuses a second removal
  # ("already in progress"): remove what can be, then wait until none of them is left
  docker rm -f $ids >/dev/null 2>&1 || true
  local left i
  for _ in $(seq 1 150); do
    left=$(for i in $ids; do docker ps -aq --filter id="$i"; done)
    [ -n "$left" ] || return 0
    docker rm -f $left >/dev/null 2>&1 || true
    sleep 0.2
  done
  echo "bluegreen.sh: containers still there after 30 s: $left" >&2
  return 1
}
if [ "${1:-}" = --down ]; then remove_containers; exit 0; fi

# 1. The proxy image.
if ! docker image inspect "$NRG_IMAGE" >/dev/null 2>&1; then
  say "building $NRG_IMAGE from Debian's nginx package"
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  chmod 755 "$ctx"
  ( cd "$ctx" && apt-get download nginx >/dev/null 2>&1 ) || { apt-get update -qq && ( cd "$ctx" && apt-get download nginx >/dev/null ); }
  mkdir -p "$ctx/pkg" "$ctx/rootfs/usr/sbin"
  dpkg -x "$ctx"/nginx_*.deb "$ctx/pkg"
  cp -a "$ctx/pkg/usr/sbin/nginx" "$ctx/rootfs/usr/sbin/nginx"
  copy() { mkdir -p "$ctx/rootfs$(dirname "$1")"; cp -aL "$1" "$ctx/rootfs$1"; }
  ldd "$ctx/pkg/usr/sbin/nginx" | awk '/=> \//{print $3} /^\s*\/lib/{print $1}' | sort -u | while read -r lib; do copy "$lib"; done
  copy /lib64/ld-linux-x86-64.so.2 2>/dev/null || true
  cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $NAS_BASE_IMAGE
COPY rootfs/ /
RUN mkdir -p /etc/nginx /var/log/nginx /var/lib/nginx/body /var/lib/nginx/proxy /var/lib/nginx/fastcgi /var/lib/nginx/uwsgi /var/lib/nginx/scgi /run \\
 && echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >> /etc/passwd \\
 && echo 'nogroup:x:65534:' >> /etc/group && echo 'nobody:x:65534:' >> /etc/group \\
 && echo 'www-data:x:33:33:www-data:/var/www:/bin/false' >> /etc/passwd && echo 'www-data:x:33:' >> /etc/group
ENV PATH=/usr/sbin:/bin
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
DOCKERFILE
  docker build -q -t "$NRG_IMAGE" "$ctx" >/dev/null
  say "built $NRG_IMAGE ($(docker run --rm "$NRG_IMAGE" nginx -v 2>&1))"
fi

# 2. The sample application: origin and checkout (again with --reset).
if [ "${1:-}" = --reset ] || ! [ -d "$NRG_ORIGIN" ] || ! [ -d "$NRG_REPO/.git" ]; then
  remove_containers
  imgs=$(docker images -q nrg-backend | sort -u)
  [ -z "$imgs" ] || docker rmi -f $imgs >/dev/null 2>&1 || true
  rm -rf "$NRG_ORIGIN" "$NRG_REPO"
  install -d -o "$NAS_USER" -g "$NAS_USER" "$NAS_VOLUME/git" "$NAS_VOLUME/docker" "$NAS_VOLUME/docker/nrg"
  seed_sample "$NRG_ORIGIN" "$NRG_REPO" "$here/app-bluegreen" '' 'Seed: blue-green sample behind nginx'
  say "sample ready in $NRG_REPO"
fi
