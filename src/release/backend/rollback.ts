import { readDeploymentInputs, type DeploymentInputs } from '../../github/deployments.js';
import { rollbackBlueGreen } from './blue-green.js';
import { readRollbackBackend, type RollbackBackendInputs } from '../../inputs/backend.js';
import {
  BackendExit,
  fallbackOf,
  imageIds,
  imagesState,
  rollbackPhase,
  type Fallback,
  type ImagesState,
  type RollbackValues,
  ROLLBACK_STEPS,
  runningTag,
} from '../../programs/backend.js';
import { imageOf } from '../../remote/history.js';
import { rollbackTarget } from './rollback-target.js';
import { Steps } from '../../remote/program.js';
import { failureOf, recreateFailure, reportInProgress, reportInterrupted } from '../failures.js';
import { defineFlow, type FlowContext, type FlowResult } from '../flow.js';
import type { Nas, NasState, RecordUpdate } from '../../nas/nas.js';
import type { ProgramOutcome } from '../../remote/program.js';
import type { Progress } from '../../report/progress.js';
import { datedTags } from '../../rules/images.js';
import { DataOutcome } from '../../programs/backups.js';
import { envSha256 } from '../../programs/env-file.js';
import { stateDirOf } from '../../remote/state-dir.js';
import { backupToRestore, dataAfterUndo, rollbackRestore } from './backup.js';
import { rollbackServices, servicesOfLastRelease } from './rollback-services.js';
import { startRollbackDeployment } from './rollback-deployment.js';
import { rollbackHookFailure } from './rollback-hooks.js';
import type { Reobtain } from '../../image-sources/table.js';
import { reobtainFailure, reobtainTarget } from './reobtain.js';

/** A restore that ends with these restored nothing: the backup did not verify, the safety backup failed, the environment file was not staged. */
const NOTHING_RESTORED: ReadonlySet<number> = new Set([
  BackendExit.BackupCorrupt,
  BackendExit.SafetyBackupFailed,
  BackendExit.EnvFileFailed,
]);

export const ROLLBACK_BACKEND_STEPS = new Steps({
  lock: 'Taking the release lock',
  image: 'Verifying the image exists',
  current: 'Checking current deployment',
  ...ROLLBACK_STEPS,
});

type RollbackSettings = RollbackBackendInputs & { deployment: DeploymentInputs };
type RolledBack = ProgramOutcome<RollbackValues>;

/** What a rollback of one service knows before its phase runs. */
interface PlannedRollback {
  state: NasState<ImagesState>;
  /** The tag the backend runs now, empty: none of this image. */
  current: string;
  tag: string;
  /** `image:tag` being brought back. */
  ref: string;
  /** A target the NAS no longer has, got back in the phase. */
  pull?: Reobtain & { platform?: string };
  /** The target's image under its name of before a rename. */
  renamed?: string;
  /** The backup to restore, found and verified. */
  restore?: Awaited<ReturnType<typeof backupToRestore>>;
  fallback: Fallback;
}

/** rollback-backend: bring back a named tag, or the release before the running one. */
export const rollbackBackend = defineFlow<RollbackSettings>({
  kind: { action: 'rollback-backend', stack: 'backend', locking: true },
  settings: (reader) => ({ ...readRollbackBackend(reader), deployment: readDeploymentInputs(reader) }),
  async run(settings, nas, context) {
    if (settings.blueGreen.strategy === 'blue-green') return rollbackBlueGreen(settings, nas, context);
    const { progress } = context;
    const { conn, target } = settings;
    progress.banner('Backend Rollback - NAS Local');
    progress.plan(ROLLBACK_BACKEND_STEPS.count);
    progress.step(`${ROLLBACK_BACKEND_STEPS.text('lock')} on ${conn.host}`);
    const registry = settings.source.kind === 'registry';
    const state = await nas.readState(imagesState(target.image, target.container, registry));
    reportInterrupted(progress, state.interrupted, `The backend now runs ${state.answers.runningImage || 'nothing'}.`);
    reportInProgress(progress, state.inProgress);
    // A release of several services is rolled back per service; without one, today's single service.
    if (settings.services.length || servicesOfLastRelease(state.history).size)
      return rollbackServices(settings, nas, state, context);
    const planned = await planRollback(settings, nas, progress, state);
    if ('done' in planned) return planned.done;
    return runRollback(settings, nas, context, planned);
  },
});

