import { readDeploymentInputs, type DeploymentInputs } from '../../github/deployments.js';
import { rollbackBlueGreen } from './blue-green.js';
import { readRollbackBackend, type RollbackBackendInputs } from '../../inputs/backend.js';
import {
  BackendExit,
  fallbackOf,
  imageIds,
  imagesState,
  rollbackPhase,
  ROLLBACK_STEPS,
  runningTag,
} from '../../programs/backend.js';
import { imageOf } from '../../remote/history.js';
import { rollbackTarget } from './rollback-target.js';
import { Steps } from '../../remote/program.js';
import { failureOf, recreateFailure, reportInProgress, reportInterrupted } from '../failures.js';
import { defineFlow } from '../flow.js';
import { datedTags } from '../../rules/images.js';
import { DataOutcome } from '../../programs/backups.js';
import { envSha256 } from '../../programs/env-file.js';
import { stateDirOf } from '../../remote/state-dir.js';
import { backupToRestore, dataAfterUndo } from './backup.js';
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

/** rollback-backend: bring back a named tag, or the release before the running one. */
export const rollbackBackend = defineFlow<RollbackBackendInputs & { deployment: DeploymentInputs }>({
  kind: { action: 'rollback-backend', stack: 'backend', locking: true },
  settings: (reader) => ({ ...readRollbackBackend(reader), deployment: readDeploymentInputs(reader) }),
  async run(settings, nas, context) {
    if (settings.blueGreen.strategy === 'blue-green') return rollbackBlueGreen(settings, nas, context);
    const { progress } = context;
    const { conn, target } = settings;
    const steps = ROLLBACK_BACKEND_STEPS;
    progress.banner('Backend Rollback - NAS Local');
    progress.plan(steps.count);
    progress.step(`${steps.text('lock')} on ${conn.host}`);
    const registry = settings.source.kind === 'registry';
    const state = await nas.readState(imagesState(target.image, target.container, registry));
    const { runningImage, runningId, inventory, platform } = state.answers;
    reportInterrupted(progress, state.interrupted, `The backend now runs ${runningImage || 'nothing'}.`);
    reportInProgress(progress, state.inProgress);
    // A release of several services is rolled back per service; without one, today's single service.
    if (settings.services.length || servicesOfLastRelease(state.history).size)
      return rollbackServices(settings, nas, state, context);
    const current = runningTag(target.image, runningImage);
    const available = datedTags(inventory, state.history);

    const tag = rollbackTarget(progress, settings, { history: state.history, current, available });
    const ref = `${target.image}:${tag}`;
    progress.step(`Verifying image ${ref} exists`);
    // A target the NAS no longer has is got back in the phase (pulled again), before anything changes.
    let pull: (Reobtain & { platform?: string }) | undefined;
    // A release of the image under its name of before a rename comes back under the name the compose file reads now.
    const ranAs = imageOf(state.history, tag);
    let renamed: string | undefined;
    if (!inventory.some((t) => t.tag === tag) && ranAs && ranAs !== target.image) {
      renamed = `${ranAs}:${tag}`;
      const [id] = (await nas.runProgram(imageIds(nas.render, [renamed]))).values;
      if (!id)
        throw new Error(
          `Image ${renamed} (the release ${tag}, before ${target.image} was its name) is not on the NAS any more. Nothing was changed.`,
        );
      progress.ok(`${tag} ran as ${renamed} (${id}): it is tagged ${ref} before anything changes`);
    } else if (!inventory.some((t) => t.tag === tag)) {
      pull = reobtainTarget(progress, settings.source, {
        image: target.image,
        tag,
        history: state.history,
        authDir: `${stateDirOf(conn.repoPath)}/registry-auth`,
      });
      // an image of another platform is refused before it is tagged as the target
      if (pull && platform) pull = { ...pull, platform };
    }
    if (!pull && !renamed && !inventory.some((t) => t.tag === tag)) {
      const list = available.slice(0, 15).join('\n  ');
      throw new Error(
        `Image ${ref} does not exist on the NAS. Available tags, newest first:\n  ${list || '(none)'}\nNothing was changed.`,
      );
    }
    if (!pull && !renamed) progress.ok('Image exists');
    progress.step(steps.text('current'));
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
      return { ok: true, outputs };
    }

    // What runs now comes back if the target fails, by its image's id (it may run under another name).
    const fallback = fallbackOf(target.image, { image: runningImage, ...(runningId ? { id: runningId } : {}) }, tag);
    await startRollbackDeployment(nas, context, {
      inputs: settings.deployment,
      repo: conn.repoPath,
      history: state.history,
      tag,
      description: `Rollback of the backend from ${current || 'nothing'} to ${tag}`,
    });
    const released = await nas.runPhase(
      rollbackPhase(nas.render, {
        repo: conn.repoPath,
        target,
        tag,
        current,
        force: settings.force || current === tag,
        named: !!settings.tag,
        fallback,
        ...(pull ? { pull } : {}),
        ...(renamed ? { renamed } : {}),
        ...(settings.preRollback ? { preRollback: settings.preRollback } : {}),
        ...(settings.postRollback ? { postRollback: settings.postRollback } : {}),
        ...(restore?.manifest
          ? {
              restore: {
                plan: {
                  dir: settings.backupDir,
                  id: restore.id,
                  repo: conn.repoPath,
                  composeFile: target.composeFile,
                  container: target.container,
                  items: restore.manifest.items,
                  image: settings.backupImage,
                },
                safety: { tag: current, commit: '', reason: `safety before restore ${restore.id}` },
              },
            }
          : {}),
        ...(settings.envFile.path
          ? {
              envFile: {
                plan: { repo: conn.repoPath, path: settings.envFile.path, stateDir: stateDirOf(conn.repoPath) },
                content: settings.envFile.content,
                ...(settings.envFile.content ? { sha256: envSha256(settings.envFile.content) } : {}),
              },
            }
          : {}),
      }),
    );
    const { running, rolledBack } = released.values;
    const outputs: Record<string, string> = {
      DEPLOYED_BACKEND_TAG: running,
      PREVIOUS_BACKEND_TAG: current,
      BACKEND_IMAGE: running ? `${target.image}:${running}` : '',
      ...(restore ? { RESTORED_BACKUP: '', SAFETY_BACKUP_ID: released.values.safety?.id ?? '' } : {}),
    };
    const envRecord = settings.envFile.content ? { env: envSha256(settings.envFile.content) } : {};
    const hookFailure = rollbackHookFailure(released.code, `the rollback to ${ref}`);
    if (hookFailure) {
      await nas.finish('failure', { tag, previous: current, detail: hookFailure.detail });
      const why = `${hookFailure.why} ${failureOf(released.tail, released.code)}`;
      progress.fail(why);
      const kept: Record<string, string> = hookFailure.changed
        ? {}
        : { DEPLOYED_BACKEND_TAG: current, BACKEND_IMAGE: runningImage };
      return { ok: false, outputs: { ...outputs, ...kept }, error: why };
    }
    // how far the phase got, not its exit code alone: past the verify, containers were stopped and started again
    if (restore && released.code !== 0 && NOTHING_RESTORED.has(released.code)) {
      const began = released.values.restoreBegan === true;
      await nas.finish('failure', {
        tag,
        previous: current,
        backup: restore.id,
        detail: began ? 'safety backup failed, nothing restored' : 'restore refused',
      });
      const why = began
        ? `The restore of ${restore.id} stopped before it changed any data: the safety backup failed; ${target.container} was stopped for it and started again on ${current || 'the image it ran'}. ${failureOf(released.tail, released.code)}`
        : `The restore of ${restore.id} was refused before anything changed: ${failureOf(released.tail, released.code)}`;
      progress.fail(why);
      return { ok: false, outputs, error: why };
    }
    if (restore && released.code === BackendExit.RestoreFailed) {
      const undone = released.values.restoreUndone === true;
      await nas.finish('failure', {
        tag,
        previous: current,
        backup: restore.id,
        detail: undone ? 'restore failed, undone' : 'restore failed',
      });
      const safetyId = outputs.SAFETY_BACKUP_ID || '(none)';
      const state = undone
        ? `the data of before it was put back from safety backup ${safetyId} and ${current || 'the backend'} runs again`
        : `the data of before it could not be put back; it is in safety backup ${safetyId} (restore it by id)`;
      const why = `Restoring ${restore.id} failed part way; ${state}. ${failureOf(released.tail, released.code)}`;
      progress.fail(why);
      return { ok: false, outputs, error: why };
    }
    if (renamed && released.code === BackendExit.PullFailed) {
      await nas.finish('failure', { tag, previous: current, detail: 'image not tagged' });
      const why = `The rollback to ${ref} stopped before anything changed: ${renamed} could not be tagged as ${ref}. ${failureOf(released.tail, released.code)}`;
      progress.fail(why);
      return {
        ok: false,
        outputs: { ...outputs, DEPLOYED_BACKEND_TAG: current, BACKEND_IMAGE: runningImage },
        error: why,
      };
    }
    const mismatch = !!pull && released.code === BackendExit.PlatformMismatch;
    const pullFailed =
      pull &&
      (mismatch
        ? `the image ${pull.ref} is built for ${released.values.imagePlatform || 'an unknown platform'}, but the NAS runs ${pull.platform ?? 'another'}`
        : reobtainFailure(pull, released.code));
    if (pullFailed) {
      await nas.finish('failure', {
        tag,
        previous: current,
        detail: mismatch ? 'image of another platform' : 'image pull failed',
      });
      const why = `The rollback to ${ref} stopped before anything changed: ${pullFailed}. ${failureOf(released.tail, released.code)}`;
      progress.fail(why);
      return {
        ok: false,
        outputs: { ...outputs, DEPLOYED_BACKEND_TAG: current, BACKEND_IMAGE: runningImage },
        error: why,
      };
    }
    // RESTORED_BACKUP names the backup only when its data is what the backend has now
    if (restore && (released.code === 0 || released.values.data === DataOutcome.Restored))
      outputs.RESTORED_BACKUP = restore.id;
    if (released.code !== 0) {
      const rollbackFailed = released.code === BackendExit.RollbackFailed;
      const envFailed = released.values.envFileFailed === true;
      const data = restore ? dataAfterUndo(restore.id, outputs.SAFETY_BACKUP_ID, released.values.data) : undefined;
      await nas.finish(rolledBack && !rollbackFailed ? 'rolled-back' : 'failure', {
        tag,
        previous: current,
        ...(restore ? { backup: restore.id } : {}),
        detail: [
          envFailed
            ? 'environment file not written'
            : rollbackFailed
              ? 'health check failed and putting back failed'
              : released.values.upFailed
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
          }. ${failureOf(released.tail, released.code)}`
        : recreateFailure({
            what: `The rollback to ${ref}`,
            image: target.image,
            fallback: fallback.tag,
            running,
            rolledBack,
            rollbackFailed,
            upFailed: released.values.upFailed,
            tail: released.tail,
            code: released.code,
          });
      const said = data ? `${why}${why.endsWith('.') ? '' : '.'} ${data.text}` : why;
      progress.fail(said);
      return { ok: false, outputs, error: said };
    }
    await nas.finish('success', { ...envRecord, ...(restore ? { backup: restore.id } : {}) });
    progress.results('ROLLBACK COMPLETE', {
      'Previous image': runningImage,
      'Current image': ref,
      ...(restore ? { 'Restored backup': restore.id, 'Safety backup': outputs.SAFETY_BACKUP_ID } : {}),
    });
    progress.ok(`Successfully rolled back to: ${tag}`);
    await progress.platform.addSummary(
      `### Backend rolled back\n\nFrom \`${current || '(none)'}\` to \`${tag}\` on ${conn.host}.\n`,
    );
    return { ok: true, outputs };
  },
});
