import { custom, type CustomItem } from './custom.js';
import type { DatabaseKind } from './kind.js';
import { mysql, type MysqlItem } from './mysql.js';
import { postgres, type PostgresItem } from './postgres.js';

export type { DatabaseKind } from './kind.js';

/** One database a backup dumps, from a line of `backup-databases`: an item of one of the kinds. */
export type DatabaseItem = PostgresItem | MysqlItem | CustomItem;
export type DatabaseKindName = DatabaseItem['kind'];

/** The module of each kind of database: the one place that tells the kinds apart. */
export function databaseKind(kind: DatabaseKindName): DatabaseKind<DatabaseItem> {
  switch (kind) {
    case 'postgres':
      return postgres;
    case 'mysql':
      return mysql;
    case 'custom':
      return custom;
    default:
      return unknownKind(kind);
  }
}

/** A kind the switch above does not name fails to compile here. */
function unknownKind(kind: never): never {
  throw new Error(`unknown database kind ${JSON.stringify(kind)}`);
}

/** Every kind, in the order the errors list them. */
export const DATABASE_KINDS = ['postgres', 'mysql', 'custom'] as const;
/** A kind the list above leaves out fails to compile here, naming it. */
const listed: [Exclude<DatabaseKindName, (typeof DATABASE_KINDS)[number]>] extends [never]
  ? true
  : Exclude<DatabaseKindName, (typeof DATABASE_KINDS)[number]> = true;
void listed;

export function isDatabaseKindName(text: unknown): text is DatabaseKindName {
  return (DATABASE_KINDS as readonly unknown[]).includes(text);
}
