import { describe, expect, it } from 'vitest';
import { BackendExit, type ImagesState } from '../../src/programs/backend.js';
import type { ServicesImagesState, ServicesRecreateValues } from '../../src/programs/services.js';
import { rollbackBackend } from '../../src/release/backend/rollback.js';
import type { HistoryRecord, ServiceRecord } from '../../src/remote/history.js';
import { fakeWorld } from '../support/fake-nas.js';
import { released } from '../support/records.js';
import { settingsOf } from '../support/settings.js';

const IMAGE = 'scanium-backend';
const T1 = '2026.01.01-1111111';
const T2 = '2026.01.10-2222222';
const ROLLBACK = 'Rolling back the backend';
const ROLLBACK_BLUE_GREEN = 'Rolling back the backend (blue-green)';
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

describe('rollback-backend hooks with several services and with blue-green', () => {
  const service = (tag: string, tagVariable: string): ServiceRecord => ({
    tag,
    image: 'shop-api',
    container: '',
    tagVariable,
    healthUrl: '',
  });
  const servicesRelease = (tag: string): HistoryRecord =>
    released('backend', tag, { services: { api: service(tag, 'API_TAG'), worker: service(tag, 'WORKER_TAG') } });

  it('several services: the hooks run around the recreate, named as rollback hooks; a failed pre-rollback changed nothing', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { runningImage: '', inventory: [] },
      history: [servicesRelease(T1), servicesRelease(T2)],
    });
    nas.answer<ServicesImagesState>('Asking what each service runs', {
      code: 0,
      values: {
        runningImages: [`shop-api:${T2}`, `shop-api:${T2}`],
        inventory: new Map([['shop-api', [T1, T2].map((tag) => ({ tag, bytes: 1 }))]]),
      },
    });
    nas.answer<ServicesRecreateValues>('Rolling back services', {
      code: BackendExit.PreDeployFailed,
      values: { running: ['', ''], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const settings = settingsOf(rollbackBackend, {
      services: 'api,worker',
      tag: T1,
      'pre-rollback': 'drain-queue --wait',
      'post-rollback': 'purge-cdn',
    });

    const result = await rollbackBackend.run(settings, nas, context);

    const script = nas.phases[0].script.text;
    expect(script).toContain(`BACKEND_TAG=${T1}; PREVIOUS_BACKEND_TAG=${T2};`);
    expect(script).toContain("'Running pre-rollback...'");
    expect(script).toContain("'Running post-rollback...'");
    expect(script.indexOf("'drain-queue --wait'")).toBeLessThan(script.indexOf('up --detach'));
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/^pre-rollback failed, so the rollback of api to .*, worker to .* stopped before/);
    expect(nas.finishes).toEqual([{ outcome: 'failure', update: { detail: 'pre-rollback failed' } }]);
  });

  it('blue-green: the hooks run around the switch, named as rollback hooks', async () => {
    const { nas, context } = fakeWorld();
    const running = (tag: string) => ({ status: 'running', health: 'healthy', image: `${IMAGE}:${tag}` });
    nas.answerState({
      answers: {
        live: 'green',
        colors: { blue: running(T1), green: running(T2) },
        inventory: [T2, T1].map((tag) => ({ tag, bytes: 1 })),
      },
      history,
    });
    nas.answer(ROLLBACK_BLUE_GREEN, {
      code: 0,
      values: { running: T1, liveColor: 'blue', rolledBack: false, warm: true },
    });
    const settings = settingsOf(rollbackBackend, {
      strategy: 'blue-green',
      'pre-rollback': 'drain-queue --wait',
      'post-rollback': 'purge-cdn',
    });

    const result = await rollbackBackend.run(settings, nas, context);

    expect(result.ok).toBe(true);
    const script = nas.phases[0].script.text;
    expect(script).toContain(`BACKEND_TAG=${T1}; PREVIOUS_BACKEND_TAG=${T2};`);
    expect(script).toContain("'Running pre-rollback...'");
    expect(script).toContain("'Running post-rollback...'");
  });
});
