import { previousRelease, type HistoryRecord } from '../../remote/history.js';
import type { Progress } from '../../report/progress.js';

/**
 * The tag a rollback goes to: the one the input names, or else the release
 * before the running one in the history; without one, an error that lists the
 * tags the NAS has, before anything changed.
 */
export function rollbackTarget(
  progress: Progress,
  settings: { tag: string; conn: { repoPath: string } },
  o: { history: readonly HistoryRecord[]; current: string; available: readonly string[] },
): string {
  if (settings.tag) return settings.tag;
  const previous = previousRelease(o.history, 'backend', o.current);
  if (!previous)
    throw new Error(
      `No previous release in the history of ${settings.conn.repoPath} to roll back to (running: ${o.current || 'nothing'}). Name a tag; available: ${o.available.slice(0, 10).join(', ') || 'none'}. Nothing was changed.`,
    );
  progress.detail(`Target: the previous release, ${previous} (from the release history)`);
  return previous;
}
