/**
 * What a backup holds and which backups to keep or restore: pure logic, so
 * the parsing of the inputs and the choice of a backup are tested without a NAS.
 */
import { BackupSpecError, NAME } from '../database-kinds/kind.js';
import { DATABASE_KINDS, databaseKind, isDatabaseKindName, type DatabaseItem } from '../database-kinds/table.js';

export type { DatabaseItem } from '../database-kinds/table.js';
export { BackupSpecError };

/**
 * Parses one line of `backup-databases`, `<kind>:…` (database-kinds/table.ts):
 *   postgres:<service>[/<database>]
 *   mysql:<service>[/<database>]
 *   custom:<service>/<name> dump="<command>" restore="<command>"
 * An empty database means the container's own (POSTGRES_DB, MYSQL_DATABASE).
 * A custom item's dump command writes the backup to standard output, its
 * restore command reads it on standard input; both run in the service's container.
 */
export function parseDatabaseLine(line: string): DatabaseItem {
  const text = line.trim();
  const kind = text.slice(0, Math.max(0, text.indexOf(':')));
  const item = isDatabaseKindName(kind) ? databaseKind(kind).parse(text) : undefined;
  if (!item) {
    const syntaxes = DATABASE_KINDS.map((k) => databaseKind(k).syntax);
    throw new BackupSpecError(
      `${JSON.stringify(text.slice(0, 100))}: expected ${syntaxes.slice(0, -1).join(', ')} or ${syntaxes[syntaxes.length - 1]}`,
    );
  }
  return item;
}

