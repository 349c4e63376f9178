import { isDatedTag, newestFirst } from './tags.js';

export interface ImageTag {
  tag: string;
  bytes: number;
  /** The image the tag names: several tags may name one image. */
  id?: string;
}

/** Parses `docker image ls --format '{{.Tag}} {{.Size}} {{.ID}}'` lines ("2026.01.10-abc123f 12.3MB 5cfddd1be29a"). */
export function parseImageTags(text: string): ImageTag[] {
  const out: ImageTag[] = [];
  for (const line of text.split('\n')) {
    const [tag, size, id] = line.trim().split(/\s+/);
    if (!tag || tag === '<none>') continue;
    out.push({ tag, bytes: parseSize(size ?? ''), ...(id ? { id } : {}) });
  }
  return out;
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
  remove: string[];
  freedBytes: number;
}

/**
 * The keep-rules: the newest `keep` dated tags stay, and so do the running
 * tag, the tag an empty-tag rollback would go to, `latest`, and anything that
 * is not a dated tag. Everything else goes. Both lists newest first.
 */
export function planCleanup(
  tags: readonly ImageTag[],
  keep: number,
  protectedTags: readonly (string | undefined)[],
  order: readonly string[] = [],
): CleanupPlan {
  const dated = newestFirst(
    tags.filter((t) => isDatedTag(t.tag)).map((t) => t.tag),
    order,
  );
  const guard = new Set(protectedTags.filter((t): t is string => !!t));
  const keepList = dated.filter((t, i) => i < keep || guard.has(t));
  const remove = dated.filter((t) => !keepList.includes(t));
  // An image is freed only when every tag naming it goes (an estimate: layers may be shared).
  const gone = new Set(remove);
  const images = new Map<string, { bytes: number; allGone: boolean }>();
  for (const t of tags) {
    const key = t.id ?? `tag:${t.tag}`;
    const image = images.get(key) ?? { bytes: t.bytes, allGone: true };
    image.allGone &&= gone.has(t.tag);
    images.set(key, image);
  }
  const freedBytes = [...images.values()].reduce((sum, i) => sum + (i.allGone ? i.bytes : 0), 0);
  return { keep: keepList, remove, freedBytes };
}

/** The dated tags present, newest first. */
export function datedTags(tags: readonly ImageTag[], order: readonly string[] = []): string[] {
  return newestFirst(
    tags.filter((t) => isDatedTag(t.tag)).map((t) => t.tag),
    order,
  );
}
