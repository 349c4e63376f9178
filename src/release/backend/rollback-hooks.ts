import { BackendExit } from '../../programs/backend.js';

/**
 * What a rollback that a user's hook ended left: pre-rollback fails before
 * anything changes; post-rollback fails once the target runs, verified.
 * `what` names the rollback ("the rollback to app:2026.01.09-def4567").
 * Undefined for any other end.
 */
export function rollbackHookFailure(
  code: number,
  what: string,
): { detail: string; why: string; changed: boolean } | undefined {
  if (code === BackendExit.PreDeployFailed)
    return {
      detail: 'pre-rollback failed',
      why: `pre-rollback failed, so ${what} stopped before anything changed: what ran before runs on.`,
      changed: false,
    };
  if (code === BackendExit.PostDeployFailed)
    return {
      detail: 'post-rollback failed',
      why: `${what.charAt(0).toUpperCase()}${what.slice(1)} is done (it runs and passed its checks), but post-rollback failed.`,
      changed: true,
    };
  return undefined;
}
