import { sh, type Shell } from '../remote/shell.js';
import { type DatabaseKind, noCommands, serviceAndDatabase } from './kind.js';

/** `mysql:<service>[/<database>]`: a MySQL or MariaDB database, dumped by mysqldump (or mariadb-dump) in its container. */
export interface MysqlItem {
  kind: 'mysql';
  service: string;
  database: string;
}

/** The dump, run inside the database's container: credentials from its own environment. */
const DUMP =
  'd=$(command -v mysqldump || command -v mariadb-dump) || exit 127; u=root; p=${MYSQL_ROOT_PASSWORD:-$MARIADB_ROOT_PASSWORD}; [ -n "$p" ] || { u=${MYSQL_USER:-$MARIADB_USER}; p=${MYSQL_PASSWORD:-$MARIADB_PASSWORD}; }; MYSQL_PWD=$p exec "$d" --single-transaction --routines --triggers -u "$u" "${1:-${MYSQL_DATABASE:-$MARIADB_DATABASE}}"';

/** The exit of a restore whose dump loaded whole but holds what cannot move between databases: it is loaded again, in place. */
const MYSQL_RELOAD = 75;

/**
 * The restore, run inside the database's container, the dump on standard input (`replace` as $2: loaded in place).
 * The dump loads into a database of its own; the one in use is replaced only once the load is whole, in one step
 * (one RENAME TABLE of every table), so a load that fails leaves it as it was. Every wait on the server is bounded:
 * a session that keeps a lock fails the restore (which is then undone).
 */
const RESTORE = `m=$(command -v mysql || command -v mariadb) || exit 127; u=root; p=\${MYSQL_ROOT_PASSWORD:-$MARIADB_ROOT_PASSWORD}; [ -n "$p" ] || { u=\${MYSQL_USER:-$MARIADB_USER}; p=\${MYSQL_PASSWORD:-$MARIADB_PASSWORD}; }
d=\${1:-\${MYSQL_DATABASE:-$MARIADB_DATABASE}}; export MYSQL_PWD=$p
# a session that keeps a lock makes the restore fail (and be undone), not wait for a day
q() { "$m" -u "$u" -N -B -e "SET SESSION lock_wait_timeout = 60; $1"; }
# the database's sessions end first: one in a transaction holds its tables' locks
ends() {
  for s in $(q 'SELECT ID, DB FROM information_schema.PROCESSLIST' | d=$d awk -F '\\t' '$2 == ENVIRON["d"] { print $1 }'); do
    "$m" -u "$u" -e "KILL CONNECTION $s" 2>/dev/null
  done
}
if [ "$2" = replace ]; then ends; q "DROP DATABASE IF EXISTS \\\`$d\\\`; CREATE DATABASE \\\`$d\\\`" || exit 1; exec "$m" -u "$u" "$d"; fi
t=$(q "SELECT CONCAT('nr_restore_', LEFT(MD5('$d'), 16))") && [ -n "$t" ] || exit 1; o=nr_replaced_\${t#nr_restore_}
# the dump loads into a database of its own: the one in use is replaced only once the load is whole
q "DROP DATABASE IF EXISTS \\\`$t\\\`; DROP DATABASE IF EXISTS \\\`$o\\\`; CREATE DATABASE \\\`$t\\\`" || exit 1
"$m" -u "$u" "$t" || { q "DROP DATABASE IF EXISTS \\\`$t\\\`"; exit 1; }
# views, triggers, routines and events cannot move to another database: such a database is replaced by a second load
in="IN ('$d', '$t')"
n=$(q "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA $in AND TABLE_TYPE <> 'BASE TABLE') + (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA $in) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA $in) + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA $in)") || n=x
[ "$n" = 0 ] || { q "DROP DATABASE IF EXISTS \\\`$t\\\`"; exit ${MYSQL_RELOAD}; }
# one RENAME TABLE moves the tables in use away and the loaded ones in their place: whole or not at all
ends
pair() { printf "SELECT %s AS k, TABLE_NAME AS n, CONCAT('\\\`%s\\\`.\\\`', REPLACE(TABLE_NAME, '\\\`', '\\\`\\\`'), '\\\` TO \\\`%s\\\`.\\\`', REPLACE(TABLE_NAME, '\\\`', '\\\`\\\`'), '\\\`') AS r FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s'" "$1" "$2" "$3" "$2"; }
q "CREATE DATABASE IF NOT EXISTS \\\`$d\\\`; CREATE DATABASE \\\`$o\\\`; SET SESSION group_concat_max_len = 16777216;
SELECT GROUP_CONCAT(r ORDER BY k, n SEPARATOR ', ') INTO @p FROM ($(pair 0 "$d" "$o") UNION ALL $(pair 1 "$t" "$d")) AS s;
SET @q = IF(@p IS NULL, 'DO 0', CONCAT('RENAME TABLE ', @p)); PREPARE s FROM @q; EXECUTE s" || { q "DROP DATABASE IF EXISTS \\\`$t\\\`; DROP DATABASE IF EXISTS \\\`$o\\\`"; exit 1; }
q "DROP DATABASE IF EXISTS \\\`$o\\\`; DROP DATABASE IF EXISTS \\\`$t\\\`" || echo "the data replaced is left in database $o (dropped by the next restore)" >&2`;

export const mysql: DatabaseKind<MysqlItem> = {
  syntax: 'mysql:<service>[/<database>]',
  parse: (line) => serviceAndDatabase('mysql', line),
  recorded: () => ({}),
  manifestProblem: noCommands,
  fromManifest: (record) => ({ kind: 'mysql', service: record.source, database: record.database ?? '' }),
  dump: () => DUMP,
  misfit: (item) => `the container of service ${item.service} has no mysqldump: is it a MySQL/MariaDB database?`,
  // a dump with views, triggers, routines or events loads in place (nas-shell/database.sh)
  restore: (item, file, what): Shell =>
    sh`nr_db_mysql_restore ${RESTORE} ${item.database} ${file} ${what} ${MYSQL_RELOAD}`,
};
