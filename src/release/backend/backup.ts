import { readBackupBackend, type BackupBackendInputs, type BackupSettings } from '../../inputs/backend.js';
import type { Nas } from '../../nas/nas.js';
import {
  BackupExit,
  DataOutcome,
  listBackups,
  removeBackups,
  takeBackup,
  type AppContainer,
  type BackupPlan,
  type BackupValues,
} from '../../programs/backups.js';
import type { RollbackRestore } from '../../programs/release-steps.js';
import { runningTag } from '../../programs/backend.js';
import { command } from '../../remote/command.js';
import { commitOf, previousRelease, type HistoryRecord } from '../../remote/history.js';
import { Steps, type StateQuestions } from '../../remote/program.js';
import { lines, sh } from '../../remote/shell.js';
import type { Progress } from '../../report/progress.js';
import {
  autoBackup,
  backupsOutput,
  isBackupId,
  manifestProblem,
  planBackupRetention,
  type BackupEntry,
} from '../../rules/backups.js';
import { failureOf, reportInProgress } from '../failures.js';
import { defineFlow } from '../flow.js';

export const BACKUP_STEPS = new Steps({
  lock: 'Taking the release lock',
  backup: 'Backing up volumes and databases',
  list: 'Listing backups',
});

/** The backup plan of the inputs, for a compose file and container. */
export function backupPlan(
  b: BackupSettings,
  o: { repo: string; composeFile: string; container: string; found?: BackupPlan['found'] },
): BackupPlan {
  return {
    ...(o.found ? { found: o.found } : {}),
    dir: b.dir,
    repo: o.repo,
    composeFile: o.composeFile,
    container: o.container,
    volumes: b.volumes,
    databases: b.databases,
    image: b.image,
  };
}

/** Keeps the newest `keep` backups and the ones a rollback needs; removes the others. Returns what is left. */
export async function pruneBackups(
  nas: Nas,
  progress: Progress,
  o: { dir: string; keep: number; running: string; history: readonly HistoryRecord[]; entries: BackupEntry[] },
): Promise<BackupEntry[]> {
  const previous = o.running ? previousRelease(o.history, 'backend', o.running) : undefined;
  const plan = planBackupRetention(o.entries, o.keep, { running: o.running, previous });
  const remove = plan.remove.filter(isBackupId);
  if (remove.length === 0) return o.entries;
  progress.detail(
    `Keeping ${plan.keep.length} backup(s) (keep ${o.keep}; always those of ${o.running || 'the running release'}${previous ? ` and ${previous}` : ''}); removing ${remove.length}`,
  );
  const outcome = await nas.runProgram(removeBackups(nas.render, o.dir, remove));
  if (outcome.code !== 0) {
    progress.warn(`Removing old backups ended with exit code ${outcome.code}`);
    return o.entries;
  }
  return nas.dryRun ? o.entries : o.entries.filter((e) => !remove.includes(e.id));
}

interface BackupState {
  runningImage: string;
  /** The compose project and database containers, found with the state (see BackupPlan.found). */
  found?: BackupPlan['found'];
}

const PROJECT_LABEL = 'com.docker.compose.project';
const SERVICE_LABEL = 'com.docker.compose.service';

/**
 * The running image and, in the same docker call, the compose project of the
 * backend container; the running containers of the database services in one
 * more, beside it. So the backup phase makes no lookups of its own.
 */
