#!/bin/sh
# The release lock (see lock.ts): this process holds flock on DIR/lock for as long as the runner keeps its channel
# open and sends heartbeats; the markers it prints are `held`, `timeout`, `missing`, `norepo`, `phase`, `locked` and
# `state`. Descriptor 9 holds the lock, 8 the busy lock while it is checked, 3 the channel's input during `then`.

# nr_lock_holder: who holds the lock, on one line
nr_lock_holder() { head -c 2000 "$nr_dir/holder" 2>/dev/null | tr '\n' ' '; }

# nr_lock_take DIR TIMEOUT HOLDER: takes the lock (waiting up to TIMEOUT seconds, saying who holds it), then waits
# for a detached phase that an earlier, vanished holder left running; writes HOLDER and prints `locked`
nr_lock_take() {
  for nr_t in flock timeout setsid; do
    command -v "$nr_t" >/dev/null 2>&1 || { printf '%s missing %s\n' "$NR_M" "$nr_t"; exit "$NR_EXIT_TOOL_MISSING"; }
  done
  nr_dir=$1; nr_left=$2
  [ -d "${nr_dir%/*}" ] || { printf '%s norepo\n' "$NR_M"; exit "$NR_EXIT_NO_REPO"; }
  mkdir -p "$nr_dir" || exit "$NR_EXIT_NO_STATE_DIR"
  exec 9>>"$nr_dir/lock" || exit "$NR_EXIT_NO_STATE_DIR"
  while ! flock -n 9; do
    if [ "$nr_left" -le 0 ]; then printf '%s timeout %s\n' "$NR_M" "$(nr_lock_holder)"; exit "$NR_EXIT_LOCK_TIMEOUT"; fi
    printf '%s held %s\n' "$NR_M" "$(nr_lock_holder)"
    nr_step=10; [ "$nr_left" -lt 10 ] && nr_step=$nr_left
    flock -w "$nr_step" 9 && break
    nr_left=$((nr_left - nr_step))
  done
  exec 8>>"$nr_dir/busy"
  if ! flock -n 8; then
    printf '%s phase %s\n' "$NR_M" "waiting for a release phase left running by an interrupted run"
    flock -w "$((nr_left > 0 ? nr_left : 1))" 8 || { printf '%s timeout %s\n' "$NR_M" "a detached release phase still running"; exit "$NR_EXIT_LOCK_TIMEOUT"; }
  fi
  exec 8>&-
  printf '%s\n' "$3" > "$nr_dir/holder"
  printf '%s locked\n' "$NR_M"
}

# nr_lock_heartbeats GRACE: returns when the channel's input ends or no heartbeat comes for GRACE seconds
nr_lock_heartbeats() { while nr_beat=$(timeout "$1" head -n 1) && [ -n "$nr_beat" ]; do :; done; }

# nr_lock_let_go: the holder file says nobody holds the lock (the kernel drops the lock itself when this process ends)
nr_lock_let_go() { : > "$nr_dir/holder"; }

# nr_lock_then_start: before the first questions start (in the background, their input a here-document): the
# channel's input is kept on descriptor 3 for the heartbeats, and USR1 says the runner is gone
nr_lock_then_start() {
  nr_gone=
  trap 'nr_gone=1' USR1
  exec 3<&0
}

# nr_lock_then_wait PID GRACE: watches the heartbeats while the first questions (PID, a session of their own) run.
# When the runner goes away first, their whole group is ended and the holder exits, dropping the lock; otherwise it
# prints `state <code>` and keeps the lock as long as the heartbeats come.
nr_lock_then_wait() {
  nr_state=$1
  ( nr_lock_heartbeats "$2"; kill -USR1 $$ 2>/dev/null ) <&3 3<&- 9>&- &
  nr_watch=$!
  exec 3<&-
  wait "$nr_state"; nr_rc=$?
  # what the questions left behind (or all of them, when the runner is gone) goes with their group
  kill -TERM -"$nr_state" 2>/dev/null
  if [ -n "$nr_gone" ]; then nr_lock_let_go; exit 0; fi
  printf '%s state %s\n' "$NR_M" "$nr_rc"
  wait "$nr_watch"
}
