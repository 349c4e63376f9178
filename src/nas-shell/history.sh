#!/bin/sh
# The release history (see history.ts): one JSON line per operation in DIR/history.jsonl, the operation in progress
# in DIR/current.json, and the keys of operations no runner has reported in DIR/unreported.

# nr_history_mend DIR: a torn last line (no newline) gets one first, so the next record stays whole
nr_history_mend() {
  mkdir -p "$1"
  if [ -s "$1/history.jsonl" ] && [ -n "$(tail -c 1 "$1/history.jsonl")" ]; then printf '\n' >> "$1/history.jsonl"; fi
}

# nr_history_append DIR RECORD: one short line in one write with O_APPEND: a crash leaves it whole or absent
nr_history_append() { nr_history_mend "$1"; printf '%s\n' "$2" >> "$1/history.jsonl"; }

# nr_history_append_ended DIR HEAD MORE: a record (HEAD: its JSON without the closing brace) ended now by the NAS's
# clock, with the members MORE (`,"name":"value"`) that only the NAS learnt
nr_history_append_ended() {
  nr_history_mend "$1"
  printf '%s,"ended":"%s"%s}\n' "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$3" >> "$1/history.jsonl"
}

# nr_history_begin DIR RECORD: the operation in progress, written to a temporary file and renamed (never half-written)
nr_history_begin() {
  mkdir -p "$1"
  printf '%s\n' "$2" > "$1/current.json.tmp" && mv -f "$1/current.json.tmp" "$1/current.json"
}

# nr_history_done DIR: no operation in progress any more
nr_history_done() { rm -f "$1/current.json"; }

# nr_history_read DIR LINES: the last LINES records, the operation in progress and the unreported keys, as values
nr_history_read() {
  nr_value history_b64 "$(tail -n "$2" "$1/history.jsonl" 2>/dev/null | base64 | tr -d '\n')"
  nr_value current_b64 "$(base64 < "$1/current.json" 2>/dev/null | tr -d '\n')"
  nr_value unreported_b64 "$(tail -n 50 "$1/unreported" 2>/dev/null | base64 | tr -d '\n')"
}

# nr_unreported_add DIR KEY: under a lock on the file (a run without the release lock may be taking keys out)
nr_unreported_add() { ( flock -w 10 6; printf '%s\n' "$2" >&6 ) 6>>"$1/unreported"; }

# nr_unreported_remove DIR KEY...: rewritten in place, so the lock on the file holds
nr_unreported_remove() {
  nr_f=$1/unreported; shift
  [ -s "$nr_f" ] || return 0
  nr_n=$#
  while [ "$nr_n" -gt 0 ]; do set -- "$@" -e "$1"; shift; nr_n=$((nr_n - 1)); done
  # shellcheck disable=SC2094 # descriptor 6 only holds the lock: the list is read whole before it is rewritten
  ( flock -w 10 6
    grep -v -F -x "$@" "$nr_f" > "$nr_f.tmp"
    cat "$nr_f.tmp" > "$nr_f"; rm -f "$nr_f.tmp" ) 6>>"$nr_f"
}
