import { describe, expect, it } from 'vitest';
import { BackendExit, type ImagesState } from '../../src/programs/backend.js';
import { rollbackBackend } from '../../src/release/backend/rollback.js';
import { fakeWorld } from '../support/fake-nas.js';
import { released } from '../support/records.js';
import { settingsOf } from '../support/settings.js';

const IMAGE = 'scanium-backend';
const T1 = '2026.01.01-1111111';
const T2 = '2026.01.10-2222222';
const ROLLBACK = 'Rolling back the backend';
const imagesState = (running: string): ImagesState => ({
  runningImage: `${IMAGE}:${running}`,
  inventory: [T2, T1].map((tag) => ({ tag, bytes: 1 })),
});
const history = [released('backend', T1), released('backend', T2)];

describe('rollback-backend: pre-rollback and post-rollback', () => {
  it('run where a deploy runs its hooks, with BACKEND_TAG and PREVIOUS_BACKEND_TAG, named as rollback hooks', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T2), history });
    nas.answer(ROLLBACK, { code: 0, values: { previous: T2, running: T1, rolledBack: false } });

    const settings = settingsOf(rollbackBackend, {
      tag: T1,
      'pre-rollback': 'drain-queue --wait',
      'post-rollback': 'purge-cdn',
    });
    const result = await rollbackBackend.run(settings, nas, context);

    expect(result.ok).toBe(true);
    const script = nas.phases[0].script.text;
    expect(script).toContain(`BACKEND_TAG=${T1}; PREVIOUS_BACKEND_TAG=$nr_prev;`);
    expect(script).toContain("'Running pre-rollback...'");
    expect(script).toContain("'Running post-rollback...'");
    expect(script).not.toContain('pre-deploy');
    // pre-rollback before the container changes, post-rollback once the target is verified
    expect(script.indexOf("'drain-queue --wait'")).toBeLessThan(script.indexOf('--force-recreate'));
    expect(script.indexOf('sh -c purge-cdn')).toBeGreaterThan(script.indexOf('nr_value running'));
  });

  it('a failed pre-rollback is recorded as such and says nothing changed', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T2), history });
    nas.answer(ROLLBACK, {
      code: BackendExit.PreDeployFailed,
      values: { previous: T2, running: '', rolledBack: false },
      said: [{ kind: 'fail', text: 'pre-rollback failed (exit 7)' }],
    });

    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { tag: T1, 'pre-rollback': 'exit 7' }),
      nas,
      context,
    );

    expect(result.ok).toBe(false);
    expect(result.error).toMatch(
      new RegExp(`^pre-rollback failed, so the rollback to ${IMAGE}:${T1} stopped before anything changed`),
    );
    expect(result.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: T2, BACKEND_IMAGE: `${IMAGE}:${T2}` });
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: T1, previous: T2, detail: 'pre-rollback failed' } },
    ]);
  });

  it('a failed post-rollback says the rollback is done', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T2), history });
    nas.answer(ROLLBACK, {
      code: BackendExit.PostDeployFailed,
      values: { previous: T2, running: T1, rolledBack: false },
    });

    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { tag: T1, 'post-rollback': 'exit 3' }),
      nas,
      context,
    );

    expect(result.ok).toBe(false);
    expect(result.error).toMatch(
      /^The rollback to .* is done \(it runs and passed its checks\), but post-rollback failed/,
    );
    expect(result.outputs.DEPLOYED_BACKEND_TAG).toBe(T1);
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: T1, previous: T2, detail: 'post-rollback failed' } },
    ]);
  });
});
