#!/usr/bin/env bash
# Puts the stand-in NAS's application back to its known first state: no
# containers or images of the sample application, a bare origin holding one
# seed commit, a fresh NAS checkout of it, and the default monitoring answers.
# --if-missing: do it only when there is no origin yet (used by up.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"

if [ "${1:-}" = --if-missing ] && [ -d "$NAS_ORIGIN" ] && [ -d "$NAS_REPO/.git" ]; then exit 0; fi

. "$here/seed.sh"

# Containers of the sample application, and any leftover holding one of its names.
ids=$( { docker ps -aq --filter name="^scanium-"; docker ps -aq --filter label=com.docker.compose.project=backend; docker ps -aq --filter label=com.docker.compose.project=monitoring; } | sort -u)
[ -z "$ids" ] || docker rm -f $ids >/dev/null
imgs=$(docker images -q scanium-backend | sort -u)
[ -z "$imgs" ] || docker rmi -f $imgs >/dev/null 2>&1 || true

rm -rf "$NAS_ORIGIN" "$NAS_REPO" "$NAS_ANSWERS"
install -d -o "$NAS_USER" -g "$NAS_USER" "$NAS_VOLUME" "$NAS_VOLUME/git" "$NAS_VOLUME/docker" "$NAS_APP_DIR" "$NAS_APP_DIR/standin"
seed_sample "$NAS_ORIGIN" "$NAS_REPO" "$here/app" '' 'Seed: sample backend and monitoring stack'
# shared with the sudo test users through the NAS user's group
as_nas git -C "$NAS_REPO" config core.sharedRepository group
as_nas git -C "$NAS_ORIGIN" config core.sharedRepository group
chmod -R g+rwX "$NAS_REPO" "$NAS_ORIGIN"

mkdir -p "$NAS_ANSWERS"
cp -a "$here/answers/." "$NAS_ANSWERS/"
chown -R "$NAS_USER:$NAS_USER" "$NAS_ANSWERS"
