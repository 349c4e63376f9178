import { readRollbackBackend } from '../../inputs/backend.js';
import type { InputReader } from '../../inputs/reader.js';
import { docker } from '../../remote/docker.js';
import { git } from '../../remote/git.js';
import { previousRelease } from '../../remote/history.js';
import { sh } from '../../remote/shell.js';
import type { Progress } from '../../report/progress.js';
import { Operation } from '../operation.js';
import type { FlowContext, FlowResult } from '../run.js';
import { readDeploymentInputs } from '../../github/deployments.js';
import { imageTagsValue } from './cleanup.js';
import { failureOf } from './deploy.js';
import { datedTags, parseImageTags } from './images.js';
import { isDatedTag } from '../tags.js';
import { recreateBackend } from './recreate.js';

/** rollback-backend: bring back a named tag, or the release before the running one. */
export async function rollbackBackend(
  reader: InputReader,
  progress: Progress,
  context: FlowContext,
): Promise<FlowResult> {
  const inputs = readRollbackBackend(reader);
  const deployment = readDeploymentInputs(reader);
  const { conn, target } = inputs;
  progress.banner('Backend Rollback - NAS Local');
  progress.plan(6);
  progress.step(`Taking the release lock on ${conn.host}`);
  return Operation.run({ action: 'rollback-backend', stack: 'backend', conn, progress, locking: true }, async (op) => {
    const state = await op.readState(
      sh`nr_value running_image "$(${op.render.run(docker.containerImage(target.container))} 2>/dev/null)"
${imageTagsValue(op, target.image)}`,
    );
    const runningImage = state.get('running_image') ?? '';
    op.reportInterrupted(`The backend now runs ${runningImage || 'nothing'}.`);
    const current = runningImage.startsWith(`${target.image}:`) ? runningImage.slice(target.image.length + 1) : '';
    const inventory = parseImageTags(Buffer.from(state.get('tags_b64') ?? '', 'base64').toString());
    const available = datedTags(inventory, op.history);

    let tag = inputs.tag;
    if (!tag) {
      const previous = previousRelease(op.history, 'backend', current);
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
    progress.step('Checking current deployment');
    progress.detail(`Current image: ${runningImage || '(no container)'}`);
    progress.detail(`Target image:  ${ref}`);
    if (current === tag && !inputs.force) {
      progress.ok(`${ref} is already running: nothing to do (set force: true to recreate it anyway)`);
      await op.finish('noop', { tag, previous: current, detail: 'already running' });
      const outputs = { DEPLOYED_BACKEND_TAG: tag, PREVIOUS_BACKEND_TAG: current, BACKEND_IMAGE: ref };
      progress.results('ROLLBACK NOT NEEDED', outputs);
      return { ok: true, outputs };
    }

    if (deployment.environment) {
      // The commit the target tag was built from: the history knows it, else the checkout resolves the tag's short SHA.
      let commit = [...op.history].reverse().find((r) => r.stack === 'backend' && r.tag === tag && r.commit)?.commit;
      if (!commit && isDatedTag(tag)) {
        const resolved = await op.runProgram(
          'Finding the commit of the tag',
          sh`nr_value commit "$(${op.render.run(git.revParse(conn.repoPath, `${tag.slice(-7)}^{commit}`))})"`,
          { quiet: true, timeout: 60, allowFailure: true },
        );
        commit = resolved.values.get('commit') || undefined;
      }
      if (commit)
        await context.deployment.start(
          deployment,
          commit,
          `Rollback of the backend from ${current || 'nothing'} to ${tag}`,
        );
      else progress.warn(`No commit is known for ${ref}: no GitHub deployment is recorded`);
    }
    const released = await op.runPhase(
      'Rolling back the backend',
      sh`${op.begin({ tag, previous: current, detail: inputs.tag ? 'named' : 'previous-release' })}
${op.recordingSuccess(
  recreateBackend(op.render, {
    repo: conn.repoPath,
    target,
    tag,
    fallback: current,
    force: inputs.force || current === tag,
    steps: {
      recreate: `Setting ${target.tagVariable} and redeploying`,
      health: 'Waiting for backend to be healthy',
      verify: 'Verifying rollback',
    },
  }),
)}`,
      { timeout: target.healthTimeout * 2 + 600, allowFailure: true },
    );
    const running = released.values.get('running') ?? '';
    const outputs = {
      DEPLOYED_BACKEND_TAG: running,
      PREVIOUS_BACKEND_TAG: current,
      BACKEND_IMAGE: running ? `${target.image}:${running}` : '',
    };
    if (released.code !== 0) {
      const rolledBack = released.values.get('rolled_back') === 'true';
      const rollbackFailed = released.code === 42;
      await op.finish(rolledBack && !rollbackFailed ? 'rolled-back' : 'failure', {
        tag,
        previous: current,
        detail: rollbackFailed ? 'rollback and restore failed' : 'health check failed',
      });
      const why = rollbackFailed
        ? `The rollback to ${ref} failed and putting ${target.image}:${current} back failed too; the backend runs ${running ? `${target.image}:${running}` : 'an unknown image (docker did not answer)'}. ${failureOf(released.tail, released.code)}`
        : rolledBack
          ? `The rollback target ${ref} failed its health check; ${target.image}:${running} was put back`
          : `The rollback to ${ref} failed: ${failureOf(released.tail, released.code)}`;
      progress.fail(why);
      return { ok: false, outputs, error: why };
    }
    await op.finish('success');
    progress.results('ROLLBACK COMPLETE', { 'Previous image': runningImage, 'Current image': ref });
    progress.ok(`Successfully rolled back to: ${tag}`);
    await progress.platform.addSummary(
      `### Backend rolled back\n\nFrom \`${current || '(none)'}\` to \`${tag}\` on ${conn.host}.\n`,
    );
    return { ok: true, outputs };
  });
}
