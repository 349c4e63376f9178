#!/bin/sh
# A phase run detached on the NAS (see detached.ts): written to DIR/phase.sh, run in a session of its own under the
# busy lock, its log followed and relayed by this channel. Descriptor 7 holds the follow lock, 8 the busy lock.

# nr_phase_prepare DIR: one follower at a time reads the phase files (an older one may still be reading its status),
# and one phase runs
nr_phase_prepare() {
  nr_dir=$1
  mkdir -p "$nr_dir"
  exec 7>>"$nr_dir/follow"; flock 7
  exec 8>>"$nr_dir/busy"; flock 8
  rm -f "$nr_dir/phase.rc"; : > "$nr_dir/phase.log"
}

# nr_phase_write: the phase file (mode 600), from standard input
nr_phase_write() { ( umask 077; cat > "$nr_dir/phase.sh" ); }

# nr_phase_nap SECONDS: a nap that the phase's end (SIGCHLD, trapped) cuts short
nr_phase_nap() { nr_sleep "$1" & nr_nap_pid=$!; wait "$nr_nap_pid"; kill "$nr_nap_pid" 2>/dev/null; }

# nr_phase_follow: starts the phase, relays its log until it has a status, and exits with that status
nr_phase_follow() {
  NR_M="$NR_M" PATH="$PATH" setsid sh "$nr_dir/phase.sh" "$nr_dir" </dev/null >>"$nr_dir/phase.log" 2>&1 7>&- &
  nr_pid=$!
  # the phase holds the busy lock from here on, whatever happens to this channel
  exec 8>&-
  # the phase is this shell's child: its end (SIGCHLD) cuts the nap before the next poll short, so its status goes
  # back at once rather than up to a poll later (dash and BusyBox ash end a wait on a trapped signal; bash naps on)
  trap : CHLD
  nr_off=0; nr_idle=0; nr_polls=0
  while :; do
    nr_done=0; [ -s "$nr_dir/phase.rc" ] && nr_done=1
    nr_size=$(wc -c < "$nr_dir/phase.log"); nr_size=$((nr_size))
    if [ "$nr_size" -gt "$nr_off" ]; then
      tail -c +"$((nr_off + 1))" "$nr_dir/phase.log" | head -c "$((nr_size - nr_off))"; nr_off=$nr_size
    fi
    [ "$nr_done" = 1 ] && break
    if ! kill -0 "$nr_pid" 2>/dev/null; then
      nr_idle=$((nr_idle + 1)); [ "$nr_idle" -gt 25 ] && { echo "the detached phase ended without a status" >&2; exit 1; }
    fi
    # poll often while a phase is young (most end within seconds: the runner waits for that), then less
    nr_polls=$((nr_polls + 1)); if [ "$nr_polls" -lt 200 ]; then nr_phase_nap 0.05; else nr_phase_nap 0.3; fi
  done
  exit "$(cat "$nr_dir/phase.rc")"
}
