import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BackendExit,
  fallbackOf,
  type DeployState,
  type ImagesState,
  type ReleaseValues,
} from '../../src/programs/backend.js';
import { CheckoutExit } from '../../src/programs/checkout.js';
import { cleanupBackend } from '../../src/release/backend/cleanup.js';
import { deployBackend } from '../../src/release/backend/deploy.js';
import { rollbackBackend } from '../../src/release/backend/rollback.js';
import { fakeWorld, type RecordingPlatform } from '../support/fake-nas.js';
import { released, stepNumbers } from '../support/records.js';
import { settingsOf } from '../support/settings.js';

const IMAGE = 'scanium-backend';
const COMMIT = 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3';
// Deploys run on 2026-03-02 (UTC): the new tag is that day's.
const NOW = new Date('2026-03-02T09:00:00.000Z');
const TAG = '2026.03.02-c0ffee1';
const T1 = '2026.01.01-1111111';
const T2 = '2026.01.10-2222222';
const T3 = '2026.01.20-3333333';
const T4 = '2026.02.01-4444444';
const T5 = '2026.02.10-5555555';
const MB = 1_000_000;

const RELEASE = 'Releasing the backend';
const ROLLBACK = 'Rolling back the backend';
const REMOVE = 'Removing old images';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

/** Every numbered step counts up by one from 1 and none exceeds its N; the last one is N when the flow ran to its end. */
function expectSteps(platform: RecordingPlatform, reached: number, total: number): void {
  const steps = platform.steps;
  expect(stepNumbers(steps)).toEqual(Array.from({ length: reached }, (_, i) => `${i + 1}/${total}`));
}

