#!/usr/bin/env bash
# The stand-in NAS's MySQL/MariaDB server for the backup tests (issue 13): an
# image nas-mariadb:latest made without a registry, FROM the local BusyBox base
# with the files of Debian's mariadb-server package copied in (the server,
# mariadb-install-db, the client, mariadb-dump, the libraries they link, the
# share files the server reads). Idempotent; root. The host's own server is
# never started: only the package's files are used.
#
# The image behaves as the official one does where the actions depend on it:
# MARIADB_ROOT_PASSWORD / MYSQL_ROOT_PASSWORD, MARIADB_DATABASE / MYSQL_DATABASE,
# MARIADB_USER / MYSQL_USER with MARIADB_PASSWORD / MYSQL_PASSWORD in the
# environment, data in /var/lib/mysql, mariadb / mysql / mariadb-dump /
# mysqldump on the PATH inside the container, the server's socket where the
# client looks for it. It listens on 127.0.0.1:$MYSQL_TCP_PORT (host
# networking; 3307 by default). Passwords reach the server on standard input,
# never on a command line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
. "$here/seed.sh"
MARIADB_IMAGE=${NAS_MARIADB_IMAGE:-nas-mariadb:latest}
say() { printf '[nas/mariadb] %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo 'mariadb.sh needs root' >&2; exit 1; }
if [ "${1:-}" = --down ]; then
  # what the MySQL backup tests start: the containers nrm-*, the compose project "shelf" and its volumes
  remove_sample_app nrm- shelf
  exit 0
fi

if [ ! -x /usr/sbin/mariadbd ] || [ ! -x /usr/bin/mariadb-install-db ] || [ ! -x /usr/bin/mariadb-dump ]; then
  say 'installing mariadb-server (only its files are used: the host server is not started)'
  # invoke-rc.d and deb-systemd-invoke ask policy-rc.d whether a service may start: "no" while the package installs
  policy=/usr/sbin/policy-rc.d
  own_policy=''
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# nas/mariadb.sh: no service starts while mariadb-server installs\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=yes
  fi
  export DEBIAN_FRONTEND=noninteractive
  rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null; } || rc=$?
  [ -z "$own_policy" ] || rm -f "$policy"
  [ "$rc" = 0 ] || exit "$rc"
  # a host where the service started anyway (no policy honoured): stop it and keep it from starting at boot
  if command -v systemctl >/dev/null && systemctl is-active --quiet mariadb 2>/dev/null; then
    systemctl stop mariadb || true
    systemctl disable --quiet mariadb 2>/dev/null || true
  fi
fi

docker image inspect "$MARIADB_IMAGE" >/dev/null 2>&1 && { say "$MARIADB_IMAGE is there"; exit 0; }
version=$(/usr/sbin/mariadbd --version | awk '{ print $3 }')
say "building $MARIADB_IMAGE from mariadb $version"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root"
copy() { mkdir -p "$root$(dirname "$1")"; cp -aL "$1" "$root$1"; }
bins="/usr/sbin/mariadbd /usr/bin/mariadb-install-db /usr/bin/my_print_defaults /usr/bin/resolveip
  /usr/bin/mariadb /usr/bin/mariadb-dump /usr/bin/mariadb-admin"
for b in $bins; do copy "$b"; done
# the names the official image and the actions' dump and restore look for
ln -s mariadbd "$root/usr/sbin/mysqld"
ln -s mariadb "$root/usr/bin/mysql"
ln -s mariadb-dump "$root/usr/bin/mysqldump"
ln -s mariadb-admin "$root/usr/bin/mysqladmin"
ln -s mariadb-install-db "$root/usr/bin/mysql_install_db"
# the system tables' SQL, the character sets and the English messages (the other languages are left out)
mkdir -p "$root/usr/share/mysql"
find /usr/share/mysql -maxdepth 1 -type f -exec cp -a {} "$root/usr/share/mysql/" \;
cp -a /usr/share/mysql/charsets /usr/share/mysql/english "$root/usr/share/mysql/"
# every shared library the binaries link, and the loader
for f in $bins; do
  head -c 4 "$f" | grep -q ELF || continue
  ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\s*\/lib/{print $1}'
