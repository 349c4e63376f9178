import { randomBytes } from 'node:crypto';
import { PRELUDE } from './program.js';
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
  const end = `NR_PHASE_END_${randomBytes(8).toString('hex')}`;
  const body = lines(
    new Shell('('),
    PRELUDE,
    phase,
    new Shell(')'),
    sh`nr_rc=$?
rm -f "$1/phase.sh"
echo "$nr_rc" > "$1/phase.rc"`,
  );
  if (body.text.split('\n').includes(end)) throw new Error('the phase contains its own end line');
  return sh`nr_dir=${stateDir}
mkdir -p "$nr_dir"
# one follower at a time reads the phase files (an older one may still be reading its status), and one phase runs
exec 7>>"$nr_dir/follow"; flock 7
exec 8>>"$nr_dir/busy"; flock 8
rm -f "$nr_dir/phase.rc"; : > "$nr_dir/phase.log"
( umask 077; cat > "$nr_dir/phase.sh" ) <<'${new Shell(end)}'
${body}
${new Shell(end)}
NR_M="$NR_M" PATH="$PATH" setsid sh "$nr_dir/phase.sh" "$nr_dir" </dev/null >>"$nr_dir/phase.log" 2>&1 7>&- &
nr_pid=$!
# the phase holds the busy lock from here on, whatever happens to this channel
exec 8>&-
# the phase is this shell's child: its end (SIGCHLD) cuts the nap before the next poll short, so its status
# goes back at once rather than up to a poll later (dash and BusyBox ash end a wait on a trapped signal; bash naps on)
trap : CHLD
nr_nap() { nr_sleep "$1" & nr_nap_pid=$!; wait "$nr_nap_pid"; kill "$nr_nap_pid" 2>/dev/null; }
nr_off=0; nr_idle=0; nr_polls=0
while :; do
  nr_done=0; [ -s "$nr_dir/phase.rc" ] && nr_done=1
  nr_size=$(wc -c < "$nr_dir/phase.log"); nr_size=$((nr_size))
  if [ "$nr_size" -gt "$nr_off" ]; then
    tail -c +"$((nr_off + 1))" "$nr_dir/phase.log" | head -c "$((nr_size - nr_off))"; nr_off=$nr_size
  fi
  [ "$nr_done" = 1 ] && break
  if ! kill -0 "$nr_pid" 2>/dev/null; then nr_idle=$((nr_idle + 1)); [ "$nr_idle" -gt 25 ] && { echo "the detached phase ended without a status" >&2; exit 1; }; fi
  # poll often while a phase is young (most end within seconds: the runner waits for that), then less
  nr_polls=$((nr_polls + 1)); if [ "$nr_polls" -lt 200 ]; then nr_nap 0.05; else nr_nap 0.3; fi
done
exit "$(cat "$nr_dir/phase.rc")"`;
}