function backupState(container: string, services: readonly string[]): StateQuestions<BackupState> {
  const inspect = command([
    'docker',
    'container',
    'inspect',
    '--format',
    `{{.Config.Image}} {{index .Config.Labels "${PROJECT_LABEL}"}}`,
    container,
  ]);
  const running = command([
    'docker',
    'ps',
    ...services.flatMap((s) => ['--filter', `label=${SERVICE_LABEL}=${s}`]),
    '--format',
    `{{.Label "${PROJECT_LABEL}"}} {{.Label "${SERVICE_LABEL}"}} {{.Names}}`,
  ]);
  return {
    script: (r) =>
      lines(
        services.length ? sh`( nr_value backup_services "$(${r.run(running)} 2>/dev/null | tr '\n' ' ')" ) &` : null,
        sh`nr_value backup_container "$(${r.run(inspect)} 2>/dev/null)"`,
      ),
    decode: (values) => {
      const [runningImage = '', project = ''] = (values.get('backup_container') ?? '').split(' ');
      if (!project) return { runningImage };
      const containers: Record<string, string> = {};
      const words = (values.get('backup_services') ?? '').split(' ').filter(Boolean);
      for (let i = 0; i + 2 < words.length; i += 3) {
        // legacy links list "other/alias" names beside the container's own
        const name = words[i + 2].split(',').find((n) => !n.includes('/'));
        if (words[i] === project && name && !containers[words[i + 1]]) containers[words[i + 1]] = name;
      }
      return { runningImage, found: { project, containers } };
    },
  };
}

/** backup-backend: back up the backend's volumes and databases on the NAS, prune, and list the backups. */
export const backupBackend = defineFlow<BackupBackendInputs>({
  kind: { action: 'backup-backend', stack: 'backend', locking: true },
  settings: readBackupBackend,
  async run(settings, nas, { progress }) {
    const { conn, backups } = settings;
    progress.banner('Backend Backup - NAS Local');
    progress.plan(BACKUP_STEPS.count);
    progress.step(`${BACKUP_STEPS.text('lock')} on ${conn.host}`);
    const state = await nas.readState(
      backupState(settings.container, backups.enabled ? backups.databases.map((d) => d.service) : []),
    );
    reportInProgress(progress, state.inProgress);
    const running = runningTag(settings.image, state.answers.runningImage);
    let outputs: Record<string, string> = { BACKUP_ID: '', BACKUP_PATH: '', BACKUP_BYTES: '0' };
    let listed: BackupEntry[] | undefined;
    progress.step(BACKUP_STEPS.text('backup'));
    if (backups.enabled) {
      const taken = await nas.runPhase(
        takeBackup(
          nas.render,
          backupPlan(backups, {
            repo: conn.repoPath,
            composeFile: settings.composeFile,
            container: settings.container,
            found: state.answers.found,
          }),
          { tag: running, commit: commitOf(state.history, running), reason: 'manual' },
        ),
      );
      if (taken.code !== 0) {
        const why =
          taken.code === BackupExit.BackupFailed
            ? `The backup failed; its partial folder was removed. ${failureOf(taken.tail, taken.code)}`
            : `The backup ended with exit code ${taken.code}. ${failureOf(taken.tail, taken.code)}`;
        await nas.finish('failure', { tag: running, detail: 'backup failed' });
        progress.fail(why);
        return { ok: false, outputs: {}, error: why };
      }
      outputs = {
        BACKUP_ID: taken.values.id,
        BACKUP_PATH: taken.values.path,
        BACKUP_BYTES: String(taken.values.bytes),
      };
      listed = taken.values.entries;
    } else {
      progress.ok(
        backups.volumes.length || backups.databases.length
          ? 'Backup off (backup: false): listing only'
          : 'Nothing to back up (backup-volumes and backup-databases are empty): listing only',
      );
    }
    progress.step(BACKUP_STEPS.text('list'));
    let entries = listed ?? (await nas.runProgram(listBackups(backups.dir))).values;
    entries = await pruneBackups(nas, progress, {
      dir: backups.dir,
      keep: backups.keep,
      running,
      history: state.history,
      entries,
    });
    for (const e of entries)
      progress.detail(
        `${e.id}  ${(e.bytes / 1e6).toFixed(1)} MB  ${e.verifies ? 'verifies' : 'DOES NOT VERIFY'}  ${e.manifest?.reason ?? ''}`,
      );
    const bad = entries.filter((e) => !e.verifies);
    if (bad.length) progress.warn(`${bad.length} backup(s) do not verify: ${bad.map((e) => e.id).join(', ')}`);
    progress.ok(`${entries.length} backup(s) in ${backups.dir}`);
    await nas.finish('success', {
      tag: running,
      detail: outputs.BACKUP_ID ? `backup ${outputs.BACKUP_ID}` : 'listed backups',
    });
    const all = { ...outputs, BACKUPS: backupsOutput(entries) };
    progress.results(outputs.BACKUP_ID ? 'BACKUP COMPLETE' : 'BACKUPS LISTED', outputs);
    if (outputs.BACKUP_ID)
      await progress.platform.addSummary(
        `### Backend backed up\n\n\`${outputs.BACKUP_ID}\` (${(Number(outputs.BACKUP_BYTES) / 1e6).toFixed(1)} MB) on ${conn.host}.\n`,
      );
    return { ok: true, outputs: all };
  },
});