describe('deploy-backend', () => {
  const deployState = (running = T3): DeployState => ({
    runningImage: running ? `${IMAGE}:${running}` : '',
    commit: COMMIT,
    subject: 'Fix the cart total',
  });
  const releaseValues = (values: Partial<ReleaseValues>): ReleaseValues => ({
    previous: T3,
    running: TAG,
    rolledBack: false,
    built: true,
    inventory: [],
    watch: { status: '', guards: [] },
    ...values,
  });

  it('releases the new tag: outputs, a success record, the recent tags, eight numbered steps', async () => {
    const { nas, platform, context, deployment } = fakeWorld();
    nas.answerState({ answers: deployState(), history: [released('backend', T2), released('backend', T3)] });
    nas.answer(RELEASE, {
      code: 0,
      values: releaseValues({
        inventory: [
          { tag: TAG, bytes: 300 * MB },
          { tag: T3, bytes: 300 * MB },
          { tag: T2, bytes: 300 * MB },
          { tag: 'latest', bytes: 300 * MB },
        ],
      }),
    });
    const settings = settingsOf(deployBackend, { environment: 'production', 'github-token': 'ghs_x' });

    const result = await deployBackend.run(settings, nas, context);

    expect(result).toEqual({
      ok: true,
      outputs: {
        DEPLOYED_BACKEND_TAG: TAG,
        PREVIOUS_BACKEND_TAG: T3,
        BACKEND_IMAGE: `${IMAGE}:${TAG}`,
        ROLLED_BACK: 'false',
        WATCH_STATUS: 'skipped',
        WATCH_REPORT: '{"status":"skipped","guards":[]}',
      },
    });
    expect(nas.ran).toEqual([RELEASE]);
    expect(nas.finishes).toEqual([{ outcome: 'success', update: { tag: TAG, commit: COMMIT, previous: T3 } }]);
    expect(nas.phases[0].begin).toEqual({ tag: TAG, image: IMAGE, commit: COMMIT, previous: T3, detail: 'deploy' });
    expect(platform.lines).toContain(`   Recent tags: ${TAG}, ${T3}, ${T2}`);
    expect(platform.lines).toContain(`DEPLOYED_BACKEND_TAG=${TAG}`);
    expectSteps(platform, 8, 8);
    expect(platform.steps[0].text).toBe('Taking the release lock on nas.local');
    expect(deployment.started).toEqual([
      { environment: 'production', ref: COMMIT, description: `Deploy ${IMAGE}:${TAG}` },
    ]);
    expect(platform.summary.join('')).toContain(`| Tag | \`${TAG}\` |`);
  });

  it('with keep-images, removes the tags the keep-rules let go after the release', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({
      answers: deployState(),
      history: [released('backend', T1), released('backend', T2), released('backend', T3)],
    });
    const inventory = [TAG, T3, T2, T1].map((tag) => ({ tag, bytes: 100 * MB, id: `id-${tag}` }));
    nas.answer(RELEASE, { code: 0, values: releaseValues({ inventory }) });
    nas.answer(REMOVE, { code: 0, values: { removed: [T2, T1], kept: [] } });

    const result = await deployBackend.run(settingsOf(deployBackend, { 'keep-images': '1' }), nas, context);

    expect(result.ok).toBe(true);
    expect(nas.ran).toEqual([RELEASE, REMOVE]);
    // The new tag is kept by the rule, T3 as the rollback target; T2 and T1 go.
    const script = nas.program(REMOVE)!.script.text;
    expect(script).toContain(`docker image rm ${IMAGE}:${T2} ${IMAGE}:${T1}`);
    expect(script).not.toContain(`${IMAGE}:${T3}`);
    expect(platform.lines).toContain('✓ Removed 2 image tag(s), about 200.0 MB');
    expectSteps(platform, 8, 8);
  });

  it('a failed health check rolls back by itself: ROLLED_BACK=true, the step fails, the history says rolled-back', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: deployState(), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BackendExit.RolledBack,
      values: releaseValues({ running: T3, rolledBack: true }),
      steps: 6,
      said: [{ kind: 'warn', text: `Rolling back to ${IMAGE}:${T3}` }],
    });

    const result = await deployBackend.run(settingsOf(deployBackend), nas, context);

    expect(result.ok).toBe(false);
    expect(result.outputs).toEqual({
      DEPLOYED_BACKEND_TAG: T3,
      PREVIOUS_BACKEND_TAG: T3,
      BACKEND_IMAGE: `${IMAGE}:${T3}`,
      ROLLED_BACK: 'true',
      WATCH_STATUS: 'skipped',
      WATCH_REPORT: '{"status":"skipped","guards":[]}',
    });
    expect(result.error).toBe(
      `The release ${IMAGE}:${TAG} failed its health check and was rolled back to ${IMAGE}:${T3}`,
    );
    expect(nas.finishes).toEqual([
      {
        outcome: 'rolled-back',
        update: { tag: TAG, commit: COMMIT, previous: T3, detail: 'health check failed' },
      },
    ]);
    expect(platform.lines).toContain(`✗ ${result.error}`);
    expect(platform.warnings).toContain(`Rolling back to ${IMAGE}:${T3}`);
    expectSteps(platform, 7, 8);
  });

  it('a failed rollback is a failure that says what runs now', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: deployState(), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BackendExit.RollbackFailed,
      values: releaseValues({ running: '', rolledBack: true }),
      tail: ['api exited (1)', `The rollback to ${T3} did not become healthy either`],
      steps: 6,
    });

    const result = await deployBackend.run(settingsOf(deployBackend), nas, context);

    expect(result.ok).toBe(false);
    expect(result.outputs.ROLLED_BACK).toBe('true');
    expect(result.error).toContain(
      `The release ${IMAGE}:${TAG} failed and putting ${IMAGE}:${T3} back failed too; the backend runs an unknown image (docker did not answer).`,
    );
    expect(result.error).toContain(`exit code ${BackendExit.RollbackFailed}; last lines:`);
    expect(nas.finishes).toEqual([
      {
        outcome: 'failure',
        update: { tag: TAG, commit: COMMIT, previous: T3, detail: 'release and rollback failed' },
      },
    ]);
  });

  it('a failed build changes no container: no outputs, a failure record that says build failed', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: deployState(), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BackendExit.BuildFailed,
      values: releaseValues({ running: '', previous: '', built: false }),
      tail: ['#7 ERROR: process "/bin/sh -c npm ci" did not complete successfully'],
      steps: 3,
    });

    const result = await deployBackend.run(settingsOf(deployBackend), nas, context);

    expect(result).toEqual({
      ok: false,
      outputs: {},
      error: `deploy-backend failed before any container changed: exit code ${BackendExit.BuildFailed}; last lines:\n#7 ERROR: process "/bin/sh -c npm ci" did not complete successfully`,
    });
    expect(nas.finishes).toEqual([{ outcome: 'failure', update: { detail: 'build failed' } }]);
    expectSteps(platform, 4, 8);
  });

  it('a dirty checkout fails before any change, and the history says so', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: deployState(), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: CheckoutExit.DirtyCheckout,
      values: releaseValues({ running: '', previous: '', built: false }),
      said: [
        { kind: 'fail', text: 'The checkout has local changes (on-dirty: fail); nothing was changed. Dirty paths:' },
      ],
      steps: 1,
    });

    const result = await deployBackend.run(settingsOf(deployBackend), nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/^deploy-backend failed before any container changed: exit code 21/);
    expect(nas.finishes).toEqual([{ outcome: 'failure', update: { detail: 'dirty checkout' } }]);
    expect(platform.lines).toContain(
      '✗ The checkout has local changes (on-dirty: fail); nothing was changed. Dirty paths:',
    );
  });

  it('a failed pre-deploy command changes no container', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: deployState(), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BackendExit.PreDeployFailed,
      values: releaseValues({ running: '' }),
      steps: 4,
    });

    const result = await deployBackend.run(
      settingsOf(deployBackend, { 'pre-deploy': 'npm run migrate' }),
      nas,
      context,
    );

    expect(result.ok).toBe(false);
    expect(result.error).toBe('pre-deploy failed; no container was changed');
    expect(result.outputs.ROLLED_BACK).toBe('false');
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: TAG, commit: COMMIT, previous: T3, detail: 'pre-deploy failed' } },
    ]);
    expect(nas.phases[0].script.text).toContain("'npm run migrate'");
  });

  it('defect: a failed post-deploy is recorded as post-deploy failed, not as a failed health check', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: deployState(), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BackendExit.PostDeployFailed,
      values: releaseValues({}),
      said: [{ kind: 'fail', text: 'post-deploy failed (exit 3)' }],
    });

    const result = await deployBackend.run(
      settingsOf(deployBackend, { 'post-deploy': 'curl -fsS http://cdn/purge' }),
      nas,
      context,
    );

    expect(result.ok).toBe(false);
    expect(result.error).toMatch(
      new RegExp(`^The release ${IMAGE}:${TAG} failed: exit code ${BackendExit.PostDeployFailed}`),
    );
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: TAG, commit: COMMIT, previous: T3, detail: 'post-deploy failed' } },
    ]);
  });

  it('defect 12.15: a report cut short (a full disk lost the markers) says the exit code and what runs now', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: deployState(), history: [released('backend', T3)] });
    // The detached phase ended without a status file and its markers were lost: the follower exits 1.
    nas.answer(RELEASE, { code: 1, values: releaseValues({ running: '', built: false, previous: '' }) });
    nas.answer('Asking what runs now', { code: 0, values: `${IMAGE}:${TAG}` });

    const result = await deployBackend.run(settingsOf(deployBackend), nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).not.toMatch(/before any container changed/);
    expect(result.error).toMatch(/ended with exit code 1 and its report from the NAS is incomplete/);
    expect(result.error).toContain(`the backend now runs ${IMAGE}:${TAG}`);
    expect(result.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: TAG, BACKEND_IMAGE: `${IMAGE}:${TAG}` });
    expect(nas.finishes[0]).toMatchObject({ outcome: 'failure' });
  });

  it('an interrupted previous operation is reported before the release goes on', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({
      answers: deployState(),
      history: [released('backend', T3)],
      interrupted: released('backend', T4, {
        outcome: 'interrupted',
        run: 'https://github.com/acme/shop/actions/runs/77',
        started: '2026-03-01T22:00:00.000Z',
      }),
    });
    nas.answer(RELEASE, { code: 0, values: releaseValues({}) });

    const result = await deployBackend.run(settingsOf(deployBackend), nas, context);

    expect(result.ok).toBe(true);
    expect(platform.warnings).toEqual([
      `The previous operation did not finish: deploy-backend of ${T4} (https://github.com/acme/shop/actions/runs/77, by octocat, started 2026-03-01T22:00:00.000Z) was interrupted. The backend now runs ${IMAGE}:${T3}.`,
    ]);
  });

  it('auto-rollback: false gives the phase nothing to fall back to', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: deployState(), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BackendExit.FailedWithoutFallback,
      values: releaseValues({ running: TAG }),
      steps: 6,
    });

    const result = await deployBackend.run(settingsOf(deployBackend, { 'auto-rollback': 'false' }), nas, context);

    expect(nas.phases[0].script.text).toContain('No previous tag to roll back to');
    expect(result.ok).toBe(false);
    expect(result.outputs.ROLLED_BACK).toBe('false');
    expect(result.error).toMatch(new RegExp(`^The release ${IMAGE}:${TAG} failed: exit code 41`));
    expect(nas.finishes[0].outcome).toBe('failure');
  });

  it('data safety 31: the fallback is what runs, by its image id, also when the compose file names another image now', () => {
    const id = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
    // its own tag, pinned to the id it names now
    expect(fallbackOf(IMAGE, { image: `${IMAGE}:${T3}`, id }, TAG)).toEqual({
      tag: T3,
      ran: { image: `${IMAGE}:${T3}`, id },
    });
    // another image name (a rename, a backend started by hand), or the tag being released (a pull moves it): by id
    for (const running of [`old-name:${T3}`, 'scanium-backend-by-hand', `${IMAGE}:${TAG}`])
      expect(fallbackOf(IMAGE, { image: running, id }, TAG)).toEqual({
        tag: 'fallback-0123456789ab',
        ran: { image: running, id },
      });
    // nothing runs: nothing to fall back to
    expect(fallbackOf(IMAGE, { image: '' }, TAG)).toEqual({ tag: '' });
  });

  it('data safety 31: a release after a rename falls back to the image that ran, by id; the history records what ran', async () => {
    const { nas, context } = fakeWorld();
    const id = 'sha256:feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface';
    nas.answerState({
      answers: { ...deployState(), runningImage: `old-name:${T3}`, runningId: id },
      history: [released('backend', T3)],
    });
    nas.answer(RELEASE, {
      code: BackendExit.RolledBack,
      values: releaseValues({ previous: '', running: 'fallback-feedfacefeed', rolledBack: true, upFailed: true }),
      steps: 6,
    });

    const result = await deployBackend.run(settingsOf(deployBackend), nas, context);

    const script = nas.phases[0].script.text;
    expect(script).toContain(`Rolling back to ${IMAGE}:fallback-feedfacefeed (what ran before: old-name:${T3}, ${id})`);
    expect(script).toContain(`tag ${id} ${IMAGE}:fallback-feedfacefeed`);
    expect(nas.phases[0].begin).toMatchObject({ image: IMAGE, previous: '', ran: { image: `old-name:${T3}`, id } });
    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ ROLLED_BACK: 'true', DEPLOYED_BACKEND_TAG: 'fallback-feedfacefeed' });
    expect(result.error).toBe(
      `The release ${IMAGE}:${TAG} could not be created (docker compose up failed; its error is in the log) and was rolled back to ${IMAGE}:fallback-feedfacefeed`,
    );
    expect(nas.finishes[0]).toMatchObject({ outcome: 'rolled-back', update: { detail: 'container not created' } });
  });

  it('a lock that is not free in time fails the step, and nothing runs', async () => {
    const { nas, deployment, context } = fakeWorld();
    nas.answerState(new Error('The release lock is held by deploy-backend (octocat); gave up after 600 s'));

    await expect(deployBackend.run(settingsOf(deployBackend), nas, context)).rejects.toThrow(
      'The release lock is held by deploy-backend (octocat); gave up after 600 s',
    );
    expect(nas.ran).toEqual([]);
    expect(nas.finishes).toEqual([]);
    expect(deployment.started).toEqual([]);
  });
});

