import { sh, type Shell } from '../remote/shell.js';
import { BackupSpecError, checkName, type DatabaseKind } from './kind.js';

/**
 * `custom:<service>/<name> dump="<command>" restore="<command>"`: any data a service holds. Its dump command writes
 * the backup to standard output, its restore command reads it on standard input; both run in the service's container.
 */
export interface CustomItem {
  kind: 'custom';
  service: string;
  database: string;
  dump: string;
  restore: string;
}

export const custom: DatabaseKind<CustomItem> = {
  syntax: 'custom:<service>/<name> dump="…" restore="…"',
  parse(line) {
    const m = /^custom:([^/\s]+)\/(\S+)\s+dump="([^"]+)"\s+restore="([^"]+)"$/.exec(line);
    if (!m)
      throw new BackupSpecError(
        `${JSON.stringify(line)}: a custom item reads custom:<service>/<name> dump="<command>" restore="<command>"`,
      );
    const [, service, database, dump, restore] = m;
    checkName(service, 'service', line);
    checkName(database, 'name', line);
    return { kind: 'custom', service, database, dump, restore };
  },
  // a restore runs the commands the backup was taken with
  recorded: (item) => ({ dump: item.dump, restore: item.restore }),
  manifestProblem(record, what) {
    if (!record.database) return `${what}: a custom item needs its name`;
    // the same rule as a custom line of backup-databases: a command within double quotes
    for (const c of ['dump', 'restore'] as const) {
      const command = record[c];
      if (typeof command !== 'string' || !/^[^"]+$/.test(command))
        return `${what}: its ${c} command is missing or holds a double quote`;
    }
    return undefined;
  },
  fromManifest: (record) => ({
    kind: 'custom',
    service: record.source,
    database: record.database ?? '',
    dump: record.dump ?? 'exit 1',
    restore: record.restore ?? 'exit 1',
  }),
  dump: (item) => item.dump,
  misfit: (item) =>
    `the dump command failed (exit 127: a command it runs is not found in the container of service ${item.service})`,
  restore: (item, file): Shell => sh`nr_db_restore ${item.restore} ${item.database} ${file}`,
};
