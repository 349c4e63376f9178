import { BackendExit } from '../programs/backend.js';
import { CheckoutExit } from '../programs/checkout.js';
import type { HistoryRecord } from '../remote/history.js';
import type { Progress } from '../report/progress.js';

/** The history's word for a release that ended before its recreate (nothing changed on the NAS). */
export function beforeRecreateDetail(code: number): string {
  if (code === BackendExit.BuildFailed) return 'build failed';
  if (code === BackendExit.RegistryLoginFailed) return 'registry login failed';
  if (code === BackendExit.PullFailed) return 'image pull failed';
  if (code === BackendExit.ImageNotTransferred) return 'image not transferred';
  if (code === BackendExit.PlatformMismatch) return 'image of another platform';
  if (code === BackendExit.BackupFailed) return 'backup failed';
  if (code === BackendExit.EnvFileFailed) return 'environment file not written';
  if (code === CheckoutExit.DirtyCheckout) return 'dirty checkout';
  return 'checkout or build failed';
}

/** The line that says why, from a failed program's last lines. */
export function failureOf(tail: readonly string[], code: number): string {
  const last = tail.filter((l) => l.trim()).slice(-8);
  return `exit code ${code}${last.length ? `; last lines:\n${last.join('\n')}` : ''}`;
}

/**
 * Why a recreate failed, from the most to the least serious: the new tag and
 * the way back both failed; the way back worked; nothing to go back to.
 * Shared by deploy (`the release …`) and rollback (`the rollback to …`).
 */
export function recreateFailure(o: {
  what: string;
  image: string;
  fallback: string;
  running: string;
  rolledBack: boolean;
  rollbackFailed: boolean;
  /** docker compose up failed: the new container was not created. */
  upFailed?: boolean;
  tail: readonly string[];
  code: number;
}): string {
  const failed = o.upFailed
    ? 'could not be created (docker compose up failed; its error is in the log)'
    : 'failed its health check';
  if (o.rollbackFailed)
    return `${o.what} failed and putting ${o.image}:${o.fallback} back failed too; the backend runs ${o.running ? `${o.image}:${o.running}` : 'an unknown image (docker did not answer)'}. ${failureOf(o.tail, o.code)}`;
  if (o.rolledBack) return `${o.what} ${failed} and was rolled back to ${o.image}:${o.running}`;
  return `${o.what} failed: ${failureOf(o.tail, o.code)}`;
}

/** Says what an interrupted run left behind; `now` describes what runs now. */
export function reportInterrupted(progress: Progress, interrupted: HistoryRecord | undefined, now: string): void {
  if (!interrupted) return;
  const r = interrupted;
  progress.warn(
    `The previous operation did not finish: ${r.action} of ${r.tag || '?'} (${r.run ?? 'unknown run'}, by ${r.actor ?? '?'}, started ${r.started}) was interrupted. ${now}`,
  );
}

/** Says that a release runs beside this lock-free operation, whose view may be a moment old. */
export function reportInProgress(progress: Progress, running: HistoryRecord | undefined): void {
  if (!running) return;
  progress.warn(
    `A release is running on the NAS right now: ${running.action} of ${running.tag || '?'} (${running.run ?? 'unknown run'}, by ${running.actor ?? '?'}, since ${running.started}). What follows shows the state before it ends.`,
  );
}
