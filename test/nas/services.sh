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

. "$here/seed.sh"

if [ "${1:-}" = --if-missing ] && [ -d "$NRS_ORIGIN" ] && [ -d "$NRS_REPO/.git" ]; then exit 0; fi

# Only what this application made: its compose project's containers, the nrs-* names, its two images.
ids=$( { docker ps -aq --filter label=com.docker.compose.project=nrs; docker ps -aq --filter name='^nrs-'; } | sort -u)
[ -z "$ids" ] || docker rm -f $ids >/dev/null
imgs=$(docker images -q nrs-api; docker images -q nrs-web)
[ -z "$imgs" ] || docker rmi -f $(printf '%s\n' $imgs | sort -u) >/dev/null 2>&1 || true
[ "${1:-}" = --down ] && exit 0

rm -rf "$NRS_ORIGIN" "$NRS_REPO"
install -d -o "$NAS_USER" -g "$NAS_USER" "$NAS_VOLUME/git" "$NAS_VOLUME/docker" "$NRS_DIR"
seed_sample "$NRS_ORIGIN" "$NRS_REPO" "$here/app/multi" nrs 'Seed: three services from two images'
