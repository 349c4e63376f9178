#!/bin/sh
# The built-in proxy of a blue-green release: nginx, a service of the compose file, sends requests to the live
# colour through a one-line upstream include naming its port. It uses the prelude, nr_docker (the tool functions),
# nr_bg_running (the colour library), nr_ms (the switch) and, to start the proxy, nr_nginx_start: defined by the
# program (the compose command, or in a dry run the line saying what would run).

# nr_nginx_reload_script: the lines the proxy's container runs, `sh -c` with the wait in seconds as $1.
# `nginx -s reload` only signals the master and returns: for a moment (the master's own pause of 100 ms, at least)
# the old workers still accept new connections and send them to the old upstream. So the script notes the pids of
# the accepting workers before the reload and waits until none of them is one any more: an old worker told to quit
# retitles itself "worker process is shutting down" and closes its listeners, then exits. Exit 3: one still accepts
# after the wait (the master did not reload). Only sh, /proc and sleep: what a BusyBox or Debian nginx container has.
# shellcheck disable=SC2016 # the lines expand in the proxy's container, not here
nr_nginx_reload_script() {
  echo 'nr_wait=$1'
  echo 'nginx -t 2>&1 || exit'
  echo 'nr_accepting() { nr_t=; read -r nr_t 2>/dev/null < "/proc/$1/cmdline"; [ "$nr_t" = "nginx: worker process" ]; }'
  echo 'nr_old=; for nr_p in /proc/[0-9]*; do nr_accepting "${nr_p#/proc/}" && nr_old="$nr_old ${nr_p#/proc/}"; done'
  echo 'nginx -s reload 2>&1 || exit'
  echo 'nr_n=0'
  echo 'while :; do'
  echo '  nr_busy=; for nr_p in $nr_old; do nr_accepting "$nr_p" && { nr_busy=$nr_p; break; }; done'
  echo '  [ -n "$nr_busy" ] || exit 0'
  echo '  nr_n=$((nr_n + 1))'
  echo '  if [ "$nr_n" -gt $((nr_wait * 50)) ]; then'
  echo '    echo "the old worker $nr_busy still accepts ${nr_wait}s after the reload: the master did not take the new configuration"'
  echo '    exit 3'
  echo '  fi'
  echo '  sleep 0.02'
  echo 'done'
}

# nr_nginx_reload CONTAINER SECONDS: in the proxy's container, `nginx -t`, and only when it validates, `nginx -s
# reload` (graceful: new workers take the new upstream, old ones finish the requests they hold), then the wait
# until the reload has taken effect. One exec: the switch is on the critical path.
nr_nginx_reload() { nr_docker exec "$1" sh -c "$(nr_nginx_reload_script)" nr-nginx-reload "$2"; }

# nr_nginx_old_workers CONTAINER: exits 0 while an nginx worker of before the reload still finishes requests, 4 when none
# shellcheck disable=SC2016 # the script expands in the proxy's container
nr_nginx_old_workers() {
  nr_docker exec "$1" sh -c 'for nr_p in /proc/[0-9]*; do nr_t=; read -r nr_t 2>/dev/null < "$nr_p/cmdline"; [ "$nr_t" = "nginx: worker process is shutting down" ] && exit 0; done; exit 4'
}

# nr_nginx_write UPSTREAM PORT: the upstream file names 127.0.0.1:PORT, written whole (a rename)
nr_nginx_write() {
  mkdir -p "$(dirname "$1")" && printf 'server 127.0.0.1:%s;\n' "$2" > "$1.nr-new.$$" && mv -f "$1.nr-new.$$" "$1"
}

# nr_nginx_put_back UPSTREAM: the line of before the switch back (none: no file)
nr_nginx_put_back() { if [ -f "$1.nr-prev" ]; then mv -f "$1.nr-prev" "$1"; else rm -f "$1"; fi; }

# nr_nginx_proxy PROJECT SERVICE UPSTREAM PORT: nr_px is the proxy's running container; with none (the first
# blue-green release) the proxy starts (nr_nginx_start) with the upstream of the new colour
nr_nginx_proxy() {
  nr_px=$(nr_bg_running "$1" "$2" 2>/dev/null)
  [ -z "$nr_px" ] || return 0
  nr_say info "Starting the proxy ($2)"
  nr_nginx_write "$3" "$4" || nr_say warn 'Could not write the upstream file'
  nr_nginx_start 2>&1 || nr_say warn 'docker compose could not start the proxy'
  nr_px=$(nr_bg_running "$1" "$2" 2>/dev/null)
}

# nr_nginx_switch_to UPSTREAM CONTAINER PORT SECONDS: writes the upstream atomically, validates, reloads and waits
# up to SECONDS for the reload to take effect. A configuration that does not validate is never reloaded (the running
# workers keep the old one) and the old line is put back: return 1. A reload that did not take effect in time: the
# old line back, reloaded again so that a late reload ends on it, return 2.
nr_nginx_switch_to() {
  rm -f "$1.nr-prev"; [ -f "$1" ] && cp -p "$1" "$1.nr-prev"
  nr_nginx_write "$1" "$3" || { nr_say fail "Could not write $1"; return 1; }
  [ -n "$2" ] || { nr_say fail 'The proxy has no container'; nr_nginx_put_back "$1"; return 1; }
  nr_out=$(nr_nginx_reload "$2" "$4" 2>&1); nr_rc=$?
  if [ "$nr_rc" -ne 0 ]; then
    printf '%s\n' "$nr_out" | while IFS= read -r nr_l; do nr_say fail "nginx: $nr_l"; done
    nr_nginx_put_back "$1"
    if [ "$nr_rc" -eq 3 ]; then nr_nginx_reload "$2" "$4" >/dev/null 2>&1; return 2; fi
    return 1
  fi
  rm -f "$1.nr-prev"
}

# nr_nginx_in_flight CONTAINER PORT: true while the old colour may hold a request: an nginx worker of before the
# switch still runs, or a connection to its port is open (state 01, established, over IPv4 or IPv6; unreadable:
# assume one)
nr_nginx_in_flight() {
  nr_nginx_old_workers "$1" >/dev/null 2>&1; [ "$?" -eq 4 ] || return 0
  [ -r /proc/net/tcp ] || return 0
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p="$(printf ':%04X' "$2")" '$4 == "01" && (substr($2, length($2) - 4) == p || substr($3, length($3) - 4) == p) { f = 1 } END { exit !f }'
}

# nr_nginx_drain CONTAINER PORT SECONDS: waits until the old colour holds no request, at most SECONDS
nr_nginx_drain() {
  nr_drain_end=$(( $(nr_ms) + $3 * 1000 ))
  while [ "$(nr_ms)" -lt "$nr_drain_end" ] && nr_nginx_in_flight "$1" "$2"; do nr_sleep 0.1; done
}
