#!/bin/sh
# The monitoring stack's restart. It uses the prelude, the health library and nr_docker (the tool functions). What
# changes the NAS comes from the program as functions it defines (the commands, or in a dry run the lines saying what
# would run): nr_stack_down, nr_stack_up.

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