describe('rollback-backend', () => {
  const inventory = [T5, T4, T3, T2, T1, 'latest'].map((tag) => ({ tag, bytes: 100 * MB }));
  const imagesState = (running: string): ImagesState => ({ runningImage: `${IMAGE}:${running}`, inventory });
  // A, B, C deployed in that order; C runs.
  const history = [released('backend', T1), released('backend', T2), released('backend', T3)];

  it('brings back a named tag', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer(ROLLBACK, { code: 0, values: { previous: T3, running: T1, rolledBack: false } });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { tag: T1 }), nas, context);

    expect(result).toEqual({
      ok: true,
      outputs: { DEPLOYED_BACKEND_TAG: T1, PREVIOUS_BACKEND_TAG: T3, BACKEND_IMAGE: `${IMAGE}:${T1}` },
    });
    expect(nas.phases[0].begin).toEqual({ tag: T1, image: IMAGE, previous: T3, detail: 'named' });
    expect(nas.finishes).toEqual([{ outcome: 'success', update: {} }]);
    expect(platform.lines).toContain(`✓ Successfully rolled back to: ${T1}`);
    expectSteps(platform, 6, 6);
  });

  it('an empty tag goes to the release before the running one (A, B, C deployed: B)', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer(ROLLBACK, { code: 0, values: { previous: T3, running: T2, rolledBack: false } });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend), nas, context);

    expect(result.ok).toBe(true);
    expect(result.outputs.DEPLOYED_BACKEND_TAG).toBe(T2);
    expect(nas.phases[0].begin).toEqual({ tag: T2, image: IMAGE, previous: T3, detail: 'previous-release' });
    expect(platform.lines).toContain(`   Target: the previous release, ${T2} (from the release history)`);
  });

  it('an unknown tag lists the tags there are, and nothing runs', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    const unknown = '2025.12.24-abcdef0';

    const run = rollbackBackend.run(settingsOf(rollbackBackend, { tag: unknown }), nas, context);

    await expect(run).rejects.toThrow(
      `Image ${IMAGE}:${unknown} does not exist on the NAS. Available tags, newest first:\n  ${T5}\n  ${T4}\n  ${T3}\n  ${T2}\n  ${T1}\nNothing was changed.`,
    );
    expect(nas.ran).toEqual([]);
    expect(nas.finishes).toEqual([]);
  });

  it('the running tag is a no-op: recorded as noop, no phase', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { tag: T3 }), nas, context);

    expect(result).toEqual({
      ok: true,
      outputs: { DEPLOYED_BACKEND_TAG: T3, PREVIOUS_BACKEND_TAG: T3, BACKEND_IMAGE: `${IMAGE}:${T3}` },
    });
    expect(nas.ran).toEqual([]);
    expect(nas.finishes).toEqual([{ outcome: 'noop', update: { tag: T3, previous: T3, detail: 'already running' } }]);
    expect(platform.lines).toContain(
      `✓ ${IMAGE}:${T3} is already running: nothing to do (set force: true to recreate it anyway)`,
    );
  });

  it('force: true recreates the running tag anyway', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer(ROLLBACK, { code: 0, values: { previous: T3, running: T3, rolledBack: false } });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { tag: T3, force: 'true' }), nas, context);

    expect(result.ok).toBe(true);
    expect(nas.ran).toEqual([ROLLBACK]);
    expect(nas.phases[0].script.text).toContain('--force-recreate');
    expect(nas.finishes).toEqual([{ outcome: 'success', update: {} }]);
  });

  it('a target that fails its health check is rolled back to what ran', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer(ROLLBACK, { code: BackendExit.RolledBack, values: { previous: T3, running: T3, rolledBack: true } });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend), nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).toBe(
      `The rollback to ${IMAGE}:${T2} failed its health check and was rolled back to ${IMAGE}:${T3}`,
    );
    expect(result.outputs.DEPLOYED_BACKEND_TAG).toBe(T3);
    expect(nas.finishes).toEqual([
      { outcome: 'rolled-back', update: { tag: T2, previous: T3, detail: 'health check failed' } },
    ]);
    expectSteps(platform, 6, 6);
  });

  it('without a previous release, an empty tag is a clear error and nothing runs', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history: [released('backend', T3)] });

    await expect(rollbackBackend.run(settingsOf(rollbackBackend), nas, context)).rejects.toThrow(
      `No previous release in the history of /volume1/docker/shop/repo to roll back to (running: ${T3}). Name a tag; available: ${T5}, ${T4}, ${T3}, ${T2}, ${T1}. Nothing was changed.`,
    );
    expect(nas.ran).toEqual([]);
  });

  it('with an environment, the deployment names the commit the tag was built from (asked of git when the history lacks it)', async () => {
    const { nas, deployment, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    const built = `2222222${'0'.repeat(33)}`;
    nas.answer('Finding the commit of the tag', { code: 0, values: built });
    nas.answer(ROLLBACK, { code: 0, values: { previous: T3, running: T2, rolledBack: false } });

    await rollbackBackend.run(settingsOf(rollbackBackend, { environment: 'production' }), nas, context);

    expect(nas.ran).toEqual(['Finding the commit of the tag', ROLLBACK]);
    expect(nas.program('Finding the commit of the tag')!.script.text).toContain("'2222222^{commit}'");
    expect(deployment.started).toEqual([
      { environment: 'production', ref: built, description: `Rollback of the backend from ${T3} to ${T2}` },
    ]);
  });
});