/** Picks the target, finds its image (or how to get it back) and the backup to restore; a target already running is a no-op. */
async function planRollback(
  settings: RollbackSettings,
  nas: Nas,
  progress: Progress,
  state: NasState<ImagesState>,
): Promise<PlannedRollback | { done: FlowResult }> {
  const { target } = settings;
  const { runningImage, runningId } = state.answers;
  const current = runningTag(target.image, runningImage);
  const available = datedTags(state.answers.inventory, state.history);
  const tag = rollbackTarget(progress, settings, { history: state.history, current, available });
  const ref = `${target.image}:${tag}`;
  progress.step(`Verifying image ${ref} exists`);
  const found = await findTargetImage(settings, nas, progress, { state, tag, ref, available });
  progress.step(ROLLBACK_BACKEND_STEPS.text('current'));
  progress.detail(`Current image: ${runningImage || '(no container)'}`);
  progress.detail(`Target image:  ${ref}`);
  // The backup to restore: found and verified before anything changes (the phase verifies it again first).
  const restore = settings.restoreBackup
    ? await backupToRestore(nas, progress, { dir: settings.backupDir, restoreBackup: settings.restoreBackup, tag })
    : undefined;
  if (current === tag && !settings.force && !restore) {
    progress.ok(`${ref} is already running: nothing to do (set force: true to recreate it anyway)`);
    await nas.finish('noop', { tag, previous: current, detail: 'already running' });
    const outputs = { DEPLOYED_BACKEND_TAG: tag, PREVIOUS_BACKEND_TAG: current, BACKEND_IMAGE: ref };
    progress.results('ROLLBACK NOT NEEDED', outputs);
    return { done: { ok: true, outputs } };
  }
  // What runs now comes back if the target fails, by its image's id (it may run under another name).
  const fallback = fallbackOf(target.image, { image: runningImage, ...(runningId ? { id: runningId } : {}) }, tag);
  return { state, current, tag, ref, ...found, ...(restore ? { restore } : {}), fallback };
}

/**
 * The target's image: on the NAS, under its name of before a rename, or got back in the phase (pulled again);
 * refused before anything changes when none of these.
 */
async function findTargetImage(
  settings: RollbackSettings,
  nas: Nas,
  progress: Progress,
  { state, tag, ref, available }: { state: NasState<ImagesState>; tag: string; ref: string; available: string[] },
): Promise<Pick<PlannedRollback, 'pull' | 'renamed'>> {
  const { target, conn } = settings;
  const { inventory, platform } = state.answers;
  if (inventory.some((t) => t.tag === tag)) {
    progress.ok('Image exists');
    return {};
  }
  // A release of the image under its name of before a rename comes back under the name the compose file reads now.
  const ranAs = imageOf(state.history, tag);
  if (ranAs && ranAs !== target.image) {
    const renamed = `${ranAs}:${tag}`;
    const [id] = (await nas.runProgram(imageIds(nas.render, [renamed]))).values;
    if (!id)
      throw new Error(
        `Image ${renamed} (the release ${tag}, before ${target.image} was its name) is not on the NAS any more. Nothing was changed.`,
      );
    progress.ok(`${tag} ran as ${renamed} (${id}): it is tagged ${ref} before anything changes`);
    return { renamed };
  }
  // A target the NAS no longer has is got back in the phase (pulled again), before anything changes.
  const pull = reobtainTarget(progress, settings.source, {
    image: target.image,
    tag,
    history: state.history,
    authDir: `${stateDirOf(conn.repoPath)}/registry-auth`,
  });
  if (!pull) {
    const list = available.slice(0, 15).join('\n  ');
    throw new Error(
      `Image ${ref} does not exist on the NAS. Available tags, newest first:\n  ${list || '(none)'}\nNothing was changed.`,
    );
  }
  // an image of another platform is refused before it is tagged as the target
  return { pull: platform ? { ...pull, platform } : pull };
}

/** Starts the deployment, runs the detached rollback phase and says what its exit means. */
async function runRollback(
  settings: RollbackSettings,
  nas: Nas,
  context: FlowContext,
  p: PlannedRollback,
): Promise<FlowResult> {
  await startRollbackDeployment(nas, context, {
    inputs: settings.deployment,
    repo: settings.conn.repoPath,
    history: p.state.history,
    tag: p.tag,
    description: `Rollback of the backend from ${p.current || 'nothing'} to ${p.tag}`,
  });
  const released = await nas.runPhase(rollbackPhase(nas.render, rollbackPlanOf(settings, p)));
  return interpretRollback(settings, nas, context.progress, p, released);
}

