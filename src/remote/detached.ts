import { randomBytes } from 'node:crypto';
import { linked } from './program.js';
import { Shell, lines, sh } from './shell.js';

/**
 * Runs a phase on the NAS in its own session (`setsid`), detached from the
 * SSH channel, so that a hang-up cannot cut a recreate in half: the phase
 * finishes (including its health wait and its own rollback) even when the
 * runner vanishes. While it runs it holds the `busy` lock, which the next
 * release waits for. The channel follows its log and relays it, markers
 * included, and exits with the phase's status.
 *
 * The follower takes the busy lock before it touches the phase's files and
 * hands it to the phase it launches, so a phase started while another still
 * runs waits for it rather than relaying its log and status (and for the
 * follower of that one, until it has read its status). The phase
 * itself goes over as a file (mode 600, beside the lock), written from a
 * quoted here-doc of this program, which arrives on standard input: nothing
 * of it (hooks, history, the run's marker) is on a command line, and its size
 * has no argument limit.
 */
export function detached(stateDir: string, phase: Shell): Shell {
  const end = new Shell(`NR_PHASE_END_${randomBytes(8).toString('hex')}`);
  // The phase file is a program of its own: it gets what it uses (exit codes, prelude, libraries) itself.
  const body = lines(
    linked(lines(new Shell('('), phase, new Shell(')'))),
    sh`nr_rc=$?
rm -f "$1/phase.sh"
echo "$nr_rc" > "$1/phase.rc"`,
  );
  if (body.text.split('\n').includes(end.text)) throw new Error('the phase contains its own end line');
  return sh`nr_phase_prepare ${stateDir}
nr_phase_write <<'${end}'
${body}
${end}
nr_phase_follow`;
}
