import type { HistoryRecord } from '../remote/history.js';
import { isDatedTag, lastReleased, newestFirst, type ReleaseTimes } from './tags.js';

export interface ImageTag {
  tag: string;
  bytes: number;
  /** The image the tag names: several tags may name one image. */
  id?: string;
  /** When the image was built (milliseconds since the epoch), as the NAS's docker reports it. */
  created?: number;
}

/**
 * Parses `docker image ls --format '{{.Tag}} {{.Size}} {{.ID}} {{.CreatedAt}}'` lines
 * ("2026.01.10-abc123f 12.3MB 5cfddd1be29a 2026-01-10 09:00:00 +0000 UTC").
 */
export function parseImageTags(text: string): ImageTag[] {
  const out: ImageTag[] = [];
  for (const line of text.split('\n')) {
    const [tag, size, id, ...createdAt] = line.trim().split(/\s+/);
    if (!tag || tag === '<none>') continue;
    const created = parseCreatedAt(createdAt.join(' '));
    out.push({
      tag,
      bytes: parseSize(size ?? ''),
      ...(id ? { id } : {}),
      ...(created !== undefined ? { created } : {}),
    });
  }
  return out;
}

/** Docker's `CreatedAt` ("2026-01-10 09:00:00 +0000 UTC") in milliseconds since the epoch; undefined when it is not that. */
export function parseCreatedAt(text: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)? ([+-]\d{2})(\d{2})\b/.exec(text.trim());
  if (!m) return undefined;
  const when = Date.parse(`${m[1]}T${m[2]}${m[3] ?? ''}${m[4]}:${m[5]}`);
  return Number.isFinite(when) ? when : undefined;
}

/**
 * When each tag last became the backend's release: its last successful deploy
 * or rollback in the history, or the time its image was built when that is
 * later (or the history does not know it: a hand-built image, a re-cloned
 * checkout, records older than the history read).
 */
export function releaseTimes(tags: readonly ImageTag[], history: readonly HistoryRecord[]): ReleaseTimes {
  const times = lastReleased(history, 'backend');
  for (const t of tags)
    if (t.created !== undefined) times.set(t.tag, Math.max(t.created, times.get(t.tag) ?? t.created));
  return times;
}

/** Docker's human sizes ("570MB", "1.2GB", "532kB", "12B") in bytes. */
export function parseSize(text: string): number {
  const m = /^([\d.]+)\s*([kKMGT]?B)$/.exec(text.trim());
  if (!m) return 0;
  const unit = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[m[2]] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

export interface CleanupPlan {
  keep: string[];
  /** Planned for removal; after the removal, only what actually went. */
  remove: string[];
  /** Planned for removal but still there (`docker image rm` failed for it). */
  failed: string[];
  freedBytes: number;
}

/**
 * The keep-rules: the newest `keep` dated tags stay, and so do the running
 * tag, the tag an empty-tag rollback would go to, `latest`, and anything that
 * is not a dated tag. Everything else goes. Both lists newest first (see
 * `datedTags`).
 */
export function planCleanup(
  tags: readonly ImageTag[],
  keep: number,
  protectedTags: readonly (string | undefined)[],
  history: readonly HistoryRecord[] = [],
): CleanupPlan {
  const dated = datedTags(tags, history);
  const guard = new Set(protectedTags.filter((t): t is string => !!t));
  const keepList = dated.filter((t, i) => i < keep || guard.has(t));
  const remove = dated.filter((t) => !keepList.includes(t));
  return { keep: keepList, remove, failed: [], freedBytes: freedBytes(tags, new Set(remove)) };
}

/** The bytes freed when the tags `gone` go: an image is freed only when every tag naming it goes (an estimate: layers may be shared). */
export function freedBytes(tags: readonly ImageTag[], gone: ReadonlySet<string>): number {
  const images = new Map<string, { bytes: number; allGone: boolean }>();
  for (const t of tags) {
    const key = t.id ?? `tag:${t.tag}`;
    const image = images.get(key) ?? { bytes: t.bytes, allGone: true };
    image.allGone &&= gone.has(t.tag);
    images.set(key, image);
  }
  return [...images.values()].reduce((sum, i) => sum + (i.allGone ? i.bytes : 0), 0);
}

/** The dated tags present, newest first: by date, then by when each last became the release (`releaseTimes`). */
export function datedTags(tags: readonly ImageTag[], history: readonly HistoryRecord[] = []): string[] {
  return newestFirst(
    tags.filter((t) => isDatedTag(t.tag)).map((t) => t.tag),
    releaseTimes(tags, history),
  );
}
