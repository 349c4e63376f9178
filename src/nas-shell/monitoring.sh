#!/bin/sh
# The monitoring stack's programs. They use the prelude, the health library, and nr_docker and nr_git (the tool
# functions). What changes the NAS comes from the program as functions it defines (the commands, or in a dry run the
# lines saying what would run): nr_stack_down, nr_stack_up, nr_tag_create, nr_tag_pushing.

# nr_stack_restart FILE: compose down --remove-orphans, then up, in one log group
nr_stack_restart() {
  nr_say group "compose down --remove-orphans, up -d ($1)"
  nr_stack_down 2>&1 || { nr_say endgroup; nr_say fail 'compose down failed'; exit "$NR_EXIT_COMPOSE_DOWN_FAILED"; }
  nr_stack_up 2>&1 || { nr_say endgroup; nr_say fail 'compose up failed'; exit "$NR_EXIT_COMPOSE_UP_FAILED"; }
  nr_say endgroup
  nr_say ok 'Stack started'
}

# nr_stack_health SECONDS CONTAINER...: waits until every container runs (and is healthy where it has a
# healthcheck); on a timeout, prints the unhealthy containers' last log lines and exits
nr_stack_health() {
  nr_stack_t=$1; shift
  nr_wait_stack "$nr_stack_t" "$@" && return 0
  for nr_sc in "$@"; do
    case "$(nr_state "$nr_sc")" in
      'running healthy '*|'running none '*) ;;
      *) nr_say group "Last 50 log lines of $nr_sc"; nr_docker logs --tail 50 "$nr_sc" 2>&1; nr_say endgroup ;;
    esac
  done
  exit "$NR_EXIT_STACK_UNHEALTHY"
}

# nr_tag_release REPO TAG COMMIT: creates the annotated release tag (nr_tag_create), or reuses it on a re-run
nr_tag_release() {
  nr_has=$(nr_git -C "$1" rev-parse --verify --quiet "refs/tags/$2^{commit}" || true)
  if [ "$nr_has" = "$3" ]; then nr_say ok "Tag $2 already exists on this commit (a re-run): reusing it"
  elif [ -n "$nr_has" ]; then nr_say fail "Tag $2 exists on another commit ($nr_has)"; exit "$NR_EXIT_TAG_ON_ANOTHER_COMMIT"
  elif nr_tag_create; then nr_say ok "Created tag $2"
  else exit "$NR_EXIT_TAG_NOT_CREATED"
  fi
}

# nr_tag_push REPO REMOTE TAG: pushes the tag (nr_tag_pushing); a failed push is a warning saying how to push by hand
nr_tag_push() {
  if nr_tag_pushing 2>&1; then nr_say ok "Pushed $3 to $2"
  else nr_say warn "Could not push $3 to $2 (no credentials on the NAS?). Push it by hand: git -C $1 push $2 refs/tags/$3"; fi
}

# nr_verify_lock DIR: the value lock_held (who holds the release lock) when a release runs: the checks may see the
# stack mid-change
nr_verify_lock() {
  if [ -f "$1/lock" ]; then
    exec 9>>"$1/lock"
    flock -n 9 || nr_value lock_held "$(head -c 2000 "$1/holder" 2>/dev/null | tr '\n' ' ')"
    exec 9>&-
  fi
}