describe('cleanup-backend', () => {
  // T1, T2, T3 deployed; T3 runs (so T2 is the rollback target); T4 and T5 were built but never released.
  const history = [released('backend', T1), released('backend', T2), released('backend', T3)];
  const inventory = [T5, T4, T3, T2, T1, 'latest'].map((tag) => ({ tag, bytes: 100 * MB, id: `id-${tag}` }));
  const state: ImagesState & { backups: [] } = { runningImage: `${IMAGE}:${T3}`, inventory, backups: [] };

  it('keeps the newest, the running tag and the rollback target; removes the rest', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: state, history });
    nas.answer(REMOVE, { code: 0, values: { removed: [T4, T1], kept: [] } });

    const result = await cleanupBackend.run(settingsOf(cleanupBackend, { keep: '1' }), nas, context);

    expect(result).toEqual({
      ok: true,
      outputs: {
        REMOVED_TAGS: JSON.stringify([T4, T1]),
        KEPT_TAGS: JSON.stringify([T5, T3, T2]),
        FREED_BYTES: String(200 * MB),
        REMOVED_BACKUPS: '[]',
      },
    });
    const script = nas.program(REMOVE)!.script.text;
    expect(script).toContain(`docker image rm ${IMAGE}:${T4} ${IMAGE}:${T1}`);
    expect(script).toContain('docker image prune --force');
    expect(nas.finishes).toEqual([{ outcome: 'success', update: { detail: `removed 2 tag(s): ${T4} ${T1}` } }]);
    expect(platform.lines).toContain(`   removed ${IMAGE}:${T4}`);
    expect(platform.lines).toContain('✓ Removed 2 image tag(s), about 200.0 MB');
    expectSteps(platform, 3, 3);
  });

  it('nothing to remove runs no program', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: state, history });

    const result = await cleanupBackend.run(
      settingsOf(cleanupBackend, { keep: '10', 'prune-dangling': 'false' }),
      nas,
      context,
    );

    expect(result.outputs).toEqual({
      REMOVED_TAGS: '[]',
      KEPT_TAGS: JSON.stringify([T5, T4, T3, T2, T1]),
      FREED_BYTES: '0',
      REMOVED_BACKUPS: '[]',
    });
    expect(nas.ran).toEqual([]);
    expect(platform.lines).toContain('✓ Nothing to remove');
    expect(nas.finishes.map((f) => f.outcome)).toEqual(['success']);
  });

  it('a tag docker refused is neither reported removed nor counted as freed', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: state, history });
    nas.answer(REMOVE, {
      code: 0,
      values: { removed: [T1], kept: [T4] },
      said: [{ kind: 'warn', text: 'Some images could not be removed (still used by a container?)' }],
    });

    const result = await cleanupBackend.run(settingsOf(cleanupBackend, { keep: '1' }), nas, context);

    expect(result.outputs).toEqual({
      REMOVED_TAGS: JSON.stringify([T1]),
      KEPT_TAGS: JSON.stringify([T5, T4, T3, T2]),
      FREED_BYTES: String(100 * MB),
      REMOVED_BACKUPS: '[]',
    });
    expect(platform.warnings).toContain(`Could not remove ${IMAGE}:${T4} (still used by a container?); it is kept`);
    expect(platform.lines).not.toContain(`   removed ${IMAGE}:${T4}`);
    expect(platform.lines).toContain('✓ Removed 1 image tag(s), about 100.0 MB');
    expect(nas.finishes[0].update.detail).toBe(`removed 1 tag(s): ${T1}`);
  });

  it('a dry run prints what it would remove and removes nothing', async () => {
    const { nas, platform, context } = fakeWorld({ dryRun: true });
    nas.answerState({ answers: state, history });
    nas.answer(REMOVE, { code: 0, values: { removed: [T4, T1], kept: [] } });

    const result = await cleanupBackend.run(settingsOf(cleanupBackend, { keep: '1', 'dry-run': 'true' }), nas, context);

    expect(result.outputs.REMOVED_TAGS).toBe(JSON.stringify([T4, T1]));
    const script = nas.program(REMOVE)!.script.text;
    expect(script).toContain(`nr_say info 'dry-run, would run: docker image rm ${IMAGE}:${T4} ${IMAGE}:${T1}'`);
    expect(script).not.toMatch(/^docker image rm/m);
    expect(platform.lines).toContain(`   would remove ${IMAGE}:${T4}`);
    expect(platform.lines).toContain('✓ Would remove 2 image tag(s), about 200.0 MB');
    expect(platform.lines).toContain('CLEANUP DRY-RUN COMPLETE');
  });

  it('a lock that is not free in time fails the step, and nothing runs', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState(new Error('The release lock is held by deploy-backend (octocat); gave up after 600 s'));

    await expect(cleanupBackend.run(settingsOf(cleanupBackend), nas, context)).rejects.toThrow(/gave up after 600 s/);
    expect(nas.ran).toEqual([]);
    expect(nas.finishes).toEqual([]);
  });
});

