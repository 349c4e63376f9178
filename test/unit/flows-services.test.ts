import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackendExit } from '../../src/programs/backend.js';
import type {
  ServicesDeployState,
  ServicesImagesState,
  ServicesRecreateValues,
  ServicesReleaseValues,
} from '../../src/programs/services.js';
import { cleanupBackend } from '../../src/release/backend/cleanup.js';
import { deployBackend } from '../../src/release/backend/deploy.js';
import { rollbackBackend } from '../../src/release/backend/rollback.js';
import type { HistoryRecord, ServiceRecord } from '../../src/remote/history.js';
import { fakeWorld } from '../support/fake-nas.js';
import { released } from '../support/records.js';
import { settingsOf } from '../support/settings.js';

const COMMIT = 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3';
const NOW = new Date('2026-03-02T09:00:00.000Z');
const TAG = '2026.03.02-c0ffee1';
const A = '2026.01.01-aaaaaaa';
const B = '2026.01.02-bbbbbbb';
const C = '2026.01.03-ccccccc';
const SERVICES = `api tag-variable=API_TAG
worker tag-variable=WORKER_TAG
web image=shop-web build-context=web tag-variable=WEB_TAG health-url=http://127.0.0.1:8002/health`;
const INPUTS = { services: SERVICES, image: 'shop-api', container: 'shop-api', 'build-context': 'api' };
const RELEASE = 'Releasing the services';
const ASK = 'Asking what each service runs';
const ROLLBACK = 'Rolling back services';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});
afterEach(() => vi.useRealTimers());

const record = (tag: string, image = 'shop-api', tagVariable = 'API_TAG'): ServiceRecord => ({
  tag,
  image,
  container: image === 'shop-api' && tagVariable === 'API_TAG' ? 'shop-api' : '',
  tagVariable,
  healthUrl: image === 'shop-web' ? 'http://127.0.0.1:8002/health' : '',
});
const deployOf = (tag: string): HistoryRecord =>
  released('backend', tag, {
    services: {
      api: record(tag),
      worker: record(tag, 'shop-api', 'WORKER_TAG'),
      web: record(tag, 'shop-web', 'WEB_TAG'),
    },
  });

describe('deploy-backend with several services', () => {
  const state = (running: string): ServicesDeployState => ({
    runningImages: [`shop-api:${running}`, `shop-api:${running}`, `shop-web:${running}`],
    commit: COMMIT,
    subject: 'Three services',
  });

  it('builds each image once, recreates the three together and reports each service', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(B), history: [deployOf(A), deployOf(B)] });
    nas.answer<ServicesReleaseValues>(RELEASE, {
      code: 0,
      values: {
        running: [TAG, TAG, TAG],
        failed: [],
        failedLogs: new Map(),
        rolledBack: false,
        built: true,
        inventory: new Map(),
      },
    });
    const result = await deployBackend.run(settingsOf(deployBackend, INPUTS), nas, context);
    expect(result.ok).toBe(true);
    expect(JSON.parse(result.outputs.DEPLOYED_SERVICES)).toEqual({
      api: { tag: TAG, image: 'shop-api', previous: B },
      worker: { tag: TAG, image: 'shop-api', previous: B },
      web: { tag: TAG, image: 'shop-web', previous: B },
    });
    expect(result.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: TAG, PREVIOUS_BACKEND_TAG: B, ROLLED_BACK: 'false' });
    const script = nas.phases[0].script.text;
    // two images for three services: two builds, of the two contexts
    expect(script.match(/docker build --tag/g)).toHaveLength(2);
    expect(script).toContain('docker build --tag shop-api:2026.03.02-c0ffee1 api');
    expect(script).toContain('docker build --tag shop-web:2026.03.02-c0ffee1 web');
    // one compose up for all three, each tag in its own variable, never building
    expect(script).toContain(
      `env API_TAG=${TAG} WORKER_TAG=${TAG} WEB_TAG=${TAG} docker compose --file backend/docker-compose.yml up --detach --no-build --no-deps api worker web`,
    );
    expect(nas.phases[0].begin).toMatchObject({
      tag: TAG,
      previous: B,
      services: { api: { tag: TAG, container: 'shop-api' }, worker: { tag: TAG, container: '' }, web: { tag: TAG } },
    });
    expect(nas.finishes).toEqual([
      { outcome: 'success', update: expect.objectContaining({ tag: TAG, services: expect.objectContaining({}) }) },
    ]);
  });

  it('one failed service: all back, the error names it with its last log lines', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(B), history: [deployOf(B)] });
    nas.answer<ServicesReleaseValues>(RELEASE, {
      code: BackendExit.RolledBack,
      values: {
        running: [B, B, B],
        failed: ['web'],
        failedLogs: new Map([['web', 'panic: no such file /www/health']]),
        rolledBack: true,
        built: true,
        inventory: new Map(),
      },
    });
    const result = await deployBackend.run(settingsOf(deployBackend, INPUTS), nas, context);
    expect(result.ok).toBe(false);
    expect(result.error).toBe(
      `The release ${TAG} failed: web did not become healthy. Every service was put back to what ran before (api shop-api:${B}, worker shop-api:${B}, web shop-web:${B}).\nLast log lines of web:\npanic: no such file /www/health`,
    );
    expect(result.outputs.ROLLED_BACK).toBe('true');
    expect(nas.finishes[0]).toMatchObject({ outcome: 'rolled-back', update: { detail: 'health check failed: web' } });
  });
});

