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

/**
 * Newest first: by date, then by the order they were deployed in
 * (`order`, later first; unknown last), then by name.
 */
export function newestFirst(tags: readonly string[], order: readonly string[] = []): string[] {
  const rank = (t: string): number => order.lastIndexOf(t);
  const date = (t: string): string => t.replace(/^.*?(\d{4}\.\d{2}\.\d{2})-[0-9a-f]{7}$/, '$1');
  return [...tags].sort((a, b) => date(b).localeCompare(date(a)) || rank(b) - rank(a) || b.localeCompare(a));
}
