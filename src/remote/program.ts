import { Shell, lines, sh } from './shell.js';

/**
 * One remote program: a phase of a flow sent to the NAS in one round trip.
 * Its text is built only from our own shell code and quoted values.
 */
export interface Program {
  /** What it does, for the log and for errors ("Building image"). */
  title: string;
  script: Shell;
  /** Seconds before the runner gives up on it. */
  timeout: number;
  /** Remote output is kept out of the log (read-only queries). */
  quiet?: boolean;
}

/**
 * The longest value printed on one line. A write to a pipe of up to PIPE_BUF
 * (4096 bytes on Linux) bytes is atomic; a longer one can be split, and a line
 * that a background job prints at that moment lands inside it. So a longer
 * value goes as lines of this size (`value+` appends to it).
 */
export const VALUE_CHUNK = 3000;

/**
 * Shell functions every program may use. `nr_say KIND TEXT` prints a progress
 * marker that the runner turns into a log line (`ok`, `warn`, `info`, `fail`,
 * `value NAME VALUE`; each of its lines is written whole, whatever else runs in the
 * background). `$NR_M` is a per-run nonce, so remote output cannot forge one.
 */
export const PRELUDE = new Shell(`nr_say() { nr_k=$1; shift; printf '%s %s %.${VALUE_CHUNK}s\\n' "$NR_M" "$nr_k" "$*"; }
nr_value() {
  # a long value goes in lines under PIPE_BUF; only plain ASCII (base64, lists) is cut, as a cut character would not
  # survive, and a NAS without fold sends it on one line
  if [ "\${#2}" -gt ${VALUE_CHUNK} ] && command -v fold >/dev/null 2>&1; then
    case $2 in
      *[!\\ -~]*) ;;
      *) printf '%s value %s \\n' "$NR_M" "$1"
        printf '%s\\n' "$2" | fold -b -w ${VALUE_CHUNK} | while IFS= read -r nr_chunk; do printf '%s value+ %s %s\\n' "$NR_M" "$1" "$nr_chunk"; done
        return ;;
    esac
  fi
  printf '%s value %s %s\\n' "$NR_M" "$1" "$2"
}
nr_sleep() { sleep "$1" 2>/dev/null || sleep 1; }`);

/** The text sent to `sh -s`: a brace group, so the whole program is parsed before any of it runs. */
export function programText(opts: { path: string; marker: string; script: Shell }): string {
  return (
    lines(
      new Shell('{'),
      sh`PATH=${opts.path}:"$PATH"; export PATH`,
      sh`NR_M=${opts.marker}`,
      new Shell('LC_ALL=C; export LC_ALL'),
      PRELUDE,
      opts.script,
      new Shell('}'),
    ).text + '\n'
  );
}
