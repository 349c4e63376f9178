#!/bin/sh
# The dump and the restore of a database in its own container (database-kinds/): the command a kind runs there
# arrives as an argument, run by sh -c with the database as its $1. The backup's functions (nr_bk_write, nr_bk_whole,
# nr_bk_abort, $nr_bk_tmp) are those nr_backup defines; the container is in $nr_bk_c.
# shellcheck disable=SC2154 # nr_bk_tmp and nr_bk_c are set by nr_backup and the restore before a call

# nr_db_dump COMMAND DATABASE FILE MISFIT: the dump into FILE of the partial folder. MISFIT is what the backup says
# when the command exits 127 (the container has not the tool). Returns 1, the backup aborted, when it fails.
# shellcheck disable=SC2034 # nr_bk_why and nr_bk_w are what nr_bk_whole reads
nr_db_dump() {
  nr_bk_why=$({ nr_docker exec "$nr_bk_c" sh -c "$1" nr-dump "$2" 2> "$nr_bk_tmp/.err"; echo "$?" > "$nr_bk_tmp/.rc"; } | nr_bk_write "$3"); nr_bk_w=$?
  nr_bk_whole "$3" || return 1
  nr_rc=$(cat "$nr_bk_tmp/.rc")
  if [ "$nr_rc" = 127 ]; then nr_bk_abort "$4"; return 1; fi
  [ "$nr_rc" = 0 ] || { nr_bk_abort "exit $nr_rc: $(tail -n 3 "$nr_bk_tmp/.err" | tr '\n' ' ')"; return 1; }
}

# nr_db_restore COMMAND DATABASE FILE [MODE]: loads FILE (on standard input) with COMMAND, MODE its $2; the status in nr_rc
nr_db_restore() {
  nr_docker exec -i "$nr_bk_c" sh -c "$1" nr-restore "$2" ${4:+"$4"} < "$3"; nr_rc=$?
}

# nr_db_mysql_restore COMMAND DATABASE FILE WHAT RELOAD: a MySQL/MariaDB restore. A dump that creates views,
# triggers, routines or events (a versioned comment, or CREATE with a definer) loads in place, never into another
# database, as the text of these objects may name this one; COMMAND exits RELOAD when it found such objects only once
# the dump had loaded whole, and it is loaded again in place. WHAT names the item in the log.
nr_db_mysql_restore() {
  nr_rs_mode=
  if grep -Eq '^(/\*![0-9]+ CREATE|CREATE (DEFINER|FUNCTION|PROCEDURE|AGGREGATE|TRIGGER|EVENT|VIEW|ALGORITHM|SQL|OR ))' "$3"; then
    nr_rs_mode=replace
    nr_say warn "$4 holds views, triggers, routines or events, which cannot move to another database (nor load into one, as their text may name this one): it is loaded in place, and a load that fails is undone from the safety backup"
  fi
  nr_db_restore "$1" "$2" "$3" "$nr_rs_mode"
  if [ "$nr_rc" = "$5" ]; then
    nr_say warn "$4 holds views, triggers, routines or events, which cannot move to another database: its dump loaded whole, so it is loaded again in place"
    nr_db_restore "$1" "$2" "$3" replace
  fi
}
