#!/usr/bin/env bash
# The stand-in NAS's second sample application (issue 14): three compose
# services (test/nas/app/multi) in an origin and a NAS checkout of their own,
# the compose file in the checkout's nrs/ folder (compose project "nrs").
#   (no argument)  back to the seed: no containers or images of it, a fresh origin and checkout
#   --if-missing   only when the origin or the checkout is missing (up.sh)
#   --down         only removes its containers and images
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
NRS_DIR=$NAS_VOLUME/docker/nrs-multi
NRS_REPO=$NRS_DIR/repo
NRS_ORIGIN=$NAS_VOLUME/git/nrs-multi.git

as_nas() { runuser -u "$NAS_USER" -- env HOME="$(getent passwd "$NAS_USER" | cut -d: -f6)" "$@"; }

if [ "${1:-}" = --if-missing ] && [ -d "$NRS_ORIGIN" ] && [ -d "$NRS_REPO/.git" ]; then exit 0; fi

# Only what this application made: its compose project's containers, the nrs-* names, its two images.
ids=$( { docker ps -aq --filter label=com.docker.compose.project=nrs; docker ps -aq --filter name='^nrs-'; } | sort -u)
[ -z "$ids" ] || docker rm -f $ids >/dev/null
imgs=$(docker images -q nrs-api; docker images -q nrs-web)
[ -z "$imgs" ] || docker rmi -f $(printf '%s\n' $imgs | sort -u) >/dev/null 2>&1 || true
[ "${1:-}" = --down ] && exit 0

rm -rf "$NRS_ORIGIN" "$NRS_REPO"
install -d -o "$NAS_USER" -g "$NAS_USER" "$NAS_VOLUME/git" "$NAS_VOLUME/docker" "$NRS_DIR"
as_nas git init -q --bare -b main "$NRS_ORIGIN"
seed=$(mktemp -d)
mkdir "$seed/nrs"
cp -a "$here/app/multi/." "$seed/nrs/"
chown -R "$NAS_USER:$NAS_USER" "$seed"
(
  cd "$seed"
  export GIT_AUTHOR_NAME=Developer GIT_AUTHOR_EMAIL=dev@example.test GIT_COMMITTER_NAME=Developer GIT_COMMITTER_EMAIL=dev@example.test
  export GIT_AUTHOR_DATE='2026-01-10T12:00:00Z' GIT_COMMITTER_DATE='2026-01-10T12:00:00Z'
  as_nas git init -q -b main .
  as_nas git add -A
  as_nas git commit -q -m 'Seed: three services from two images'
  as_nas git push -q "$NRS_ORIGIN" main
)
rm -rf "$seed"
as_nas git clone -q "$NRS_ORIGIN" "$NRS_REPO"
as_nas git -C "$NRS_REPO" config user.name 'NAS'
as_nas git -C "$NRS_REPO" config user.email 'nas@example.test'
