import { PRELUDE } from './program.js';
import { Shell, lines, sh } from './shell.js';

/**
 * Runs a phase on the NAS in its own session (`setsid`), detached from the
 * SSH channel, so that a hang-up cannot cut a recreate in half: the phase
 * finishes (including its health wait and its own rollback) even when the
 * runner vanishes. While it runs it holds the `busy` lock, which the next
 * release waits for. The channel follows its log and relays it, markers
 * included, and exits with the phase's status.
 */
export function detached(stateDir: string, phase: Shell): Shell {
  const inner = lines(
    sh`exec 8>>"$1/busy"; flock 8`,
    new Shell('('),
    PRELUDE,
    phase,
    new Shell(')'),
    sh`echo $? > "$1/phase.rc"`,
  );
  return sh`nr_dir=${stateDir}
mkdir -p "$nr_dir"
rm -f "$nr_dir/phase.rc"; : > "$nr_dir/phase.log"
NR_M="$NR_M" PATH="$PATH" setsid sh -c ${inner.text} nr-phase "$nr_dir" </dev/null >>"$nr_dir/phase.log" 2>&1 &
nr_pid=$!
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
  nr_polls=$((nr_polls + 1)); if [ "$nr_polls" -lt 200 ]; then nr_sleep 0.05; else nr_sleep 0.3; fi
done
exit "$(cat "$nr_dir/phase.rc")"`;
}
