#!/usr/bin/env bash
# Brings the stand-in NAS up, idempotently: a Docker engine, a local base image,
# an OpenSSH sshd on loopback with its own host key, a NAS user in the docker
# group, a bare git origin and the NAS checkout of the sample application.
# Installs the Debian packages it needs when run as root and they are missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"

say() { printf '[nas] %s\n' "$*"; }
die() { printf '[nas] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "the stand-in NAS needs root (it starts dockerd and sshd and creates the NAS user); run: sudo npm run nas:up"

need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || need_pkgs+=(docker-compose)
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
[ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
command -v ssh-keygen >/dev/null || need_pkgs+=(openssh-client)
command -v git >/dev/null || need_pkgs+=(git)
command -v flock >/dev/null || need_pkgs+=(util-linux)
command -v sudo >/dev/null || need_pkgs+=(sudo)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v wget >/dev/null || need_pkgs+=(wget)
# the unit tests check every rendered NAS program with shellcheck
command -v shellcheck >/dev/null || need_pkgs+=(shellcheck)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# busybox-static may leave /bin/busybox elsewhere
BUSYBOX=$(command -v busybox || echo /bin/busybox)

mkdir -p "$NAS_STATE"
# The server's host key (pinned by the tests) and the client key, before the users that trust it.
[ -f "$NAS_STATE/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$NAS_STATE/ssh_host_ed25519_key"
[ -f "$NAS_STATE/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C nas-release-tests -f "$NAS_STATE/client_ed25519"

# 1. Docker engine: reuse a running one, else start one with no bridge and no iptables.
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd"
  setsid dockerd --bridge=none --iptables=false --ip6tables=false >"$NAS_DOCKERD_LOG" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 "$NAS_DOCKERD_LOG" >&2; die "dockerd did not start (log: $NAS_DOCKERD_LOG)"; }
fi

# 2. A base image made locally: no registry is reachable.
if ! docker image inspect "$NAS_BASE_IMAGE" >/dev/null 2>&1; then
  say "building $NAS_BASE_IMAGE from busybox-static"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/www"
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list); do [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"; done
  echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' - "$NAS_BASE_IMAGE" >/dev/null
  rm -rf "$root"
fi

# 3. The NAS user: in the docker group, key login only.
getent group docker >/dev/null || groupadd docker
if ! id "$NAS_USER" >/dev/null 2>&1; then
  useradd -m -s /bin/sh -G docker "$NAS_USER"
fi
usermod -p '*' "$NAS_USER"   # a useradd account is locked; sshd refuses locked accounts
home=$(getent passwd "$NAS_USER" | cut -d: -f6)
uid=$(id -u "$NAS_USER"); gid=$(id -g "$NAS_USER")

# The NAS shells of the issue "Real NAS shells", as more logins of the same
# files (same uid, same home and key), each with its own shell, PATH or groups:
#  - port $NAS_SSH_PORT_SYNOLOGY: Synology-like, a PATH without docker (only in /usr/local/bin)
#  - port $NAS_SSH_PORT_NOGIT: a PATH without git
#  - user ${NAS_USER}bb: BusyBox sh as login shell, a PATH of BusyBox applets plus git and flock
#  - user ${NAS_USER}sudo: not in the docker group, may run docker through sudo without a password
#  - user ${NAS_USER}pw: not in the docker group, sudo asks for a password
mkdir -p "$NAS_STATE/synology-bin" "$NAS_STATE/nogit-bin" "$NAS_STATE/busybox-bin"
for d in /usr/bin /bin /usr/sbin /sbin; do
  for f in "$d"/*; do
    n=${f##*/}
    case $n in docker|docker-compose|dockerd*) ;; *) [ -e "$NAS_STATE/synology-bin/$n" ] || ln -s "$f" "$NAS_STATE/synology-bin/$n" ;; esac
    case $n in git|git-*) ;; *) [ -e "$NAS_STATE/nogit-bin/$n" ] || ln -s "$f" "$NAS_STATE/nogit-bin/$n" ;; esac
  done
