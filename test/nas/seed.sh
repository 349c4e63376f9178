# Shared by the stand-in's sample applications (reset.sh, services.sh, bluegreen.sh, postgres.sh, mariadb.sh); sourced after config.sh.

# Runs a command as the NAS user, with its own HOME (git reads its config there).
as_nas() { runuser -u "$NAS_USER" -- env HOME="$(getent passwd "$NAS_USER" | cut -d: -f6)" "$@"; }

# seed_sample ORIGIN REPO SOURCE SUBDIR MESSAGE: a bare origin whose one commit holds the files of SOURCE
# (under SUBDIR of the repository, or at its root when SUBDIR is empty), and the NAS's checkout REPO cloned
# from it. The commit's author and date are fixed, so every stand-in starts from the same commit.
seed_sample() {
  local origin=$1 repo=$2 source=$3 subdir=$4 message=$5 seed
  as_nas git init -q --bare -b main "$origin"
  seed=$(mktemp -d)
  mkdir -p "$seed/$subdir"
  cp -a "$source/." "$seed/$subdir/"
  chown -R "$NAS_USER:$NAS_USER" "$seed"
  (
    cd "$seed"
    export GIT_AUTHOR_NAME=Developer GIT_AUTHOR_EMAIL=dev@example.test GIT_COMMITTER_NAME=Developer GIT_COMMITTER_EMAIL=dev@example.test
    export GIT_AUTHOR_DATE='2026-01-10T12:00:00Z' GIT_COMMITTER_DATE='2026-01-10T12:00:00Z'
    as_nas git init -q -b main .
    as_nas git add -A
    as_nas git commit -q -m "$message"
    as_nas git push -q "$origin" main
  )
  rm -rf "$seed"
  as_nas git clone -q "$origin" "$repo"
  as_nas git -C "$repo" config user.name 'NAS'
  as_nas git -C "$repo" config user.email 'nas@example.test'
}

# remove_sample_app PREFIX PROJECT: what a test application started, by container name prefix and by compose
# project, with the project's volumes.
remove_sample_app() {
  local ids vols
  ids=$(docker ps -aq --filter name="^$1" 2>/dev/null)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
  vols=$(docker volume ls -q --filter label=com.docker.compose.project="$2" 2>/dev/null)
  [ -z "$vols" ] || docker volume rm $vols >/dev/null
}
