#!/bin/sh
# The NAS side of the CLI's day-two commands (status, logs): read-only, and without the release lock. They use
# nr_docker (the tool functions) and the prelude.

# nr_flock_state FILE: `held` when some process holds a flock on FILE, `free` when none does (or FILE does not
# exist), `unknown` when /proc/locks cannot be read. Looks at the kernel's table: takes nothing.
nr_flock_state() {
  [ -e "$1" ] || { echo free; return; }
  [ -r /proc/locks ] || { echo unknown; return; }
  # shellcheck disable=SC2012 # ls -di is the portable way to an inode number (BusyBox find has no -printf)
  nr_ino=$(ls -di "$1" 2>/dev/null | awk '{print $1}')
  [ -n "$nr_ino" ] || { echo unknown; return; }
  if grep -Eq "FLOCK .* [0-9a-f]+:[0-9a-f]+:$nr_ino " /proc/locks; then echo held; else echo free; fi
}

# nr_status_containers FORMAT PROJECT...: `docker container inspect --format FORMAT` of every container of the
# compose projects
nr_status_containers() {
  nr_format=$1; shift
  for nr_p in "$@"; do
    nr_ids=$(nr_docker container ls --all --quiet --filter "label=com.docker.compose.project=$nr_p" 2>/dev/null)
    # shellcheck disable=SC2086 # one word per container id
    [ -z "$nr_ids" ] || nr_docker container inspect --format "$nr_format" $nr_ids 2>/dev/null
  done
}

# nr_status DIR LIVE_FILE FORMAT PROJECT...: status's values: the live colour, the release lock and the busy lock,
# the lock's holder, the containers
nr_status() {
  nr_dir=$1; nr_live=$2; nr_format=$3; shift 3
  # shellcheck disable=SC2018 # a colour is ASCII, and programs run with LC_ALL=C
  nr_value live_color "$(head -n 1 "$nr_dir/$nr_live" 2>/dev/null | tr -cd 'a-z')"
  nr_value lock "$(nr_flock_state "$nr_dir/lock")"
  nr_value phase "$(nr_flock_state "$nr_dir/busy")"
  nr_value holder_b64 "$(head -c 2000 "$nr_dir/holder" 2>/dev/null | base64 | tr -d '\n')"
  nr_value containers_b64 "$(nr_status_containers "$nr_format" "$@" | base64 | tr -d '\n')"
}

# nr_logs_start FOLLOW: before the projects' logs; with FOLLOW (1), the channel's input is kept on descriptor 3 for
# nr_logs_wait (a background job's own input is /dev/null)
nr_logs_start() {
  nr_any=; nr_pids=; nr_rc=0
  if [ "$1" = 1 ]; then exec 3<&0; fi
}

# nr_logs_has PROJECT [SERVICE]: true when the compose project has a container (of SERVICE)
nr_logs_has() {
  if [ -n "$2" ]; then
    nr_ids=$(nr_docker container ls --all --quiet --filter "label=com.docker.compose.project=$1" --filter "label=com.docker.compose.service=$2" 2>/dev/null)
  else
    nr_ids=$(nr_docker container ls --all --quiet --filter "label=com.docker.compose.project=$1" 2>/dev/null)
  fi
  [ -n "$nr_ids" ]
}

# nr_logs_print COMMAND...: prints one project's logs; the last failure is the program's status
nr_logs_print() { nr_any=1; "$@" || nr_rc=$?; }

# nr_logs_follow COMMAND...: follows one project's logs in a session of its own (a process group nr_logs_wait ends
# whole: compose may run children)
nr_logs_follow() { nr_any=1; setsid "$@" 3<&- & nr_pids="$nr_pids $!"; }

# nr_logs_wait: the followers run until the runner ends the channel's input (Ctrl-C); then each session is ended, so
# nothing is left following on the NAS
nr_logs_wait() {
  ( cat >/dev/null; for nr_p in $nr_pids; do kill -TERM -"$nr_p" 2>/dev/null; done ) <&3 3<&- &
  nr_watch=$!
  exec 3<&-
  # shellcheck disable=SC2086 # one word per follower
  wait $nr_pids
  kill "$nr_watch" 2>/dev/null
  exit 0
}

# nr_logs_end NONE_EXIT: exits NONE_EXIT when no project had a container; else follows until Ctrl-C (nr_logs_wait),
# or exits with the last failure of the logs printed
nr_logs_end() {
  [ -n "$nr_any" ] || exit "$1"
  [ -z "$nr_pids" ] || nr_logs_wait
  exit "$nr_rc"
}