describe('rollback-backend of some services', () => {
  const asked = (api: string, worker: string, web: string): ServicesImagesState => ({
    runningImages: [`shop-api:${api}`, `shop-api:${worker}`, `shop-web:${web}`],
    inventory: new Map([
      ['shop-api', [A, B, C].map((tag) => ({ tag, bytes: 1 }))],
      ['shop-web', [A, B, C].map((tag) => ({ tag, bytes: 1 }))],
    ]),
  });
  const singleState = { runningImage: '', inventory: [] };

  it('unknown service names fail before anything changes, listing the services there are', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B)] });
    await expect(
      rollbackBackend.run(settingsOf(rollbackBackend, { services: 'api,mailer' }), nas, context),
    ).rejects.toThrow(
      /no service mailer in the last release .*its services are: api, worker, web\. Nothing was changed/,
    );
    expect(nas.ran).toEqual([]);
  });

  it('services named after a single-service release: refused, saying there is none', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history: [released('backend', A)] });
    await expect(rollbackBackend.run(settingsOf(rollbackBackend, { services: 'api' }), nas, context)).rejects.toThrow(
      /its services are: \(none: the last release was of a single service/,
    );
  });

  it('an empty tag: the worker alone goes to its own previous release, the others keep theirs', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B), deployOf(C)] });
    nas.answer(ASK, { code: 0, values: asked(C, C, C) });
    nas.answer<ServicesRecreateValues>(ROLLBACK, {
      code: 0,
      values: { running: [B], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { services: 'worker' }), nas, context);
    expect(result.ok).toBe(true);
    expect(nas.ran).toEqual([ASK, ROLLBACK]);
    const phase = nas.phases[0];
    expect(phase.begin).toEqual({
      tag: B,
      previous: C,
      detail: 'previous-release',
      services: { worker: record(B, 'shop-api', 'WORKER_TAG') },
    });
    // only the worker is recreated; the others' variables keep what they run
    expect(phase.script.text).toContain(
      `env API_TAG=${C} WEB_TAG=${C} WORKER_TAG=${B} docker compose --file backend/docker-compose.yml up --detach --no-build --no-deps worker`,
    );
    expect(JSON.parse(result.outputs.DEPLOYED_SERVICES)).toEqual({
      api: { tag: C, image: 'shop-api', previous: C },
      worker: { tag: B, image: 'shop-api', previous: C },
      web: { tag: C, image: 'shop-web', previous: C },
    });
  });

  it('a tag missing from the NAS for one service: nothing changes', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B)] });
    nas.answer(ASK, { code: 0, values: { ...asked(B, B, B), inventory: new Map([['shop-api', []]]) } });
    await expect(
      rollbackBackend.run(settingsOf(rollbackBackend, { services: 'api', tag: A }), nas, context),
    ).rejects.toThrow(`Image shop-api:${A} (service api) does not exist on the NAS`);
    expect(nas.ran).toEqual([ASK]);
  });
});

describe('cleanup-backend with several services', () => {
  it('keeps the newest per image and every running and rollback tag of each service', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { runningImage: '', inventory: [], backups: [] },
      history: [deployOf(A), deployOf(B), deployOf(C)],
    });
    const inventory = [A, B, C].map((tag) => ({ tag, bytes: 1, id: tag }));
    nas.answer(ASK, {
      code: 0,
      values: {
        // the worker was rolled back to A by hand: A is its running tag, so it stays
        runningImages: [`shop-api:${C}`, `shop-api:${A}`, `shop-web:${C}`],
        inventory: new Map([
          ['shop-api', inventory],
          ['shop-web', inventory],
        ]),
      },
    });
    nas.answer('Removing old images', { code: 0, values: { removed: [A], kept: [] } });
    const settings = settingsOf(cleanupBackend, { ...INPUTS, keep: '1', 'prune-dangling': 'false' });
    const result = await cleanupBackend.run(settings, nas, context);
    expect(result.ok).toBe(true);
    const removals = nas.calls.flatMap((c) =>
      c.kind === 'program' && c.title === 'Removing old images' ? [c.program.script.text] : [],
    );
    // shop-api: C runs (api), A runs (worker), B is the api's rollback target: nothing goes, no removal runs;
    // shop-web: C runs, B is its rollback target, A goes
    expect(removals).toHaveLength(1);
    expect(removals[0]).toContain(`docker image rm shop-web:${A}`);
    expect(JSON.parse(result.outputs.REMOVED_TAGS)).toEqual([`shop-web:${A}`]);
  });
});
