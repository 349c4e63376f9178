#!/usr/bin/env bash
# The jump host of the stand-in (issue #16), idempotently: the test runner lives in
# a network namespace of its own from which the NAS's sshd (127.0.0.1:2222 of the
# root namespace) cannot be reached; a bastion sshd on the namespace's link forwards
# to it. Called by up.sh; `bastion.sh --down` undoes it (down.sh).
#
#   runner (netns nr-runner, 10.201.0.2) --veth--> bastion sshd 10.201.0.1:2230 --> NAS sshd 127.0.0.1:2222
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"

NETNS=nr-runner
VETH_ROOT=nr-bastion0
VETH_NS=nr-runner0
ADDR_ROOT=10.201.0.1
ADDR_NS=10.201.0.2
BASTION_PORT=2230
BASTION_USER=nasjump
BASTION_DIR=$NAS_STATE/bastion
# The jump host tests' proxy in front of the NAS's sshd, to cut the link between the bastion and the NAS.
NAS_PROXY_PORT=2232

say() { printf '[bastion] %s\n' "$*"; }

stop_sshd() {
  if [ -f "$BASTION_DIR/sshd.pid" ]; then
    kill "$(cat "$BASTION_DIR/sshd.pid")" 2>/dev/null || true
    rm -f "$BASTION_DIR/sshd.pid"
  fi
}

if [ "${1:-}" = --down ]; then
  stop_sshd
  ip netns del "$NETNS" 2>/dev/null || true   # takes its end of the veth pair, and with it the other end
  ip link del "$VETH_ROOT" 2>/dev/null || true
  say down
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "[bastion] ERROR: needs root" >&2; exit 1; }
command -v ip >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null; }

# 1. The runner's namespace and its one link, to the bastion's address only.
ip netns list | grep -qw "$NETNS" || ip netns add "$NETNS"
if ! ip link show "$VETH_ROOT" >/dev/null 2>&1; then
  ip link add "$VETH_ROOT" type veth peer name "$VETH_NS"
  ip link set "$VETH_NS" netns "$NETNS"
fi
ip addr replace "$ADDR_ROOT/30" dev "$VETH_ROOT"
ip link set "$VETH_ROOT" up
ip -n "$NETNS" addr replace "$ADDR_NS/30" dev "$VETH_NS"
ip -n "$NETNS" link set "$VETH_NS" up
ip -n "$NETNS" link set lo up

# 2. Keys: the bastion's own host key, and a client key of its own (not the NAS's).
mkdir -p "$BASTION_DIR"
[ -f "$BASTION_DIR/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$BASTION_DIR/ssh_host_ed25519_key"
[ -f "$BASTION_DIR/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C nas-release-jump-tests -f "$BASTION_DIR/client_ed25519"
ssh-keygen -l -f "$BASTION_DIR/ssh_host_ed25519_key.pub" | awk '{print $2}' > "$BASTION_DIR/host_fingerprint"

# 3. The bastion user: no shell, key login only, allowed to forward to the NAS's sshd and nowhere else.
id "$BASTION_USER" >/dev/null 2>&1 || useradd -m -s /usr/sbin/nologin "$BASTION_USER"
usermod -p '*' "$BASTION_USER"   # unlocked for sshd, no password
bhome=$(getent passwd "$BASTION_USER" | cut -d: -f6)
install -d -m 700 -o "$BASTION_USER" "$bhome/.ssh"
install -m 600 -o "$BASTION_USER" "$BASTION_DIR/client_ed25519.pub" "$bhome/.ssh/authorized_keys"

# 4. The bastion's sshd, on the namespace's link only.
mkdir -p /run/sshd
cat > "$BASTION_DIR/sshd_config" <<CONF
Port $BASTION_PORT
ListenAddress $ADDR_ROOT
HostKey $BASTION_DIR/ssh_host_ed25519_key
PidFile $BASTION_DIR/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $BASTION_USER
AllowTcpForwarding local
PermitOpen 127.0.0.1:$NAS_SSH_PORT 127.0.0.1:$NAS_PROXY_PORT
AllowAgentForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTTY no
ForceCommand /bin/false
MaxStartups 100:30:200
LogLevel VERBOSE
CONF
/usr/sbin/sshd -t -f "$BASTION_DIR/sshd_config"
if [ -f "$BASTION_DIR/sshd.pid" ] && kill -0 "$(cat "$BASTION_DIR/sshd.pid")" 2>/dev/null; then
  kill -HUP "$(cat "$BASTION_DIR/sshd.pid")"   # pick up a changed config
else
  say "starting the bastion sshd on $ADDR_ROOT:$BASTION_PORT"
  /usr/sbin/sshd -f "$BASTION_DIR/sshd_config" -E "$BASTION_DIR/sshd.log"
fi
say "ready: from netns $NETNS, ssh -J $BASTION_USER@$ADDR_ROOT:$BASTION_PORT (host key $(cat "$BASTION_DIR/host_fingerprint"))"