/** What the restore of an automatic rollback (auto-rollback-restore) did to the data; none without one. */
export function fallbackData(
  values: { backup?: BackupValues; safety?: BackupValues; data?: DataOutcome },
  previous: string,
): { detail: string; text: string } | undefined {
  const backup = values.backup?.id ?? '';
  const safety = values.safety?.id ?? '';
  const on = `${previous || 'the previous release'} runs on the failed release's data`;
  switch (values.data) {
    case undefined:
      return undefined;
    case DataOutcome.Restored:
      return {
        detail: 'data of before restored',
        text: `The data of before the release was restored from backup ${backup} (auto-rollback-restore); the failed release's data is in backup ${safety}`,
      };
    case DataOutcome.BackupCorrupt:
      return {
        detail: 'data not restored (backup corrupt)',
        text: `The data of before the release was NOT restored: backup ${backup} is missing or corrupt; ${on}`,
      };
    case DataOutcome.SafetyBackupFailed:
      return {
        detail: 'data not restored (safety backup failed)',
        text: `The data of before the release was NOT restored: the safety backup of the failed release's data failed; ${on}`,
      };
    case DataOutcome.Undone:
      return {
        detail: 'data not restored (restore failed, undone)',
        text: `The data of before the release was NOT restored: restoring backup ${backup} failed part way and the failed release's data was put back from safety backup ${safety}; ${on}`,
      };
    case DataOutcome.NotUndone:
      return {
        detail: 'data not restored (restore failed, not undone)',
        text: `The data of before the release was NOT restored: restoring backup ${backup} failed part way and the failed release's data could not be put back either, so the data is partly restored; the failed release's data is in safety backup ${safety}`,
      };
  }
}

/**
 * The backup a rollback restores (`restore-backup`: auto, or an id), found in the listing and held to the
 * rules of the inputs before anything changes (the phase verifies its sha256 again first). Every rollback
 * pipeline uses it.
 */
/** A backup a rollback restores, with the manifest that lists its items. */
export type BackupToRestore = BackupEntry & { manifest: NonNullable<BackupEntry['manifest']> };

/**
 * What a rollback's phase restores: the backup's items put back, the containers that use the data stopped for it,
 * and a safety backup of the data there is, labelled with the tag that ran it.
 */
export function rollbackRestore(
  settings: { backupDir: string; backupImage: string },
  o: {
    restore: BackupToRestore;
    repo: string;
    composeFile: string;
    container: string;
    ran: string;
    apps?: readonly AppContainer[];
    project?: string;
  },
): RollbackRestore {
  return {
    plan: {
      dir: settings.backupDir,
      id: o.restore.id,
      repo: o.repo,
      composeFile: o.composeFile,
      container: o.container,
      items: o.restore.manifest.items,
      image: settings.backupImage,
      ...(o.apps ? { apps: o.apps } : {}),
      ...(o.project ? { project: o.project } : {}),
    },
    safety: { tag: o.ran, commit: '', reason: `safety before restore ${o.restore.id}` },
  };
}