/** The rollback phase's plan: get the image back, restore, env file, hooks, recreate and health. */
function rollbackPlanOf(settings: RollbackSettings, p: PlannedRollback): Parameters<typeof rollbackPhase>[1] {
  const { conn, target, envFile } = settings;
  const { tag, current, pull, renamed, restore } = p;
  return {
    repo: conn.repoPath,
    target,
    tag,
    current,
    force: settings.force || current === tag,
    named: !!settings.tag,
    fallback: p.fallback,
    ...(pull ? { pull } : {}),
    ...(renamed ? { renamed } : {}),
    ...(settings.preRollback ? { preRollback: settings.preRollback } : {}),
    ...(settings.postRollback ? { postRollback: settings.postRollback } : {}),
    ...(restore?.manifest
      ? {
          restore: rollbackRestore(settings, {
            restore: { ...restore, manifest: restore.manifest },
            repo: conn.repoPath,
            composeFile: target.composeFile,
            container: target.container,
            ran: current,
          }),
        }
      : {}),
    ...(envFile.path
      ? {
          envFile: {
            plan: { repo: conn.repoPath, path: envFile.path, stateDir: stateDirOf(conn.repoPath) },
            content: envFile.content,
            ...(envFile.content ? { sha256: envSha256(envFile.content) } : {}),
          },
        }
      : {}),
  };
}

/** A rollback that stopped short of its recreate's outcome: its history record, why, and whether what ran before runs on. */
interface StoppedRollback {
  record: RecordUpdate;
  why: string;
  /** Nothing changed: the outputs name what ran before. */
  unchanged: boolean;
}

/**
 * What the rollback phase's exit means when it stopped before its recreate's outcome: a hook failed, the restore
 * restored nothing or failed part way, the image could not be tagged, pulled or was of another platform.
 */
function stoppedRollback(
  settings: RollbackSettings,
  { tag, current, ref, pull, renamed, restore }: PlannedRollback,
  { code, values, tail }: RolledBack,
  outputs: Record<string, string>,
): StoppedRollback | undefined {
  const said = failureOf(tail, code);
  const hook = rollbackHookFailure(code, `the rollback to ${ref}`);
  if (hook)
    return {
      record: { tag, previous: current, detail: hook.detail },
      why: `${hook.why} ${said}`,
      unchanged: !hook.changed,
    };
  // how far the phase got, not its exit code alone: past the verify, containers were stopped and started again
  if (restore && code !== 0 && NOTHING_RESTORED.has(code)) {
    const began = values.restoreBegan === true;
    return {
      record: {
        tag,
        previous: current,
        backup: restore.id,
        detail: began ? 'safety backup failed, nothing restored' : 'restore refused',
      },
      why: began
        ? `The restore of ${restore.id} stopped before it changed any data: the safety backup failed; ${settings.target.container} was stopped for it and started again on ${current || 'the image it ran'}. ${said}`
        : `The restore of ${restore.id} was refused before anything changed: ${said}`,
      unchanged: false,
    };
  }
  if (restore && code === BackendExit.RestoreFailed) {
    const undone = values.restoreUndone === true;
    const safetyId = outputs.SAFETY_BACKUP_ID || '(none)';
    const state = undone
      ? `the data of before it was put back from safety backup ${safetyId} and ${current || 'the backend'} runs again`
      : `the data of before it could not be put back; it is in safety backup ${safetyId} (restore it by id)`;
    return {
      record: {
        tag,
        previous: current,
        backup: restore.id,
        detail: undone ? 'restore failed, undone' : 'restore failed',
      },
      why: `Restoring ${restore.id} failed part way; ${state}. ${said}`,
      unchanged: false,
    };
  }
  if (renamed && code === BackendExit.PullFailed)
    return {
      record: { tag, previous: current, detail: 'image not tagged' },
      why: `The rollback to ${ref} stopped before anything changed: ${renamed} could not be tagged as ${ref}. ${said}`,
      unchanged: true,
    };
  const mismatch = !!pull && code === BackendExit.PlatformMismatch;
  const pullFailed =
    pull &&
    (mismatch
      ? `the image ${pull.ref} is built for ${values.imagePlatform || 'an unknown platform'}, but the NAS runs ${pull.platform ?? 'another'}`
      : reobtainFailure(pull, code));
  if (pullFailed)
    return {
      record: { tag, previous: current, detail: mismatch ? 'image of another platform' : 'image pull failed' },
      why: `The rollback to ${ref} stopped before anything changed: ${pullFailed}. ${said}`,
      unchanged: true,
    };
  return undefined;
}

