#!/bin/sh
# One image, two roles: ROLE=api answers HTTP on APP_PORT (its colour's port),
# ROLE=worker writes a line a second into the shared volume while it can reach
# the shared database; healthy (its healthcheck) only while /app/worker-ok says ok.
case $ROLE in
  api) exec httpd -f -p "127.0.0.1:$APP_PORT" -h /www ;;
  worker)
    trap 'exit 0' TERM INT
    while :; do
      if nc 127.0.0.1 "$PGPORT" </dev/null >/dev/null 2>&1; then
        echo "$COLOR $(cat /www/version)" >> /data/worker.log
        touch /tmp/db-ok
      else
        rm -f /tmp/db-ok
      fi
      sleep 1 & wait $!
    done ;;
  *) echo "ROLE must be api or worker" >&2; exit 2 ;;
esac
