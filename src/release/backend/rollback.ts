import { readDeploymentInputs, type DeploymentInputs } from '../../github/deployments.js';
import { readRollbackBackend, type RollbackBackendInputs } from '../../inputs/backend.js';
import {
  BackendExit,
  commitOfTag,
  imagesState,
  rollbackPhase,
  ROLLBACK_STEPS,
  runningTag,
} from '../../programs/backend.js';
import { previousRelease } from '../../remote/history.js';
import { Steps } from '../../remote/program.js';
import { recreateFailure, reportInProgress, reportInterrupted } from '../failures.js';
import { defineFlow } from '../flow.js';
import { isDatedTag } from '../../rules/tags.js';
import { datedTags } from '../../rules/images.js';

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
  async run(settings, nas, { progress, deployment }) {
    const { conn, target } = settings;
    const steps = ROLLBACK_BACKEND_STEPS;
    progress.banner('Backend Rollback - NAS Local');
    progress.plan(steps.count);
    progress.step(`${steps.text('lock')} on ${conn.host}`);
    const state = await nas.readState(imagesState(target.image, target.container));
    const { runningImage, inventory } = state.answers;
    reportInterrupted(progress, state.interrupted, `The backend now runs ${runningImage || 'nothing'}.`);
    reportInProgress(progress, state.inProgress);
    const current = runningTag(target.image, runningImage);
    const available = datedTags(inventory, state.history);

    let tag = settings.tag;
    if (!tag) {
      const previous = previousRelease(state.history, 'backend', current);
      if (!previous) {
        throw new Error(
          `No previous release in the history of ${conn.repoPath} to roll back to (running: ${current || 'nothing'}). Name a tag; available: ${available.slice(0, 10).join(', ') || 'none'}. Nothing was changed.`,
        );
      }
      tag = previous;
      progress.detail(`Target: the previous release, ${tag} (from the release history)`);
    }
    const ref = `${target.image}:${tag}`;
    progress.step(`Verifying image ${ref} exists`);
    if (!inventory.some((t) => t.tag === tag)) {
      const list = available.slice(0, 15).join('\n  ');
      throw new Error(
        `Image ${ref} does not exist on the NAS. Available tags, newest first:\n  ${list || '(none)'}\nNothing was changed.`,
      );
    }
    progress.ok('Image exists');
    progress.step(steps.text('current'));
    progress.detail(`Current image: ${runningImage || '(no container)'}`);
    progress.detail(`Target image:  ${ref}`);
    if (current === tag && !settings.force) {
      progress.ok(`${ref} is already running: nothing to do (set force: true to recreate it anyway)`);
      await nas.finish('noop', { tag, previous: current, detail: 'already running' });
      const outputs = { DEPLOYED_BACKEND_TAG: tag, PREVIOUS_BACKEND_TAG: current, BACKEND_IMAGE: ref };
      progress.results('ROLLBACK NOT NEEDED', outputs);
      return { ok: true, outputs };
    }

    if (settings.deployment.environment) {
      // The commit the target tag was built from: the history knows it, else the checkout resolves the tag's short SHA.
      let commit = [...state.history].reverse().find((r) => r.stack === 'backend' && r.tag === tag && r.commit)?.commit;
      if (!commit && isDatedTag(tag))
        commit = (await nas.runProgram(commitOfTag(nas.render, conn.repoPath, tag.slice(-7)))).values || undefined;
      if (commit)
        await deployment.start(
          settings.deployment,
          commit,
          `Rollback of the backend from ${current || 'nothing'} to ${tag}`,
        );
      else progress.warn(`No commit is known for ${ref}: no GitHub deployment is recorded`);
    }
    const released = await nas.runPhase(
      rollbackPhase(nas.render, {
        repo: conn.repoPath,
        target,
        tag,
        current,
        force: settings.force || current === tag,
        named: !!settings.tag,
      }),
    );
    const { running, rolledBack } = released.values;
    const outputs = {
      DEPLOYED_BACKEND_TAG: running,
      PREVIOUS_BACKEND_TAG: current,
      BACKEND_IMAGE: running ? `${target.image}:${running}` : '',
    };
    if (released.code !== 0) {
      const rollbackFailed = released.code === BackendExit.RollbackFailed;
      await nas.finish(rolledBack && !rollbackFailed ? 'rolled-back' : 'failure', {
        tag,
        previous: current,
        detail: rollbackFailed ? 'rollback and restore failed' : 'health check failed',
      });
      const why = recreateFailure({
        what: `The rollback to ${ref}`,
        image: target.image,
        fallback: current,
        running,
        rolledBack,
        rollbackFailed,
        tail: released.tail,
        code: released.code,
      });
      progress.fail(why);
      return { ok: false, outputs, error: why };
    }
    await nas.finish('success');
    progress.results('ROLLBACK COMPLETE', { 'Previous image': runningImage, 'Current image': ref });
    progress.ok(`Successfully rolled back to: ${tag}`);
    await progress.platform.addSummary(
      `### Backend rolled back\n\nFrom \`${current || '(none)'}\` to \`${tag}\` on ${conn.host}.\n`,
    );
    return { ok: true, outputs };
  },
});
