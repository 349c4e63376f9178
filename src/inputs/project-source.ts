import type { ConnectionInputs } from './connection.js';
import { InputError } from './reader.js';

/**
 * What project-source: runner does not do yet, refused before anything connects rather than done half: each
 * pair names the input and whether it is used; `action` names an action that does not ship releases at all.
 */
export function refuseWithRunnerProject(
  conn: ConnectionInputs,
  unsupported: readonly (readonly [string, boolean])[],
  action?: string,
): void {
  if (conn.projectSource !== 'runner') return;
  if (action)
    throw new InputError(
      'project-source',
      `runner is not supported by ${action} yet (only deploy-backend, rollback-backend and cleanup-backend ship releases from the runner); use project-source: git there`,
    );
  const used = unsupported.find(([, on]) => on);
  if (used)
    throw new InputError(
      used[0],
      'is not supported together with project-source: runner yet (a release shipped from the runner has no several services, blue-green, backups or environment file); use project-source: git for it',
    );
}
