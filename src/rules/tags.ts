import type { HistoryRecord } from '../remote/history.js';

/** The backend's image tags and the monitoring's git tags: `YYYY.MM.DD-<sha7>`. */

export const DATED_TAG = /^\d{4}\.(0[1-9]|1[0-2])\.(0[1-9]|[12]\d|3[01])-[0-9a-f]{7}$/;

/** The tag of a commit deployed at `when` (UTC date). */
export function datedTag(commit: string, when: Date): string {
  if (!/^[0-9a-f]{7,64}$/.test(commit)) throw new Error(`not a commit hash: ${commit}`);
  const y = when.getUTCFullYear();
  const m = String(when.getUTCMonth() + 1).padStart(2, '0');
  const d = String(when.getUTCDate()).padStart(2, '0');
  return `${y}.${m}.${d}-${commit.slice(0, 7)}`;
}

export function isDatedTag(tag: string): boolean {
  return DATED_TAG.test(tag);
}

/** A backend rollback target: a dated tag or `latest`. */
export function isBackendRollbackTag(tag: string): boolean {
  return tag === 'latest' || isDatedTag(tag);
}

/** A monitoring release tag: the prefix and a dated tag. */
export function isMonitoringTag(tag: string, prefix: string): boolean {
  return tag.startsWith(prefix) && isDatedTag(tag.slice(prefix.length));
}

/** When each tag last became the running release, in milliseconds since the epoch. */
export type ReleaseTimes = ReadonlyMap<string, number>;

/**
 * What the history knows: the last time each tag of `stack` was deployed or
 * rolled back to successfully. Failed, rolled-back and no-op records say
 * nothing about which release is newer, so they do not count.
 */
export function lastReleased(records: readonly HistoryRecord[], stack: HistoryRecord['stack']): Map<string, number> {
  const times = new Map<string, number>();
  for (const r of records) {
    if (r.stack !== stack || r.outcome !== 'success' || !r.tag || !/^(deploy|rollback)-/.test(r.action)) continue;
    const when = Date.parse(r.ended ?? r.started);
    if (Number.isFinite(when)) times.set(r.tag, Math.max(when, times.get(r.tag) ?? when));
  }
  return times;
}

/**
 * Newest first: by the date in the tag, then, on the same date, by when the
 * tag last became the release (`times`, later first; unknown last). The name
 * decides only between tags nothing else tells apart, so that the order is
 * the same whatever order the tags come in.
 */
export function newestFirst(tags: readonly string[], times: ReleaseTimes = new Map()): string[] {
  const time = (t: string): number => times.get(t) ?? -Infinity;
  const date = (t: string): string => t.replace(/^.*?(\d{4}\.\d{2}\.\d{2})-[0-9a-f]{7}$/, '$1');
  const later = (a: string, b: string): number => {
    const ta = time(a);
    const tb = time(b);
    return ta === tb ? 0 : tb > ta ? 1 : -1;
  };
  return [...tags].sort((a, b) => date(b).localeCompare(date(a)) || later(a, b) || b.localeCompare(a));
}
