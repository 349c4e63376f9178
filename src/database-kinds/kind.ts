import type { Shell } from '../remote/shell.js';
import type { ManifestItem } from '../rules/backups.js';

/** A name docker and compose accept, also safe as part of a file name. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Why a line of backup-databases or backup-volumes is refused (the reader names the input). */
export class BackupSpecError extends Error {}

export function checkName(value: string, what: string, line: string): void {
  if (!NAME.test(value))
    throw new BackupSpecError(`${JSON.stringify(line.slice(0, 100))}: ${JSON.stringify(value)} is not a ${what} name`);
}

/** What every database item holds: its kind, the compose service of its container, its database ('' the container's own). */
export interface DatabaseItemBase {
  kind: string;
  service: string;
  database: string;
}

/**
 * What one kind of database (the word before the colon of a `backup-databases`
 * line) does. Each kind is one module answering this interface, looked up by
 * `databaseKind` (table.ts): a new kind is one more module, and the compiler
 * lists what it must answer. A module is only ever given items of its own kind.
 */
export interface DatabaseKind<I extends DatabaseItemBase> {
  /** Its line, for the error that lists every kind. */
  syntax: string;
  /** Its item from a trimmed line that starts with `<kind>:`; undefined when the line does not read as one (or it throws its own BackupSpecError). */
  parse(line: string): I | undefined;
  /** What the manifest records of an item beyond its kind, source and database. */
  recorded(item: I): Record<string, string>;
  /** Why a manifest's record of an item of this kind cannot be restored, beyond the rules of every item (`what` names it). */
  manifestProblem(record: Record<string, unknown>, what: string): string | undefined;
  /** The item a manifest's record names (a record its manifestProblem accepts). */
  fromManifest(record: ManifestItem): I;
  /** The command run by `sh -c` in the database's container that writes the dump to standard output ($1 the database, '' its own). */
  dump(item: I): string;
  /** What the backup says when the dump exits 127: the container has not the tool. */
  misfit(item: I): string;
  /**
   * The NAS shell that loads the dump FILE (shell) into the running container `$nr_bk_c`, its status in `nr_rc`
   * (nas-shell/database.sh); `what` names the item in the log.
   */
  restore(item: I, file: Shell, what: string): Shell;
}

/** The item of a line `<kind>:<service>[/<database>]`; undefined when the line is not one. */
export function serviceAndDatabase<K extends string>(
  kind: K,
  line: string,
): { kind: K; service: string; database: string } | undefined {
  const m = new RegExp(`^${kind}:([^/\\s]+)(?:\\/(\\S+))?$`).exec(line);
  if (!m) return undefined;
  const [, service, database = ''] = m;
  checkName(service, 'service', line);
  if (database) checkName(database, 'database', line);
  return { kind, service, database };
}

/** A manifest's record of a kind without commands holds none. */
export function noCommands(record: Record<string, unknown>, what: string): string | undefined {
  return record.dump !== undefined || record.restore !== undefined
    ? `${what}: only a custom item has commands`
    : undefined;
}
