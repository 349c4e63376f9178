#!/usr/bin/env bash
# The stand-in NAS's database server for the backup tests (issue 13): an image
# nas-postgres:latest made without a registry, FROM the local BusyBox base with
# the files of Debian's postgresql package copied in (binaries, the libraries
# they link, the share files initdb reads). Idempotent; root.
#
# The image behaves as the official one does where the actions depend on it:
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB in the environment, data in
# /var/lib/postgresql/data, pg_dump / pg_restore / psql on the PATH inside the
# container, trust on the local socket (so no password is ever typed).
# It listens on 127.0.0.1:$PGPORT (host networking; 55432 by default).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
. "$here/seed.sh"
PG_IMAGE=${NAS_PG_IMAGE:-nas-postgres:latest}
say() { printf '[nas/postgres] %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo 'postgres.sh needs root' >&2; exit 1; }
if [ "${1:-}" = --down ]; then
  # what the backup tests start: the containers nrb-*, the compose project "store" and its volumes
  remove_sample_app nrb- store
  exit 0
fi
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  say 'installing postgresql (only its files are used: the host cluster is not started)'
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
pgbin=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/postgres | sort -V | tail -1)")
pgver=$(basename "$(dirname "$pgbin")")

docker image inspect "$PG_IMAGE" >/dev/null 2>&1 && { say "$PG_IMAGE is there"; exit 0; }
say "building $PG_IMAGE from postgresql $pgver"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root"
copy() { mkdir -p "$root$(dirname "$1")"; cp -aL "$1" "$root$1"; }
bins="postgres initdb pg_ctl psql pg_dump pg_restore createdb dropdb pg_isready"
for b in $bins; do copy "$pgbin/$b"; done
mkdir -p "$root/usr/lib/postgresql/$pgver" "$root/usr/share/postgresql"
cp -a "/usr/lib/postgresql/$pgver/lib" "$root/usr/lib/postgresql/$pgver/"
rm -rf "$root/usr/lib/postgresql/$pgver/lib/bitcode"
cp -a "/usr/share/postgresql/$pgver" "$root/usr/share/postgresql/"
mkdir -p "$root/usr/share"; cp -a /usr/share/zoneinfo "$root/usr/share/"
# every shared library the binaries and the server's modules link, and the loader
for f in "$pgbin"/{postgres,initdb,pg_ctl,psql,pg_dump,pg_restore,createdb,dropdb,pg_isready} /usr/lib/postgresql/"$pgver"/lib/*.so; do
  ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\s*\/lib/{print $1}'
done | sort -u | while read -r lib; do copy "$lib"; done
copy /lib64/ld-linux-x86-64.so.2 2>/dev/null || true
mkdir -p "$root/etc" "$root/var/lib/postgresql/data" "$root/var/run/postgresql" "$root/usr/local/bin"
cat > "$root/usr/local/bin/nas-postgres" <<'ENTRY'
#!/bin/sh
# First start: a cluster owned by POSTGRES_USER (password from the environment,
# through a file, never a command line), then POSTGRES_DB; then the server.
set -e
: "${PGDATA:=/var/lib/postgresql/data}" "${POSTGRES_USER:=postgres}"
export PGDATA
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw=$(mktemp); printf '%s\n' "${POSTGRES_PASSWORD:-postgres}" > "$pw"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >/dev/null
  rm -f "$pw"
  if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
    # The set-up server listens on a socket of its own: a client waiting for the
    # server (pg_isready) must not take it for the real one, which starts after it.
    init=$(mktemp -d)
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$init" -w start >/dev/null
    createdb -h "$init" -U "$POSTGRES_USER" "$POSTGRES_DB"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    rm -rf "$init"
  fi
fi
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1
ENTRY
chmod 755 "$root/usr/local/bin/nas-postgres"
cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $NAS_BASE_IMAGE
COPY rootfs/ /
RUN echo 'postgres:x:70:70:postgres:/var/lib/postgresql:/bin/sh' >> /etc/passwd \\
 && echo 'postgres:x:70:' >> /etc/group \\
 && chmod 1777 /tmp && chown -R 70:70 /var/lib/postgresql /var/run/postgresql && chmod 700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/$pgver/bin:/usr/local/bin:/bin PGDATA=/var/lib/postgresql/data PGPORT=55432 TZ=UTC
USER postgres
CMD ["nas-postgres"]
DOCKERFILE
docker build -q -t "$PG_IMAGE" "$ctx" >/dev/null
say "built $PG_IMAGE ($(docker image inspect --format '{{.Size}}' "$PG_IMAGE") bytes)"
