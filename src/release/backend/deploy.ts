import { readDeployBackend } from '../../inputs/backend.js';
import type { InputReader } from '../../inputs/reader.js';
import { docker } from '../../remote/docker.js';
import { fetchTarget, moveCheckout } from '../../remote/git.js';
import { previousRelease } from '../../remote/history.js';
import { sh } from '../../remote/shell.js';
import type { Progress } from '../../report/progress.js';
import { Operation } from '../operation.js';
import type { FlowContext, FlowResult } from '../run.js';
import { readDeploymentInputs } from '../../github/deployments.js';
import { datedTag } from '../tags.js';
import { cleanupImages, imageTagsValue } from './cleanup.js';
import { datedTags, parseImageTags } from './images.js';
import { recreateBackend } from './recreate.js';

/** deploy-backend: update the checkout, build `image:YYYY.MM.DD-<sha7>`, recreate, wait for health, verify; roll back by itself on failure. */
export async function deployBackend(
  reader: InputReader,
  progress: Progress,
  context: FlowContext,
): Promise<FlowResult> {
  const inputs = readDeployBackend(reader);
  const deployment = readDeploymentInputs(reader);
  const { conn, target, checkout } = inputs;
  progress.banner('Backend Deployment - NAS Local Tagged Build');
  progress.plan(8);
  progress.step(`Taking the release lock on ${conn.host}`);
  return Operation.run({ action: 'deploy-backend', stack: 'backend', conn, progress, locking: true }, async (op) => {
    // Read the state and fetch the target commit in one round trip (the image query beside the fetch); the work tree is not touched yet.
    const state = await op.readState(
      sh`( nr_value running_image "$(${op.render.run(docker.containerImage(target.container))} 2>/dev/null)" ) &
${fetchTarget(op.render, { repo: conn.repoPath, ...checkout })}`,
    );
    const runningImage = state.get('running_image') ?? '';
    op.reportInterrupted(`The backend now runs ${runningImage || 'nothing'}.`);
    const commit = state.get('commit') ?? '';
    const tag = datedTag(commit, new Date());
    const ref = `${target.image}:${tag}`;
    await context.deployment.start(deployment, commit, `Deploy ${ref}`);

    // One detached phase from checkout to health, so a hang-up cannot leave a half-done
    // checkout or recreate, and no round trip is spent between the build and the recreate.
    const previous = runningImage.startsWith(`${target.image}:`) ? runningImage.slice(target.image.length + 1) : '';
    const released = await op.runPhase(
      'Releasing the backend',
      sh`${op.begin({ tag, commit, previous, detail: 'deploy' })}
nr_say step ${`Updating repository from ${checkout.remote}/${checkout.branch}`}
${moveCheckout(op.render, { repo: conn.repoPath, ...checkout, runLabel: `${op.run.url} (${op.run.actor})` }, commit)}
nr_say info ${`${commit.slice(0, 7)} ${state.get('subject') ?? ''}`}
nr_say step 'Computing image tag'
nr_say ok ${`Image tag: ${tag}`}
nr_say step ${`Building backend image (${ref})`}
cd ${conn.repoPath} || exit 30
if ${op.render.run(docker.imageExists(ref))} >/dev/null 2>&1; then
  nr_say ok ${`Image ${ref} already exists (this commit was deployed today, or this is a re-run): reusing it`}
else
  nr_say group ${`docker build ${ref}`}
  ${op.render.change(docker.build({ image: target.image, tag, context: inputs.buildContext, dockerfile: inputs.dockerfile }))} 2>&1 || { nr_rc=$?; nr_say endgroup; nr_say fail "Build failed (exit $nr_rc); the running container was not touched"; exit 33; }
  nr_say endgroup
  nr_say ok 'Image built'
fi
nr_say step 'Verifying image tag'
if ${op.render.run(docker.imageExists(ref))} >/dev/null 2>&1; then nr_say ok ${`Image ${ref} exists`}
else ${conn.dryRun ? sh`nr_say info 'dry-run: the image was not built'` : sh`nr_say fail ${`Image ${ref} is missing after the build`}; exit 34`}; fi
nr_value built yes
${op.recordingSuccess(
  recreateBackend(op.render, {
    repo: conn.repoPath,
    target,
    tag,
    fallback: inputs.autoRollback ? previous : '',
    force: false,
    preDeploy: inputs.preDeploy,
    postDeploy: inputs.postDeploy,
    steps: {
      recreate: 'Deploying backend container',
      health: 'Waiting for backend to be healthy',
      verify: 'Verifying deployment',
    },
  }),
  { tag, commit, previous },
  imageTagsValue(op, target.image),
)}`,
      { timeout: 3600 + target.healthTimeout * 2 + 900, allowFailure: true },
    );
    if (released.code !== 0 && released.values.get('built') !== 'yes') {
      await op.finish('failure', {
        detail:
          released.code === 33 ? 'build failed' : released.code === 21 ? 'dirty checkout' : 'checkout or build failed',
      });
      return {
        ok: false,
        outputs: {},
        error: `deploy-backend failed before any container changed: ${failureOf(released.tail, released.code)}`,
      };
    }

    const running = released.values.get('running') ?? '';
    const rolledBack = released.values.get('rolled_back') === 'true';
    const outputs = {
      DEPLOYED_BACKEND_TAG: running,
      PREVIOUS_BACKEND_TAG: released.values.get('previous') ?? previous,
      BACKEND_IMAGE: running ? `${target.image}:${running}` : '',
      ROLLED_BACK: String(rolledBack),
    };
    if (released.code !== 0) {
      const rollbackFailed = released.code === 42;
      await op.finish(rolledBack && !rollbackFailed ? 'rolled-back' : 'failure', {
        tag,
        commit,
        previous,
        detail:
          released.code === 31
            ? 'pre-deploy failed'
            : rollbackFailed
              ? 'release and rollback failed'
              : 'health check failed',
      });
      const why = rollbackFailed
        ? `The release ${target.image}:${tag} failed and putting ${target.image}:${previous} back failed too; the backend runs ${running ? `${target.image}:${running}` : 'an unknown image (docker did not answer)'}. ${failureOf(released.tail, released.code)}`
        : rolledBack
          ? `The release ${target.image}:${tag} failed its health check and was rolled back to ${target.image}:${running}`
          : released.code === 31
            ? 'pre-deploy failed; no container was changed'
            : `The release ${target.image}:${tag} failed: ${failureOf(released.tail, released.code)}`;
      progress.fail(why);
      return { ok: false, outputs, error: why };
    }
    await op.finish('success', { tag, commit, previous });
    const inventory = parseImageTags(Buffer.from(released.values.get('tags_b64') ?? '', 'base64').toString());
    const recent = datedTags(inventory, op.history).slice(0, 5);
    if (inputs.keepImages > 0)
      await cleanupImages(op, {
        image: target.image,
        keep: inputs.keepImages,
        running: tag,
        rollbackTarget: previousRelease(op.history, 'backend', tag),
        inventory,
        pruneDangling: false,
      });
    progress.results('DEPLOYMENT COMPLETE', { DEPLOYED_BACKEND_TAG: tag });
    progress.detail(`Recent tags: ${recent.join(', ')}`);
    await progress.platform.addSummary(
      `### Backend deployed\n\n| | |\n|---|---|\n| Tag | \`${tag}\` |\n| Commit | \`${commit}\` |\n| Previous | \`${previous || '(none)'}\` |\n| Host | ${conn.host} |\n`,
    );
    return { ok: true, outputs };
  });
}

/** The line that says why, from a failed program's last lines. */
export function failureOf(tail: readonly string[], code: number): string {
  const last = tail.filter((l) => l.trim()).slice(-8);
  return `exit code ${code}${last.length ? `; last lines:\n${last.join('\n')}` : ''}`;
}
