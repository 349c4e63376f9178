#!/bin/sh
# The functions every program may use; NR_M is the run's marker (a nonce, so remote output cannot forge a marker line).

# nr_say KIND TEXT...: a progress marker the runner turns into a log line (step, ok, warn, info, fail, group,
# endgroup); one line, cut at VALUE_CHUNK (program.ts) so it is written whole whatever runs in the background
nr_say() { nr_k=$1; shift; printf '%s %s %.3000s\n' "$NR_M" "$nr_k" "$*"; }

# nr_value NAME VALUE: a value the runner decodes
nr_value() {
  # a long value goes in lines under PIPE_BUF; only plain ASCII (base64, lists) is cut, as a cut character would not
  # survive, and a NAS without fold sends it on one line
  if [ "${#2}" -gt 3000 ] && command -v fold >/dev/null 2>&1; then
    case $2 in
      *[!\ -~]*) ;;
      *) printf '%s value %s \n' "$NR_M" "$1"
        printf '%s\n' "$2" | fold -b -w 3000 | while IFS= read -r nr_chunk; do printf '%s value+ %s %s\n' "$NR_M" "$1" "$nr_chunk"; done
        return ;;
    esac
  fi
  printf '%s value %s %s\n' "$NR_M" "$1" "$2"
}

# nr_sleep SECONDS: a fraction where sleep takes one, else a second
nr_sleep() { sleep "$1" 2>/dev/null || sleep 1; }
