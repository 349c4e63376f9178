#!/usr/bin/env bash
# Puts the stand-in NAS's application back to its known first state: no
# containers or images of the sample application, a bare origin holding one
# seed commit, a fresh NAS checkout of it, and the default monitoring answers.
# --if-missing: do it only when there is no origin yet (used by up.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"

if [ "${1:-}" = --if-missing ] && [ -d "$NAS_ORIGIN" ] && [ -d "$NAS_REPO/.git" ]; then exit 0; fi

as_nas() { runuser -u "$NAS_USER" -- env HOME="$(getent passwd "$NAS_USER" | cut -d: -f6)" "$@"; }

# Containers of the sample application, and any leftover holding one of its names.
ids=$( { docker ps -aq --filter name="^scanium-"; docker ps -aq --filter label=com.docker.compose.project=backend; docker ps -aq --filter label=com.docker.compose.project=monitoring; } | sort -u)
[ -z "$ids" ] || docker rm -f $ids >/dev/null
imgs=$(docker images -q scanium-backend | sort -u)
[ -z "$imgs" ] || docker rmi -f $imgs >/dev/null 2>&1 || true

rm -rf "$NAS_ORIGIN" "$NAS_REPO" "$NAS_ANSWERS"
install -d -o "$NAS_USER" -g "$NAS_USER" "$NAS_VOLUME" "$NAS_VOLUME/git" "$NAS_VOLUME/docker" "$NAS_APP_DIR" "$NAS_APP_DIR/standin"
as_nas git init -q --bare -b main "$NAS_ORIGIN"

seed=$(mktemp -d)
cp -a "$here/app/." "$seed/"
chown -R "$NAS_USER:$NAS_USER" "$seed"
(
  cd "$seed"
  export GIT_AUTHOR_NAME=Developer GIT_AUTHOR_EMAIL=dev@example.test GIT_COMMITTER_NAME=Developer GIT_COMMITTER_EMAIL=dev@example.test
  export GIT_AUTHOR_DATE='2026-01-10T12:00:00Z' GIT_COMMITTER_DATE='2026-01-10T12:00:00Z'
  as_nas git init -q -b main .
  as_nas git add -A
  as_nas git commit -q -m 'Seed: sample backend and monitoring stack'
  as_nas git push -q "$NAS_ORIGIN" main
)
rm -rf "$seed"
as_nas git clone -q "$NAS_ORIGIN" "$NAS_REPO"
as_nas git -C "$NAS_REPO" config user.name 'NAS'
as_nas git -C "$NAS_REPO" config user.email 'nas@example.test'
# shared with the sudo test users through the NAS user's group
as_nas git -C "$NAS_REPO" config core.sharedRepository group
as_nas git -C "$NAS_ORIGIN" config core.sharedRepository group
chmod -R g+rwX "$NAS_REPO" "$NAS_ORIGIN"

mkdir -p "$NAS_ANSWERS"
cp -a "$here/answers/." "$NAS_ANSWERS/"
chown -R "$NAS_USER:$NAS_USER" "$NAS_ANSWERS"