export async function backupToRestore(
  nas: Nas,
  progress: Progress,
  o: { dir: string; restoreBackup: string; tag: string },
): Promise<BackupToRestore> {
  const entries = (await nas.runProgram(listBackups(o.dir, { quick: true }))).values;
  const restore =
    o.restoreBackup === 'auto' ? autoBackup(entries, o.tag) : entries.find((e) => e.id === o.restoreBackup);
  const known = entries.slice(0, 10).map((e) => `${e.id}${e.verifies ? '' : ' (does not verify)'}`);
  if (!restore)
    throw new Error(
      `restore-backup: ${o.restoreBackup === 'auto' ? `no backup of ${o.tag} (taken while it ran) exists` : `backup ${o.restoreBackup} does not exist`} in ${o.dir}. Backups, newest first:\n  ${known.join('\n  ') || '(none)'}\nNothing was changed.`,
    );
  if (!restore.verifies || !restore.manifest)
    throw new Error(
      `restore-backup: backup ${restore.id} is incomplete or corrupt (its manifest or a file it lists is missing); it is not restored. Nothing was changed.`,
    );
  // the manifest's text reaches the NAS's shell: it is held to the rules of the inputs it was made from
  const problem = manifestProblem(restore.manifest);
  if (problem)
    throw new Error(
      `restore-backup: backup ${restore.id} has a manifest.json that cannot be restored (${problem}); it is not restored. Nothing was changed.`,
    );
  progress.ok(
    `Backup to restore: ${restore.id} (${restore.manifest.items.map((i) => `${i.kind}:${i.source}${i.database ? `/${i.database}` : ''}`).join(', ')}); its sha256 are checked on the NAS before anything changes`,
  );
  return { ...restore, manifest: restore.manifest };
}

/**
 * How a rollback's restore ended when it ended the phase itself (the backup did not verify, the safety backup
 * failed, an item failed): the history's detail and the message; undefined for any other exit.
 */
export function restoreEnded(
  code: number,
  o: { id: string; began?: boolean; undone?: boolean; safety: string; running: string; stopped: string },
): { detail: string; why: string } | undefined {
  if (code === BackupExit.BackupCorrupt || code === BackupExit.SafetyBackupFailed)
    return o.began
      ? {
          detail: 'safety backup failed, nothing restored',
          why: `The restore of ${o.id} stopped before it changed any data: the safety backup failed; ${o.stopped} was stopped for it and started again on ${o.running}.`,
        }
      : { detail: 'restore refused', why: `The restore of ${o.id} was refused before anything changed.` };
  if (code === BackupExit.RestoreFailed)
    return {
      detail: o.undone ? 'restore failed, undone' : 'restore failed',
      why: `Restoring ${o.id} failed part way; ${
        o.undone
          ? `the data of before it was put back from safety backup ${o.safety || '(none)'} and ${o.running} runs again`
          : `the data of before it could not be put back; it is in safety backup ${o.safety || '(none)'} (restore it by id)`
      }.`,
    };
  return undefined;
}

/** What the data is after a rollback with a restore whose target failed: the restore undone, or not. */
export function dataAfterUndo(
  backup: string,
  safety: string,
  data: DataOutcome | undefined,
): { detail: string; text: string } {
  if (data === DataOutcome.Undone)
    return {
      detail: 'restore undone',
      text: `The restore of ${backup} was undone: the data of before it is back from safety backup ${safety}.`,
    };
  if (data === DataOutcome.NotUndone)
    return {
      detail: 'restore not undone',
      text: `The data of before the restore of ${backup} could not be put back: the backend has the data of ${backup}, partly put back; the data of before is in safety backup ${safety} (restore it by id).`,
    };
  return {
    detail: 'data restored',
    text: `The data is the one restored from ${backup}; the data of before is in safety backup ${safety}.`,
  };
}