/** Parses `backup-volumes`: one compose volume a line. */
export function parseVolumeLines(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of lines) {
    const v = raw.trim();
    if (!v) continue;
    if (!NAME.test(v)) throw new BackupSpecError(`${JSON.stringify(v.slice(0, 100))} is not a compose volume name`);
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/** The file an item is stored in, inside the backup folder. */
export function itemFile(item: { kind: string; service?: string; database?: string; volume?: string }): string {
  if (item.kind === 'volume') return `volume-${item.volume}.tar.gz`;
  return `${item.kind}-${item.service}${item.database ? `-${item.database}` : ''}.dump`;
}

/** A backup id: `<UTC time>-<tag>` (tag `none` when nothing ran). */
export const BACKUP_ID = /^\d{8}T\d{6}Z-[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isBackupId(text: string): boolean {
  return BACKUP_ID.test(text);
}

/** An item as the manifest lists it. */
export interface ManifestItem {
  kind: 'volume' | DatabaseItem['kind'];
  /** The compose volume, or the compose service of a database. */
  source: string;
  database?: string;
  /** For custom items: how it was dumped and how to restore it. */
  dump?: string;
  restore?: string;
  file: string;
  bytes: number;
  sha256: string;
}

/** The manifest items a backup of these volumes and databases holds, before sizes and sums are known. */
export function plannedItems(volumes: readonly string[], databases: readonly DatabaseItem[]): ManifestItem[] {
  return [
    ...volumes.map((v): ManifestItem => ({
      kind: 'volume',
      source: v,
      file: itemFile({ kind: 'volume', volume: v }),
      bytes: 0,
      sha256: '',
    })),
    ...databases.map((d): ManifestItem => ({
      kind: d.kind,
      source: d.service,
      ...(d.database ? { database: d.database } : {}),
      ...databaseKind(d.kind).recorded(d),
      file: itemFile(d),
      bytes: 0,
      sha256: '',
    })),
  ];
}

/** Why an item cannot be restored: its kind, names, commands and file follow the rules of the inputs; undefined when they do. */
export function restoreItemProblem(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null) return 'an item is not an object';
  const i = item as Record<string, unknown>;
  const kinds: readonly string[] = ['volume', ...DATABASE_KINDS];
  if (typeof i.kind !== 'string' || !kinds.includes(i.kind))
    return `kind ${JSON.stringify(i.kind)} is not one of ${kinds.join(', ')}`;
  const what = `item ${JSON.stringify(String(i.source).slice(0, 100))}`;
  if (typeof i.source !== 'string' || !NAME.test(i.source))
    return `${what}: its source is not a ${i.kind === 'volume' ? 'compose volume' : 'service'} name`;
  if (i.database !== undefined && (typeof i.database !== 'string' || (i.database !== '' && !NAME.test(i.database))))
    return `${what}: ${JSON.stringify(String(i.database).slice(0, 100))} is not a database name`;
  if (i.kind === 'volume') {
    if (i.database !== undefined) return `${what}: a volume has no database`;
    if (i.dump !== undefined || i.restore !== undefined) return `${what}: only a custom item has commands`;
  } else if (isDatabaseKindName(i.kind)) {
    const problem = databaseKind(i.kind).manifestProblem(i, what);
    if (problem) return problem;
  }
  // a file of the backup folder itself: a plain name, never a path out of it
  if (typeof i.file !== 'string' || !NAME.test(i.file))
    return `${what}: its file ${JSON.stringify(String(i.file).slice(0, 100))} is not a file name`;
  return undefined;
}

/** Why a manifest item cannot be restored (its text reaches the NAS's shell); undefined when it can. */
export function manifestItemProblem(item: unknown): string | undefined {
  const problem = restoreItemProblem(item);
  if (problem) return problem;
  const i = item as Record<string, unknown>;
  const what = `item ${JSON.stringify(String(i.source).slice(0, 100))}`;
  if (typeof i.bytes !== 'number' || !Number.isSafeInteger(i.bytes) || i.bytes < 0)
    return `${what}: its bytes is not a count`;
  if (typeof i.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(i.sha256))
    return `${what}: its sha256 is not 64 hex digits`;
  return undefined;
}

/** Why a manifest's items cannot be restored, the first reason found; undefined when they can. */
export function manifestProblem(m: Pick<Manifest, 'items'>): string | undefined {
  if (!Array.isArray(m.items) || m.items.length === 0) return 'it lists no item';
  for (const item of m.items as unknown[]) {
    const problem = manifestItemProblem(item);
    if (problem) return problem;
  }
  const files = m.items.map((i) => i.file);
  if (new Set(files).size !== files.length) return 'it lists a file twice';
  return undefined;
}

export interface Manifest {
  id: string;
  /** The release whose data it holds: what ran when it was taken ('' when nothing ran). */
  tag: string;
  commit: string;
  /** Why it was taken: `pre-deploy <tag>`, `manual`, `safety before restore <id>`. */
  reason: string;
  time: string;
  items: ManifestItem[];
}

/** What the NAS says of one backup folder. */
export interface BackupEntry {
  id: string;
  manifest?: Manifest;
  /** Every file the manifest lists is there with its sha256. */
  verifies: boolean;
  bytes: number;
}

/** Parses a manifest; undefined when it is not one. */
export function parseManifest(text: string): Manifest | undefined {
  try {
    const m = JSON.parse(text) as Manifest;
    if (typeof m !== 'object' || m === null || typeof m.id !== 'string' || !Array.isArray(m.items)) return undefined;
    return m;
  } catch {
    return undefined;
  }
}

/**
 * Parses the listing the NAS prints: one line a backup,
 * `<id> <ok|bad> <bytes> <manifest base64>`.
 */
export function parseBackupListing(text: string): BackupEntry[] {
  const out: BackupEntry[] = [];
  for (const line of text.split('\n')) {
    const [id, verdict, bytes, b64] = line.trim().split(/\s+/);
    if (!id || !isBackupId(id)) continue;
    const manifest = b64 ? parseManifest(Buffer.from(b64, 'base64').toString('utf8')) : undefined;
    out.push({
      id,
      verifies: verdict === 'ok' && !!manifest && manifest.id === id,
      bytes: Number(bytes) || 0,
      ...(manifest ? { manifest } : {}),
    });
  }
  return newestBackupsFirst(out);
}

/** Ids start with their UTC time, so they sort by it. */
export function newestBackupsFirst<T extends { id: string }>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** The tag a backup id names. */
export function tagOfBackup(id: string): string {
  return id.slice(id.indexOf('-') + 1);
}

/**
 * The backup `auto` restores when rolling back to `target`: the newest one
 * that holds the target release's data (taken while it ran, just before the
 * release that replaced it). Safety backups taken before a restore are not
 * candidates: they hold data a restore already replaced.
 */
export function autoBackup(entries: readonly BackupEntry[], target: string): BackupEntry | undefined {
  return newestBackupsFirst(entries).find(
    (e) => tagOfBackup(e.id) === target && !(e.manifest?.reason ?? '').startsWith('safety'),
  );
}

/**
 * Which backups retention removes: all but the newest `keep`, never the
 * newest one of the running release nor the one a rollback to the previous
 * release would restore.
 */
export function planBackupRetention(
  entries: readonly BackupEntry[],
  keep: number,
  protect: { running?: string; previous?: string },
): { keep: string[]; remove: string[] } {
  const sorted = newestBackupsFirst(entries);
  const protectedIds = new Set<string>();
  for (const tag of [protect.running, protect.previous]) {
    if (!tag) continue;
    const found = autoBackup(sorted, tag);
    if (found) protectedIds.add(found.id);
  }
  const kept: string[] = [];
  const removed: string[] = [];
  sorted.forEach((e, i) => (i < keep || protectedIds.has(e.id) ? kept : removed).push(e.id));
  return { keep: kept, remove: removed };
}

/** The BACKUPS output: newest first, with the release, size and whether it verifies. */
export function backupsOutput(entries: readonly BackupEntry[]): string {
  return JSON.stringify(
    newestBackupsFirst(entries).map((e) => ({
      id: e.id,
      release: e.manifest?.tag ?? tagOfBackup(e.id),
      commit: e.manifest?.commit ?? '',
      time: e.manifest?.time ?? '',
      reason: e.manifest?.reason ?? '',
      bytes: e.bytes,
      verifies: e.verifies,
      items: (e.manifest?.items ?? []).map((i) => `${i.kind}:${i.source}${i.database ? `/${i.database}` : ''}`),
    })),
  );
}
