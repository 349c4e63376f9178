import { sh, type Shell } from '../remote/shell.js';
import { type DatabaseKind, noCommands, serviceAndDatabase } from './kind.js';

/** `postgres:<service>[/<database>]`: a PostgreSQL database, dumped by pg_dump in its container. */
export interface PostgresItem {
  kind: 'postgres';
  service: string;
  database: string;
}

/**
 * The dump, run inside the database's container: credentials from its own environment. pg_dump compresses at
 * level 1, not its default 6: the backup stands in front of every release, and on the stand-in level 1 dumps
 * 100,000 rows in about half the time for 4% more bytes. pg_restore reads any level. A table another session
 * keeps locked fails the dump after a minute instead of hanging it.
 */
const DUMP =
  'command -v pg_dump >/dev/null || exit 127; u=${POSTGRES_USER:-postgres}; exec pg_dump -U "$u" -Fc -Z 1 --lock-wait-timeout=60000 "${1:-${POSTGRES_DB:-$u}}"';

/**
 * The restore, run inside the database's container, the dump on standard input. The dump loads into a database
 * of its own; the one in use is replaced only once the load is whole, in one step (two renames in one
 * transaction), so a load that fails leaves it as it was. Every wait on the server is bounded: a session that
 * keeps a lock fails the restore (which is then undone).
 */
const RESTORE = `command -v pg_restore >/dev/null || exit 127; u=\${POSTGRES_USER:-postgres}; d=\${1:-\${POSTGRES_DB:-$u}}
# sessions of their own on another database: the one restored may be the server's default (postgres)
c=template1; [ "$d" = template1 ] && c=postgres
q() { psql -X -q -tA -v ON_ERROR_STOP=1 -U "$u" -d "$c" -v d="$d" -v t="$t" -v o="$o"; }
t=; o=; t=$(echo "SELECT 'nr_restore_' || left(md5(:'d'), 16)" | q) && [ -n "$t" ] || exit 1; o=nr_replaced_\${t#nr_restore_}
# no wait on the server is unbounded: a lock a session keeps fails the restore, which is then undone
w="SET client_min_messages = warning; SET lock_timeout = '60s'; SET statement_timeout = '600s';"
# the dump loads into a database of its own: the one in use is replaced only once the load is whole
q >/dev/null <<SQL || exit 1
$w
DROP DATABASE IF EXISTS :"t";
DROP DATABASE IF EXISTS :"o";
CREATE DATABASE :"t" TEMPLATE template0;
SQL
if ! pg_restore -U "$u" -d "$t" --no-owner --exit-on-error; then
  echo "$w DROP DATABASE IF EXISTS :\\"t\\";" | q >/dev/null; exit 1
fi
# one transaction renames the database in use away and the loaded one in its place (sessions ended first): whole or not at all
q >/dev/null <<SQL || { echo "$w DROP DATABASE IF EXISTS :\\"t\\";" | q >/dev/null; exit 1; }
$w
SELECT set_config('nr.d', :'d', false), set_config('nr.t', :'t', false), set_config('nr.o', :'o', false);
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :'d' AND pid <> pg_backend_pid();
DO \\$\\$ BEGIN
  IF EXISTS (SELECT FROM pg_database WHERE datname = current_setting('nr.d')) THEN
    EXECUTE format('ALTER DATABASE %I RENAME TO %I', current_setting('nr.d'), current_setting('nr.o'));
  END IF;
  EXECUTE format('ALTER DATABASE %I RENAME TO %I', current_setting('nr.t'), current_setting('nr.d'));
END \\$\\$;
SQL
echo "$w DROP DATABASE IF EXISTS :\\"o\\";" | q >/dev/null || echo "the data replaced is left in database $o (dropped by the next restore)" >&2`;

export const postgres: DatabaseKind<PostgresItem> = {
  syntax: 'postgres:<service>[/<database>]',
  parse: (line) => serviceAndDatabase('postgres', line),
  recorded: () => ({}),
  manifestProblem: noCommands,
  fromManifest: (record) => ({ kind: 'postgres', service: record.source, database: record.database ?? '' }),
  dump: () => DUMP,
  misfit: (item) => `the container of service ${item.service} has no pg_dump: is it a PostgreSQL database?`,
  restore: (item, file): Shell => sh`nr_db_restore ${RESTORE} ${item.database} ${file}`,
};