/** What the rollback phase's exit means: stopped short, a failed recreate, or the rollback. */
async function interpretRollback(
  settings: RollbackSettings,
  nas: Nas,
  progress: Progress,
  p: PlannedRollback,
  released: RolledBack,
): Promise<FlowResult> {
  const { target } = settings;
  const { running } = released.values;
  const outputs: Record<string, string> = {
    DEPLOYED_BACKEND_TAG: running,
    PREVIOUS_BACKEND_TAG: p.current,
    BACKEND_IMAGE: running ? `${target.image}:${running}` : '',
    ...(p.restore ? { RESTORED_BACKUP: '', SAFETY_BACKUP_ID: released.values.safety?.id ?? '' } : {}),
  };
  const stopped = stoppedRollback(settings, p, released, outputs);
  if (stopped) {
    await nas.finish('failure', stopped.record);
    progress.fail(stopped.why);
    const kept: Record<string, string> = stopped.unchanged
      ? { DEPLOYED_BACKEND_TAG: p.current, BACKEND_IMAGE: p.state.answers.runningImage }
      : {};
    return { ok: false, outputs: { ...outputs, ...kept }, error: stopped.why };
  }
  // RESTORED_BACKUP names the backup only when its data is what the backend has now
  if (p.restore && (released.code === 0 || released.values.data === DataOutcome.Restored))
    outputs.RESTORED_BACKUP = p.restore.id;
  if (released.code !== 0) {
    const said = await reportFailedRollback(settings, nas, p, released, outputs);
    progress.fail(said);
    return { ok: false, outputs, error: said };
  }
  return reportRolledBack(settings, nas, progress, p, outputs);
}

/** Files a rollback whose recreate failed and says what it left running. */
async function reportFailedRollback(
  settings: RollbackSettings,
  nas: Nas,
  { tag, current, ref, restore, fallback }: PlannedRollback,
  { code, values, tail }: RolledBack,
  outputs: Record<string, string>,
): Promise<string> {
  const { target } = settings;
  const { running, rolledBack } = values;
  const rollbackFailed = code === BackendExit.RollbackFailed;
  const envFailed = values.envFileFailed === true;
  const data = restore ? dataAfterUndo(restore.id, outputs.SAFETY_BACKUP_ID, values.data) : undefined;
  await nas.finish(rolledBack && !rollbackFailed ? 'rolled-back' : 'failure', {
    tag,
    previous: current,
    ...(restore ? { backup: restore.id } : {}),
    detail: [
      envFailed
        ? 'environment file not written'
        : rollbackFailed
          ? 'health check failed and putting back failed'
          : values.upFailed
            ? 'container not created'
            : 'health check failed',
      ...(data ? [data.detail] : []),
    ].join(', '),
  });
  const why = envFailed
    ? `The rollback to ${ref} stopped after the restore: ${settings.envFile.path} could not be written, so ${ref} was not started; ${
        rollbackFailed
          ? `putting ${target.image}:${fallback.tag} back failed too`
          : `${target.image}:${running} runs again`
      }. ${failureOf(tail, code)}`
    : recreateFailure({
        what: `The rollback to ${ref}`,
        image: target.image,
        fallback: fallback.tag,
        running,
        rolledBack,
        rollbackFailed,
        upFailed: values.upFailed,
        tail,
        code,
      });
  return data ? `${why}${why.endsWith('.') ? '' : '.'} ${data.text}` : why;
}

/** Files the rollback in the history and reports it. */
async function reportRolledBack(
  settings: RollbackSettings,
  nas: Nas,
  progress: Progress,
  { state, current, tag, ref, restore }: PlannedRollback,
  outputs: Record<string, string>,
): Promise<FlowResult> {
  const envRecord = settings.envFile.content ? { env: envSha256(settings.envFile.content) } : {};
  await nas.finish('success', { ...envRecord, ...(restore ? { backup: restore.id } : {}) });
  progress.results('ROLLBACK COMPLETE', {
    'Previous image': state.answers.runningImage,
    'Current image': ref,
    ...(restore ? { 'Restored backup': restore.id, 'Safety backup': outputs.SAFETY_BACKUP_ID } : {}),
  });
  progress.ok(`Successfully rolled back to: ${tag}`);
  await progress.platform.addSummary(
    `### Backend rolled back\n\nFrom \`${current || '(none)'}\` to \`${tag}\` on ${settings.conn.host}.\n`,
  );
  return { ok: true, outputs };
}
