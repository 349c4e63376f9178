import type { Renderer } from '../remote/command.js';
import { Shell, lines, sh } from '../remote/shell.js';
import { plannedItems } from '../rules/backups.js';
import {
  BACKUP_EXIT,
  BACKUP_LIBRARY,
  BackupExit,
  backupFunction,
  decodeBackup,
  decodeDataOutcome,
  restoreData,
  restoreOrExit,
  undoRestore,
  type AppContainer,
  type BackupLabel,
  type BackupPlan,
  type BackupValues,
  type DataOutcome,
  type RestorePlan,
} from './backups.js';

/**
 * The data steps of a release, written once for every pipeline (one service,
 * several services, blue-green): the backup before the release, the restore
 * of it when the release falls back (auto-rollback-restore), and a rollback's
 * restore of a named backup. Each pipeline only says which application
 * containers use the data: those are stopped while it is put back, the
 * database services keep running.
 */

/** A backup taken before anything changes, of the data the running release uses. */
export interface ReleaseBackup {
  plan: BackupPlan;
  label: BackupLabel;
  /** Put it back when the release falls back (auto-rollback-restore). */
  restoreOnFallback: boolean;
}

/** The backup before the release: ends the phase with BackupFailed (nothing changed) when it cannot be taken. */
export function backupBeforeRelease(r: Renderer, backup: ReleaseBackup | undefined): Shell {
  if (!backup) return sh`:`;
  const what = [
    ...backup.plan.volumes.map((v) => `volume ${v}`),
    ...backup.plan.databases.map((d) => `${d.kind}:${d.service}`),
  ].join(', ');
  return lines(
    BACKUP_LIBRARY,
    backupFunction(backup.plan, backup.label),
    r.dryRun
      ? sh`nr_say info 'dry-run: no backup taken'`
      : sh`nr_say info ${`Backing up ${what} before the release`}
nr_backup || { nr_say fail 'The backup before the release failed: nothing was changed'; ${BACKUP_EXIT.exit(BackupExit.BackupFailed)}; }`,
  );
}

/** Where a release's data lives and which of its containers use it. */
export interface ReleaseData {
  repo: string;
  composeFile: string;
  /** The backend container (its compose project names the data, unless `project` is given). */
  container: string;
  /** The application containers that use the data (default: the backend container). */
  apps?: readonly AppContainer[];
  project?: string;
}

/**
 * The restore of the backup taken before the release, for a release that falls back: defines the restore's
 * functions and runs it. It never ends the phase: a restore that fails sets nr_fb_incomplete and the release
 * that ran before comes back on the data there is (`fallback` names it). The application containers it
 * stopped stay stopped (the fallback recreates them, or the caller starts them with nr_rs_start_backend).
 * Nothing without auto-rollback-restore, or in a dry run.
 */
export function restoreOnFallback(
  r: Renderer,
  backup: ReleaseBackup | undefined,
  o: ReleaseData & { tag: string; commit: string; fallback: string },
): Shell | undefined {
  if (!backup?.restoreOnFallback || r.dryRun) return undefined;
  return sh`nr_say warn 'Restoring the data of before the release (auto-rollback-restore)'
${restoreData(
  r,
  {
    dir: backup.plan.dir,
    id: new Shell('"$nr_bk_id"'),
    repo: o.repo,
    composeFile: o.composeFile,
    container: o.container,
    items: plannedItems(backup.plan.volumes, backup.plan.databases),
    image: backup.plan.image,
    ...(o.apps ? { apps: o.apps } : {}),
    ...(o.project ? { project: o.project } : {}),
  },
  { tag: o.tag, commit: o.commit, reason: 'safety before auto-rollback-restore' },
)}
nr_restore || { nr_fb_incomplete=1; nr_say warn ${`The data of before the release was not restored: ${o.fallback} comes back on the data there is`}; }`;
}

/** A rollback's restore of a named backup, and the label of the safety backup taken first. */
export interface RollbackRestore {
  plan: RestorePlan;
  safety: BackupLabel;
}

/**
 * A rollback's restore before its target starts: verifies the backup, stops the application containers,
 * takes the safety backup, restores. When it fails the containers it stopped start again on the data of
 * before and the phase ends with its BackupExit code. The containers stay stopped when it succeeds: the
 * target starts on the restored data.
 */
export function restoreBeforeTarget(r: Renderer, restore: RollbackRestore): Shell {
  return lines(restoreData(r, restore.plan, restore.safety), restoreOrExit());
}

/**
 * A rollback whose target failed after its restore: the data of before comes back from the safety backup
 * (nr_fb_incomplete when it cannot), then the application containers the restore stopped start again.
 */
export function undoRestoreThenStart(): Shell {
  return lines(undoRestore(), sh`nr_rs_start_backend`);
}

/** The data values of a release or rollback phase: its backup, the safety backup, what a restore did. */
export function decodeReleaseData(values: ReadonlyMap<string, string>): {
  backup?: BackupValues;
  safety?: BackupValues;
  data?: DataOutcome;
  restoreBegan?: boolean;
  restoreUndone?: boolean;
} {
  return {
    ...(values.get('backup_id') ? { backup: decodeBackup(values) } : {}),
    ...(values.get('safety_id') ? { safety: decodeBackup(values, 'safety') } : {}),
    ...decodeDataOutcome(values),
    ...(values.get('restore_began') === 'yes' ? { restoreBegan: true } : {}),
    ...(values.has('restore_undone') ? { restoreUndone: values.get('restore_undone') === 'yes' } : {}),
  };
}
