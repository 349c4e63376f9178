import { exitCodes, linked } from './program.js';
import { Shell, lines, sh } from './shell.js';

/** How the lock holder ends when it cannot hold the lock (it also says why, in a marker). */
export const LockExit = {
  NoRepo: 68,
  ToolMissing: 69,
  NoStateDir: 70,
  LockTimeout: 75,
  /** timeout(1)'s code: the first questions ran past STATE_PROGRAM_LIMIT on the NAS. */
  StateTimedOut: 124,
} as const;
// Declared for the shell: src/nas-shell/lock.sh exits with them by name.
exitCodes(LockExit);

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
  const main = lines(
    sh`nr_lock_take ${opts.stateDir} ${opts.timeout} ${opts.holder}`,
    opts.then
      ? thenUnderLock(opts.then, opts.marker, opts.thenTimeout ?? STATE_PROGRAM_LIMIT)
      : sh`nr_lock_heartbeats ${LOCK_HEARTBEAT_GRACE}`,
    sh`nr_lock_let_go`,
  );
  // The holder prints its few markers itself: it needs neither the prelude nor a tool function.
  return lines(
    sh`NR_M=${opts.marker}
PATH=${opts.path}:"$PATH"; export PATH`,
    linked(main, { prelude: false }),
  );
}

/**
 * Runs the first questions (a whole program, handed to `sh -s` as a quoted
 * here-doc: nothing on a command line) in a session of their own under
 * `timeout`, with the heartbeat loop listening in the background from the
 * start. When that loop ends before the questions do (the runner is gone), it
 * signals the holder, which ends the questions' process group and exits,
 * dropping the lock. Otherwise the holder reports `state <code>` and keeps the
 * lock as long as the heartbeats come (src/nas-shell/lock.sh).
 */
function thenUnderLock(then: Shell, marker: string, limit: number): Shell {
  const end = new Shell(`NR_STATE_END_${marker.replace(/\W/g, '')}`);
  if (then.text.split('\n').includes(end.text)) throw new Error('the first program contains its own end line');
  return sh`nr_lock_then_start
setsid timeout ${limit} sh -s 3<&- 9>&- <<'${end}' &
${then}
${end}
nr_lock_then_wait "$!" ${LOCK_HEARTBEAT_GRACE}`;
}
