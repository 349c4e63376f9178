#!/bin/sh
# verify-monitoring's reads besides its checks. It uses the prelude.

# nr_verify_lock DIR: the value lock_held (who holds the release lock) when a release runs: the checks may see the
# stack mid-change
nr_verify_lock() {
  if [ -f "$1/lock" ]; then
    exec 9>>"$1/lock"
    flock -n 9 || nr_value lock_held "$(head -c 2000 "$1/holder" 2>/dev/null | tr '\n' ' ')"
    exec 9>&-
  fi
}
