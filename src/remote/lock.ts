import { exitCodeDefinitions, exitCodes } from './program.js';
import { Shell, sh } from './shell.js';

/** How the lock holder ends when it cannot hold the lock (it also says why, in a marker). */
export const LockExit = {
  NoRepo: 68,
  ToolMissing: 69,
  NoStateDir: 70,
  LockTimeout: 75,
  /** timeout(1)'s code: the first questions ran past STATE_PROGRAM_LIMIT on the NAS. */
  StateTimedOut: 124,
} as const;
const EXIT = exitCodes(LockExit);

/** Seconds without a heartbeat after which the NAS lets go of a lock whose runner vanished. */
export const LOCK_HEARTBEAT_GRACE = 45;
/** How often the runner sends one. */
export const LOCK_HEARTBEAT_EVERY = 10;
/** Seconds the first questions may take on the NAS (the runner gives them 120 from `locked`). */
export const STATE_PROGRAM_LIMIT = 110;

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
 * `then` runs in a session of its own (one process group), bounded by
 * `thenTimeout` on the NAS, while the heartbeats are already watched: when the
 * runner goes away during it (EOF, or no heartbeat), its whole group is ended
 * and the lock dropped at once, so a hung fetch or a wedged dockerd cannot
 * keep it.
 */
export function lockHolder(opts: {
  stateDir: string;
  holder: string;
  timeout: number;
  marker: string;
  path: string;
  then?: Shell;
  /** Seconds `then` may run on the NAS. */
  thenTimeout?: number;
}): Shell {
  const heartbeats = sh`while nr_beat=$(timeout ${LOCK_HEARTBEAT_GRACE} head -n 1) && [ -n "$nr_beat" ]; do :; done`;
  return sh`NR_M=${opts.marker}
PATH=${opts.path}:"$PATH"; export PATH
${exitCodeDefinitions()}
for nr_t in flock timeout setsid; do command -v "$nr_t" >/dev/null 2>&1 || { printf '%s missing %s\\n' "$NR_M" "$nr_t"; ${EXIT.exit(LockExit.ToolMissing)}; }; done
nr_dir=${opts.stateDir}; nr_left=${opts.timeout}
[ -d "\${nr_dir%/*}" ] || { printf '%s norepo\\n' "$NR_M"; ${EXIT.exit(LockExit.NoRepo)}; }
mkdir -p "$nr_dir" || ${EXIT.exit(LockExit.NoStateDir)}
exec 9>>"$nr_dir/lock" || ${EXIT.exit(LockExit.NoStateDir)}
nr_holder() { cat "$nr_dir/holder" 2>/dev/null | head -c 2000 | tr '\\n' ' '; }
while ! flock -n 9; do
  if [ "$nr_left" -le 0 ]; then printf '%s timeout %s\\n' "$NR_M" "$(nr_holder)"; ${EXIT.exit(LockExit.LockTimeout)}; fi
  printf '%s held %s\\n' "$NR_M" "$(nr_holder)"
  nr_step=10; [ "$nr_left" -lt 10 ] && nr_step=$nr_left
  flock -w "$nr_step" 9 && break
  nr_left=$((nr_left - nr_step))
done
exec 8>>"$nr_dir/busy"
if ! flock -n 8; then
  printf '%s phase %s\\n' "$NR_M" "waiting for a release phase left running by an interrupted run"
  flock -w "$((nr_left > 0 ? nr_left : 1))" 8 || { printf '%s timeout %s\\n' "$NR_M" "a detached release phase still running"; ${EXIT.exit(LockExit.LockTimeout)}; }
fi
exec 8>&-
printf '%s\\n' ${opts.holder} > "$nr_dir/holder"
printf '%s locked\\n' "$NR_M"
${opts.then ? thenUnderLock(opts.then, opts.marker, opts.thenTimeout ?? STATE_PROGRAM_LIMIT, heartbeats) : heartbeats}
: > "$nr_dir/holder"`;
}

/**
 * Runs the first questions (a whole program, handed to `sh -s` as a quoted
 * here-doc: nothing on a command line) in a session of their own under
 * `timeout`, with the heartbeat loop listening in the background from the
 * start. When that loop ends before the questions do (the runner is gone), it
 * signals the holder, which ends the questions' process group and exits,
 * dropping the lock. Otherwise the holder reports `state <code>` and keeps the
 * lock as long as the heartbeats come.
 */
function thenUnderLock(then: Shell, marker: string, limit: number, heartbeats: Shell): Shell {
  const end = `NR_STATE_END_${marker.replace(/\W/g, '')}`;
  if (then.text.split('\n').includes(end)) throw new Error('the first program contains its own end line');
  return sh`nr_gone=
trap 'nr_gone=1' USR1
exec 3<&0
setsid timeout ${limit} sh -s 3<&- 9>&- <<'${new Shell(end)}' &
${then}
${new Shell(end)}
nr_state=$!
( ${heartbeats}; kill -USR1 $$ 2>/dev/null ) <&3 3<&- 9>&- &
nr_watch=$!
exec 3<&-
wait "$nr_state"; nr_rc=$?
# what the questions left behind (or all of them, when the runner is gone) goes with their group
kill -TERM -"$nr_state" 2>/dev/null
if [ -n "$nr_gone" ]; then : > "$nr_dir/holder"; exit 0; fi
printf '%s state %s\\n' "$NR_M" "$nr_rc"
wait "$nr_watch"`;
}