done
for applet in $("$BUSYBOX" --list); do ln -sf "$BUSYBOX" "$NAS_STATE/busybox-bin/$applet"; done
ln -sf "$(command -v git)" "$NAS_STATE/busybox-bin/git"
ln -sf "$(command -v flock)" "$NAS_STATE/busybox-bin/flock"
# Debian's static busybox wget crashes outside a container (static glibc and the
# host's NSS), so this userland gets a real wget in its place: no curl here, so
# the actions' wget path is the one exercised.
ln -sf "$(command -v wget)" "$NAS_STATE/busybox-bin/wget"
# Synology keeps docker and docker-compose in /usr/local/bin
[ -e /usr/local/bin/docker ] || ln -s "$(command -v docker)" /usr/local/bin/docker
if ! [ -e /usr/local/bin/docker-compose ] && command -v docker-compose >/dev/null; then ln -s "$(command -v docker-compose)" /usr/local/bin/docker-compose; fi
add_alias() { # a second login name for the NAS user's uid, with its own shell
  local name=$1 shell=$2
  id "$name" >/dev/null 2>&1 || useradd -o -u "$uid" -g "$gid" -M -d "$home" -s "$shell" -G docker "$name"
  usermod -p '*' -s "$shell" "$name"
}
add_alias "${NAS_USER}bb" "$NAS_STATE/busybox-bin/sh"
add_other() { # a user of its own (sudo resolves users by uid), sharing the checkout through the NAS user's group
  local name=$1
  if id "$name" >/dev/null 2>&1 && [ "$(id -u "$name")" = "$uid" ]; then userdel -f "$name"; fi
  id "$name" >/dev/null 2>&1 || useradd -m -g "$gid" -s /bin/sh "$name"
  usermod -p '*' "$name"
  local h; h=$(getent passwd "$name" | cut -d: -f6)
  install -d -m 700 -o "$name" "$h/.ssh"
  install -m 600 -o "$name" "$NAS_STATE/client_ed25519.pub" "$h/.ssh/authorized_keys"
  printf '[safe]\n\tdirectory = *\n' > "$h/.gitconfig"; chown "$name" "$h/.gitconfig"
}
add_other "${NAS_USER}sudo"
add_other "${NAS_USER}pw"
cat > /etc/sudoers.d/nas-standin <<SUDO
${NAS_USER}sudo ALL=(root) NOPASSWD:SETENV: /usr/local/bin/docker, /usr/local/bin/docker-compose, /usr/bin/docker, /usr/bin/docker-compose
${NAS_USER}pw ALL=(root) SETENV: /usr/local/bin/docker, /usr/local/bin/docker-compose, /usr/bin/docker, /usr/bin/docker-compose
SUDO
chmod 440 /etc/sudoers.d/nas-standin

# 4. The NAS user trusts the client key.
install -d -m 700 -o "$NAS_USER" -g "$NAS_USER" "$home/.ssh"
install -m 600 -o "$NAS_USER" -g "$NAS_USER" "$NAS_STATE/client_ed25519.pub" "$home/.ssh/authorized_keys"

# 5. sshd on loopback with its own config.
mkdir -p /run/sshd
cat > "$NAS_STATE/sshd_config" <<CONF
Port $NAS_SSH_PORT
Port $NAS_SSH_PORT_SYNOLOGY
Port $NAS_SSH_PORT_NOGIT
ListenAddress 127.0.0.1
HostKey $NAS_STATE/ssh_host_ed25519_key
PidFile $NAS_STATE/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
MaxSessions 64
MaxStartups 100:30:200
LogLevel VERBOSE
Subsystem sftp internal-sftp
Match LocalPort $NAS_SSH_PORT_SYNOLOGY
  SetEnv PATH=$NAS_STATE/synology-bin
Match LocalPort $NAS_SSH_PORT_NOGIT
  SetEnv PATH=$NAS_STATE/nogit-bin
Match User ${NAS_USER}bb
  SetEnv PATH=$NAS_STATE/busybox-bin
CONF
/usr/sbin/sshd -t -f "$NAS_STATE/sshd_config"
if ! { [ -f "$NAS_STATE/sshd.pid" ] && kill -0 "$(cat "$NAS_STATE/sshd.pid")" 2>/dev/null; }; then
  say "starting sshd on 127.0.0.1:$NAS_SSH_PORT"
  /usr/sbin/sshd -f "$NAS_STATE/sshd_config" -E "$NAS_STATE/sshd.log"
else
  kill -HUP "$(cat "$NAS_STATE/sshd.pid")"   # pick up a changed config
fi
ssh-keygen -l -f "$NAS_STATE/ssh_host_ed25519_key.pub" | awk '{print $2}' > "$NAS_STATE/host_fingerprint"

"$here/bastion.sh"   # the jump host and the runner's network namespace (issue #16)

# 6. The application: bare origin, NAS checkout, monitoring answers.
"$here/reset.sh" --if-missing
"$here/prometheus.sh"   # the metrics store of the release watch (issue 17)
bash "$here/postgres.sh"   # the database server image of the backup tests (issue 13)
bash "$here/mariadb.sh"   # the MySQL/MariaDB server image of the backup tests (issue 13)
bash "$here/services.sh" --if-missing   # the three-service sample application (issue 14)
bash "$here/image-sources.sh"   # the registry and the runner's own engine (issue 14)
bash "$here/bluegreen.sh"   # nginx and the blue-green sample (issue 15)
say "ready: ssh -i $NAS_STATE/client_ed25519 -p $NAS_SSH_PORT $NAS_USER@127.0.0.1 (host key $(cat "$NAS_STATE/host_fingerprint"))"