describe('rollback-backend with image-source: registry, on a NAS of another platform', () => {
  const GONE = '2026.01.05-0a0a0a0';
  const inputs = { image: IMAGE, 'image-source': 'registry', tag: GONE };
  // GONE was pulled from the registry and is no longer on the NAS; T3 runs
  const history = [released('backend', GONE, { pulled: 'v1.4.0' }), released('backend', T3)];
  const answers: ImagesState = {
    runningImage: `${IMAGE}:${T3}`,
    inventory: [{ tag: T3, bytes: MB }],
    platform: 'linux/arm64',
  };

  it("asks the NAS's platform in the first round trip and checks the pulled image against it before it is tagged", async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers, history });
    nas.answer(ROLLBACK, { code: 0, values: { previous: T3, running: GONE, rolledBack: false } });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, inputs), nas, context);

    expect(result.ok).toBe(true);
    const [first] = nas.calls;
    expect(first.kind === 'readState' && first.questions.script(nas.render).text).toContain('nr_value nas_platform');
    const script = nas.phases[0].script.text;
    expect(script).toContain(`docker pull ${IMAGE}:v1.4.0`);
    expect(script).toContain('but the NAS runs "linux/arm64"');
    // the check comes before the pulled image takes the release's tag
    expect(script.indexOf('but the NAS runs "linux/arm64"')).toBeLessThan(
      script.indexOf(`docker tag ${IMAGE}:v1.4.0 ${IMAGE}:${GONE}`),
    );
  });

  it('an image of another platform stops the rollback before anything changed, naming both platforms', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers, history });
    nas.answer(ROLLBACK, {
      code: BackendExit.PlatformMismatch,
      values: { previous: T3, running: T3, rolledBack: false, imagePlatform: 'linux/amd64' },
    });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, inputs), nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).toContain(
      `The rollback to ${IMAGE}:${GONE} stopped before anything changed: the image ${IMAGE}:v1.4.0 is built for linux/amd64, but the NAS runs linux/arm64.`,
    );
    expect(result.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: T3 });
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: GONE, previous: T3, detail: 'image of another platform' } },
    ]);
  });
});
