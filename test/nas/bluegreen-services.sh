#!/usr/bin/env bash
# The stand-in NAS's sample of several services as blue-green colours
# (test/nas/app-bluegreen-services): an API and a worker from one image
# (nrq-app, built on the NAS by the release) in the colours nrq-blue and
# nrq-green, behind nginx (nrg-nginx, 127.0.0.1:18130; colours 18131, 18132),
# a shared PostgreSQL (nas-postgres on 127.0.0.1:55441, project nrq) and a
# shared volume nrq_data. Root; needs the images of postgres.sh and bluegreen.sh.
#   --if-missing  only when the origin or the checkout is missing (up.sh)
#   --reset       back to the seed: no containers, volumes or images of it, a
#                 fresh origin and checkout, the database started as an admin would
#   --down        only removes its containers, volumes and images
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
. "$here/seed.sh"
NRQ_ORIGIN=$NAS_VOLUME/git/nrq.git
NRQ_REPO=$NAS_VOLUME/docker/nrq/repo
say() { printf '[nas/bluegreen-services] %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo 'bluegreen-services.sh needs root' >&2; exit 1; }
if [ "${1:-}" = --if-missing ] && [ -d "$NRQ_ORIGIN" ] && [ -d "$NRQ_REPO/.git" ]; then exit 0; fi

ids=$(for p in nrq nrq-blue nrq-green; do docker ps -aq --filter label=com.docker.compose.project=$p; done | sort -u)
[ -z "$ids" ] || docker rm -f $ids >/dev/null
vols=$( { printf '%s\n' nrq_data nrq_pgdata; for p in nrq nrq-blue nrq-green; do docker volume ls -q --filter label=com.docker.compose.project=$p; done; } | sort -u)
for v in $vols; do docker volume rm "$v" >/dev/null 2>&1 || true; done
imgs=$(docker images -q nrq-app | sort -u)
[ -z "$imgs" ] || docker rmi -f $imgs >/dev/null 2>&1 || true
[ "${1:-}" = --down ] && exit 0

for image in nas-postgres:latest nrg-nginx:latest; do
  docker image inspect "$image" >/dev/null 2>&1 || { echo "bluegreen-services.sh: $image is missing (run postgres.sh and bluegreen.sh)" >&2; exit 1; }
done
rm -rf "$NRQ_ORIGIN" "$NRQ_REPO"
install -d -o "$NAS_USER" -g "$NAS_USER" "$NAS_VOLUME/git" "$NAS_VOLUME/docker" "$NAS_VOLUME/docker/nrq"
seed_sample "$NRQ_ORIGIN" "$NRQ_REPO" "$here/app-bluegreen-services" '' 'Seed: an API and a worker as blue-green colours'
# the shared database runs before the first release, started as the application's admin would
( cd "$NRQ_REPO/nrq" && docker-compose --project-name nrq up --detach --no-build db >/dev/null 2>&1 )
for _ in $(seq 1 60); do
  docker exec "$(docker ps -q --filter label=com.docker.compose.project=nrq --filter label=com.docker.compose.service=db)" pg_isready -h 127.0.0.1 -p 55441 >/dev/null 2>&1 && break
  sleep 0.5
done
say "sample ready in $NRQ_REPO (database on 127.0.0.1:55441)"
