import { sh, type Shell } from './shell.js';

/** Seconds without a heartbeat after which the NAS lets go of a lock whose runner vanished. */
export const LOCK_HEARTBEAT_GRACE = 45;
/** How often the runner sends one. */
export const LOCK_HEARTBEAT_EVERY = 10;

/**
 * The release lock: a process on the NAS holds `flock` on a file for as long
 * as the runner keeps its channel open and sends heartbeats. When the runner
 * goes away (cancelled, killed, link cut) the channel reaches EOF or the
 * heartbeats stop, the process exits and the kernel drops the lock: nothing
 * stale is left to release by hand.
 *
 * The runner sends it as a brace group to `sh -s` (parsed whole, then run),
 * and keeps that input open: the heartbeats follow it on the same stream.
 *
 * Markers: `held <holder>` while waiting, `timeout <holder>`, `locked`.
 * Before reporting `locked` it also waits for a detached phase that an
 * earlier, vanished holder left running (see detached.ts). Then it runs
 * `then` (a program: the operation's first, read-only questions) under the
 * lock without another round trip, and reports its status as `state <code>`.
 */
export function lockHolder(opts: {
  stateDir: string;
  holder: string;
  timeout: number;
  marker: string;
  path: string;
  then?: Shell;
}): Shell {
  return sh`NR_M=${opts.marker}
PATH=${opts.path}:"$PATH"; export PATH
for nr_t in flock timeout; do command -v "$nr_t" >/dev/null 2>&1 || { printf '%s missing %s\\n' "$NR_M" "$nr_t"; exit 69; }; done
nr_dir=${opts.stateDir}; nr_left=${opts.timeout}
[ -d "\${nr_dir%/*}" ] || { printf '%s norepo\\n' "$NR_M"; exit 68; }
mkdir -p "$nr_dir" || exit 70
exec 9>>"$nr_dir/lock" || exit 70
nr_holder() { cat "$nr_dir/holder" 2>/dev/null | head -c 2000 | tr '\\n' ' '; }
while ! flock -n 9; do
  if [ "$nr_left" -le 0 ]; then printf '%s timeout %s\\n' "$NR_M" "$(nr_holder)"; exit 75; fi
  printf '%s held %s\\n' "$NR_M" "$(nr_holder)"
  nr_step=10; [ "$nr_left" -lt 10 ] && nr_step=$nr_left
  flock -w "$nr_step" 9 && break
  nr_left=$((nr_left - nr_step))
done
exec 8>>"$nr_dir/busy"
if ! flock -n 8; then
  printf '%s phase %s\\n' "$NR_M" "waiting for a release phase left running by an interrupted run"
  flock -w "$((nr_left > 0 ? nr_left : 1))" 8 || { printf '%s timeout %s\\n' "$NR_M" "a detached release phase still running"; exit 75; }
fi
exec 8>&-
printf '%s\\n' ${opts.holder} > "$nr_dir/holder"
printf '%s locked\\n' "$NR_M"
${
  opts.then
    ? sh`(
${opts.then}
) </dev/null 9>&-
printf '%s state %s\\n' "$NR_M" "$?"`
    : sh`:`
}
while nr_beat=$(timeout ${LOCK_HEARTBEAT_GRACE} head -n 1) && [ -n "$nr_beat" ]; do :; done
: > "$nr_dir/holder"`;
}
