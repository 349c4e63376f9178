import { isDatedTag, newestFirst } from '../tags.js';

export interface ImageTag {
  tag: string;
  bytes: number;
}

/** Parses `docker image ls --format '{{.Tag}} {{.Size}}'` lines ("2026.01.10-abc123f 12.3MB"). */
export function parseImageTags(text: string): ImageTag[] {
  const out: ImageTag[] = [];
  for (const line of text.split('\n')) {
    const [tag, size] = line.trim().split(/\s+/);
    if (!tag || tag === '<none>') continue;
    out.push({ tag, bytes: parseSize(size ?? '') });
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
export function planCleanup(tags: readonly ImageTag[], keep: number, protectedTags: readonly (string | undefined)[], order: readonly string[] = []): CleanupPlan {
  const dated = newestFirst(tags.filter((t) => isDatedTag(t.tag)).map((t) => t.tag), order);
  const guard = new Set(protectedTags.filter((t): t is string => !!t));
  const keepList = dated.filter((t, i) => i < keep || guard.has(t));
  const remove = dated.filter((t) => !keepList.includes(t));
  const size = new Map(tags.map((t) => [t.tag, t.bytes]));
  return { keep: keepList, remove, freedBytes: remove.reduce((sum, t) => sum + (size.get(t) ?? 0), 0) };
}

/** The dated tags present, newest first. */
export function datedTags(tags: readonly ImageTag[], order: readonly string[] = []): string[] {
  return newestFirst(tags.filter((t) => isDatedTag(t.tag)).map((t) => t.tag), order);
}
