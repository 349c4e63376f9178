#!/bin/sh
# Health waits that run on the NAS, polling locally several times a second rather than once a round trip.
# They use nr_docker (the tool functions of command.ts) and the prelude.

nr_now() { date +%s; }

# nr_state CONTAINER: "<status> <health or none> <restart count>", "missing none 0" when there is none
nr_state() { nr_docker inspect --format '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}}' "$1" 2>/dev/null || echo 'missing none 0'; }

# nr_http_ok URL: true when URL answers 2xx (curl, else wget)
nr_http_ok() {
  if command -v curl >/dev/null 2>&1; then curl -fsS -o /dev/null -m 5 "$1" 2>/dev/null
  else timeout 5 wget -q -O /dev/null "$1" 2>/dev/null; fi  # timeout(1), not wget -T: some BusyBox builds lack it or crash on it
}

# nr_wait_container CONTAINER SECONDS URL: waits for the container's own healthcheck, else URL, else its staying
# up 5 s; fails at once when it exits or restarts
nr_wait_container() {
  nr_c=$1; nr_t=$2; nr_u=$3; nr_t0=$(nr_now); nr_up=''; nr_last=0
  # shellcheck disable=SC2046 # the state's three words become the positional parameters
  set -- $(nr_state "$nr_c"); nr_r0=$3
  while :; do
    # shellcheck disable=SC2046
    set -- $(nr_state "$nr_c"); nr_el=$(( $(nr_now) - nr_t0 ))
    case $1 in
      exited|dead|missing|removing) nr_say fail "Container $nr_c is $1 (after ${nr_el}s)"; return 1 ;;
      restarting) nr_say fail "Container $nr_c is restarting (after ${nr_el}s)"; return 1 ;;
    esac
    if [ "$3" -gt "$nr_r0" ]; then nr_say fail "Container $nr_c restarted (after ${nr_el}s)"; return 1; fi
    if [ "$1" = running ]; then
      case $2 in
        healthy) return 0 ;;
        unhealthy) nr_say fail "Container $nr_c is unhealthy (after ${nr_el}s)"; return 1 ;;
        none)
          if [ -n "$nr_u" ]; then nr_http_ok "$nr_u" && return 0
          else [ -n "$nr_up" ] || nr_up=$nr_el; [ $((nr_el - nr_up)) -ge 5 ] && return 0; fi ;;
      esac
    fi
    if [ "$nr_el" -ge "$nr_t" ]; then nr_say fail "Container $nr_c is not healthy after ${nr_t}s (state: $1, health: $2)"; return 1; fi
    if [ $((nr_el - nr_last)) -ge 3 ]; then nr_say info "waiting... ${nr_el}s/${nr_t}s"; nr_last=$nr_el; fi
    nr_sleep 0.25
  done
}

# nr_wait_stack SECONDS CONTAINER...: waits until every container runs, and is healthy where it has a healthcheck
nr_wait_stack() {
  nr_t=$1; shift; nr_t0=$(nr_now); nr_last=0
  while :; do
    nr_ok=0; nr_n=0; nr_bad=''
    for nr_c in "$@"; do
      nr_n=$((nr_n + 1))
      nr_s=$(nr_state "$nr_c")
      case $nr_s in
        'running healthy '*|'running none '*) nr_ok=$((nr_ok + 1)) ;;
        *) nr_bad="$nr_bad $nr_c" ;;
      esac
    done
    nr_el=$(( $(nr_now) - nr_t0 ))
    if [ "$nr_ok" -eq "$nr_n" ]; then nr_say ok "Health: $nr_ok/$nr_n containers healthy (${nr_el}s)"; return 0; fi
    if [ "$nr_el" -ge "$nr_t" ]; then nr_say fail "Health: $nr_ok/$nr_n containers healthy after ${nr_t}s; not healthy:$nr_bad"; nr_value unhealthy "$nr_bad"; return 1; fi
    if [ $((nr_el - nr_last)) -ge 3 ]; then nr_say info "Health: $nr_ok/$nr_n containers healthy (waiting... ${nr_el}s/${nr_t}s)"; nr_last=$nr_el; fi
    nr_sleep 0.25
  done
}