done | sort -u | while read -r lib; do copy "$lib"; done
copy /lib64/ld-linux-x86-64.so.2 2>/dev/null || true
mkdir -p "$root/etc/mysql" "$root/var/lib/mysql" "$root/run/mysqld" "$root/usr/local/bin"
cat > "$root/etc/mysql/my.cnf" <<'CNF'
# nas-mariadb: read by the server and the clients
[mariadbd]
datadir = /var/lib/mysql
socket = /run/mysqld/mysqld.sock
bind-address = 127.0.0.1
skip-name-resolve
skip-log-bin
innodb-buffer-pool-size = 32M
[client]
socket = /run/mysqld/mysqld.sock
CNF
cat > "$root/usr/local/bin/nas-mariadb" <<'ENTRY'
#!/bin/sh
# First start: the system tables, the root password, MARIADB_DATABASE and
# MARIADB_USER (the MYSQL_* names too), set through a server of its own socket
# that takes no network connection, the SQL on standard input (so no password
# is ever on a command line); then the server on 127.0.0.1:$MYSQL_TCP_PORT.
set -eu
datadir=/var/lib/mysql
root_password=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
allow_empty=${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-${MYSQL_ALLOW_EMPTY_PASSWORD:-}}
database=${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}
user=${MARIADB_USER:-${MYSQL_USER:-}}
user_password=${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}
# a string literal and an identifier of SQL
literal() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"; }
ident() { printf '`%s`' "$(printf '%s' "$1" | sed -e 's/`/``/g')"; }
if [ ! -d "$datadir/mysql" ]; then
  if [ -z "$root_password" ] && [ -z "$allow_empty" ]; then
    echo 'nas-mariadb: set MARIADB_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD), or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1' >&2
    exit 1
  fi
  mariadb-install-db --datadir="$datadir" --auth-root-authentication-method=normal --skip-test-db \
    --skip-name-resolve > /tmp/install-db.log 2>&1 || { cat /tmp/install-db.log >&2; exit 1; }
  rm -f /tmp/install-db.log
  init=$(mktemp -d)
  mariadbd --skip-networking --socket="$init/sock" &
  server=$!
  i=0
  until mariadb-admin --socket="$init/sock" -u root ping >/dev/null 2>&1; do
    kill -0 "$server" 2>/dev/null || { echo 'nas-mariadb: the set-up server stopped' >&2; exit 1; }
    i=$((i + 1)); [ "$i" -le 600 ] || { echo 'nas-mariadb: the set-up server did not answer' >&2; exit 1; }
    sleep 0.1
  done
  {
    # only root@localhost and root@% remain: the set-up's passwordless root@127.0.0.1 and root@::1 would be open
    echo "DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';"
    echo "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost'; FLUSH PRIVILEGES;"
    if [ -n "$root_password" ]; then
      pw=$(literal "$root_password")
      echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;"
      echo "CREATE USER 'root'@'%' IDENTIFIED BY $pw; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    fi
    [ -z "$database" ] || echo "CREATE DATABASE IF NOT EXISTS $(ident "$database");"
    if [ -n "$user" ] && [ -n "$user_password" ]; then
      echo "CREATE USER $(literal "$user")@'%' IDENTIFIED BY $(literal "$user_password");"
      [ -z "$database" ] || echo "GRANT ALL ON $(ident "$database").* TO $(literal "$user")@'%';"
    fi
  } | mariadb --socket="$init/sock" -u root
  kill "$server"; wait "$server" || true
  rm -rf "$init"
fi
exec mariadbd --port="${MYSQL_TCP_PORT:-3307}"
ENTRY
chmod 755 "$root/usr/local/bin/nas-mariadb"
cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $NAS_BASE_IMAGE
COPY rootfs/ /
RUN echo 'mysql:x:999:999:mysql:/var/lib/mysql:/bin/sh' >> /etc/passwd \\
 && echo 'mysql:x:999:' >> /etc/group \\
 && mkdir -p /tmp && chmod 1777 /tmp && chown -R 999:999 /var/lib/mysql /run/mysqld && chmod 700 /var/lib/mysql
ENV PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin MYSQL_TCP_PORT=3307 TZ=UTC
USER mysql
CMD ["nas-mariadb"]
DOCKERFILE
docker build -q -t "$MARIADB_IMAGE" "$ctx" >/dev/null
say "built $MARIADB_IMAGE ($(docker image inspect --format '{{.Size}}' "$MARIADB_IMAGE") bytes)"
