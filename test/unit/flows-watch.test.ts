import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HistoryRecorder } from '../../src/nas/history-recorder.js';
import {
  BackendExit,
  WATCH_ROLLBACK_DETAIL,
  type DeployState,
  type ReleaseValues,
} from '../../src/programs/backend.js';
import { decodeWatch } from '../../src/programs/watch.js';
import type { ServicesDeployState, ServicesReleaseValues } from '../../src/programs/services.js';
import type { BlueGreenDeployState, BlueGreenReleaseValues } from '../../src/programs/blue-green.js';
import { deployBackend } from '../../src/release/backend/deploy.js';
import { linked } from '../../src/remote/program.js';
import { lines, sh } from '../../src/remote/shell.js';
import { parseGuards } from '../../src/rules/guards.js';
import { FAKE_RUN, fakeWorld } from '../support/fake-nas.js';
import { released } from '../support/records.js';
import { settingsOf } from '../support/settings.js';

const IMAGE = 'scanium-backend';
const COMMIT = 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3';
const TAG = '2026.03.02-c0ffee1';
const T3 = '2026.01.20-3333333';
const RELEASE = 'Releasing the backend';
const ERRORS = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))';
const GUARDS = `errors: ${ERRORS} > 0.01 for 30s\nlatency: histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m]))) > 10 for 5m`;
const WATCH_INPUTS = { guards: GUARDS, watch: '10m', 'watch-interval': '15s' };

const b64 = (text: string): string => Buffer.from(text).toString('base64');

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-03-02T09:00:00.000Z'));
});
afterEach(() => vi.useRealTimers());

const state: DeployState = { runningImage: `${IMAGE}:${T3}`, commit: COMMIT, subject: 'Fix the cart total' };
const release = (watchValues: Record<string, string>, values: Partial<ReleaseValues> = {}): ReleaseValues => ({
  previous: T3,
  running: TAG,
  rolledBack: false,
  built: true,
  inventory: [],
  watch: decodeWatch(new Map(Object.entries(watchValues)), parseGuards(GUARDS)),
  ...values,
});

describe('deploy-backend with a metrics watch', () => {
  it('passes: WATCH_STATUS=passed, each guard samples in WATCH_REPORT, a summary table of worst values', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: state, history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: 0,
      values: release({
        watch_status: 'passed',
        watch_samples_1: b64('0 v 0 2\n15 v 0.004 2\n30 e the query returned no series\n'),
        watch_samples_2: b64('0 v 1.5 1\n15 v 2.25 1\n30 v NaN 1\n'),
      }),
    });

    const result = await deployBackend.run(settingsOf(deployBackend, WATCH_INPUTS), nas, context);

    expect(result.ok).toBe(true);
    expect(result.outputs.WATCH_STATUS).toBe('passed');
    expect(JSON.parse(result.outputs.WATCH_REPORT)).toEqual({
      status: 'passed',
      guards: [
        {
          name: 'errors',
          query: ERRORS,
          condition: `${ERRORS} > 0.01 for 30s`,
          worst: 0.004,
          breached: false,
          errors: 1,
          samples: [
            { at: 0, value: 0 },
            { at: 15, value: 0.004 },
            { at: 30, error: 'the query returned no series' },
          ],
        },
        expect.objectContaining({ name: 'latency', worst: 2.25, errors: 0 }),
      ],
    });
    const summary = platform.summary.join('');
    expect(summary).toContain('### Metrics watch: passed');
    expect(summary).toContain(
      '| errors | `` sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m])) > 0.01 for 30s `` | 0.004 | 3 | 1 | ok |',
    );
    expect(summary).toContain('| latency |');
    // The phase carries the watch, and its success line says how the watch ended on the NAS (see history.test.ts).
    const phase = nas.phases[0];
    expect(phase.successFields?.text).toContain('"detail":"watch \'"$nr_wo"\'"');
    expect(phase.script.text).toContain('nr_watch_guard 1 errors ');
    expect(phase.script.text).not.toContain(ERRORS);
  });

  it('a breach rolls back: ROLLED_BACK=true, WATCH_STATUS=rolled-back, the error shows guard, values and query', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: state, history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BackendExit.WatchRolledBack,
      values: release(
        {
          watch_status: 'breached',
          watch_guard: '1',
          watch_samples_1: b64('0 v 0.002 1\n15 v 0.05 1\n30 v 0.051 1\n45 v 0.06 1\n'),
          watch_samples_2: b64('0 v 1 1\n15 v 1 1\n30 v 1 1\n45 v 1 1\n'),
        },
        { running: T3, rolledBack: true },
      ),
    });

    const result = await deployBackend.run(settingsOf(deployBackend, WATCH_INPUTS), nas, context);

    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({
      ROLLED_BACK: 'true',
      WATCH_STATUS: 'rolled-back',
      DEPLOYED_BACKEND_TAG: T3,
    });
    expect(result.error).toBe(
      `The release ${IMAGE}:${TAG} passed its health check but its metrics watch failed: guard errors breached (${ERRORS} > 0.01 for 30s); values over time (seconds since the watch began): 0s 0.002, 15s 0.05, 30s 0.051, 45s 0.06; query: ${ERRORS}. It was rolled back to ${IMAGE}:${T3}.`,
    );
    expect(nas.finishes).toEqual([
      { outcome: 'rolled-back', update: { tag: TAG, commit: COMMIT, previous: T3, detail: WATCH_ROLLBACK_DETAIL } },
    ]);
    // the phase itself records that rollback on the NAS, with the same detail
    expect(nas.phases[0].endings).toEqual([
      {
        code: BackendExit.WatchRolledBack,
        outcome: 'rolled-back',
        update: { tag: TAG, commit: COMMIT, previous: T3, detail: WATCH_ROLLBACK_DETAIL },
      },
    ]);
    expect(platform.summary.join('')).toMatch(/\| errors \| .* \| 0\.06 \| 4 \| 0 \| breached \|/);
  });

  it('data safety 1: a breach whose restore failed on the way back: rolled back, the data NOT restored, in the error and the history line the phase writes', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: state, history: [released('backend', T3)] });
    const before = `20260302T085900Z-${T3}`;
    nas.answer(RELEASE, {
      code: BackendExit.WatchRolledBackDataNotPutBack,
      values: release(
        { watch_status: 'breached', watch_guard: '2', watch_samples_2: b64('0 v 12 1\n') },
        {
          running: T3,
          rolledBack: true,
          backup: { id: before, path: '', bytes: 1 },
          data: 'safety-backup-failed',
        },
      ),
    });

    const result = await deployBackend.run(
      settingsOf(deployBackend, {
        ...WATCH_INPUTS,
        'backup-databases': 'postgres:db',
        'auto-rollback-restore': 'true',
      }),
      nas,
      context,
    );

    expect(result.outputs).toMatchObject({
      ROLLED_BACK: 'true',
      WATCH_STATUS: 'rolled-back',
      DEPLOYED_BACKEND_TAG: T3,
    });
    expect(result.error).toContain(`It was rolled back to ${IMAGE}:${T3}.`);
    expect(result.error).toContain(
      `The data of before the release was NOT restored: the safety backup of the failed release's data failed; ${T3} runs on the failed release's data`,
    );
    expect(platform.warnings.join('\n')).not.toMatch(/was restored/);
    const detail = `${WATCH_ROLLBACK_DETAIL}; data of before not restored`;
    expect(nas.finishes).toEqual([
      { outcome: 'rolled-back', update: { tag: TAG, commit: COMMIT, previous: T3, detail } },
    ]);
    expect(nas.phases[0].endings).toContainEqual({
      code: BackendExit.WatchRolledBackDataNotPutBack,
      outcome: 'rolled-back',
      update: { tag: TAG, commit: COMMIT, previous: T3, detail },
    });
  });

  it('a guard that never got one good answer: WATCH_STATUS=inconclusive, never passed; the release stays, the step passes', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: state, history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: 0,
      values: release({
        watch_status: 'inconclusive',
        watch_samples_1: b64('0 e no answer from http://127.0.0.1:9091\n15 e no answer from http://127.0.0.1:9091\n'),
        watch_samples_2: b64('0 v 1.5 1\n15 v 2 1\n'),
      }),
    });

    const result = await deployBackend.run(settingsOf(deployBackend, WATCH_INPUTS), nas, context);

    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({
      WATCH_STATUS: 'inconclusive',
      ROLLED_BACK: 'false',
      DEPLOYED_BACKEND_TAG: TAG,
    });
    expect(JSON.parse(result.outputs.WATCH_REPORT)).toMatchObject({
      status: 'inconclusive',
      guards: [
        { name: 'errors', worst: null, errors: 2 },
        { name: 'latency', worst: 2 },
      ],
    });
    const summary = platform.summary.join('');
    expect(summary).toContain('### Metrics watch: inconclusive');
    expect(summary).toMatch(/\| errors \| .* \| \(none\) \| 2 \| 2 \| no answer \|/);
    expect(summary).toMatch(/\| latency \| .* \| 2 \| 2 \| 0 \| ok \|/);
    expect(nas.finishes).toEqual([{ outcome: 'success', update: { tag: TAG, commit: COMMIT, previous: T3 } }]);
  });

  it('a breach with nothing to roll back to: WATCH_STATUS=breached, the release left for inspection', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { ...state, runningImage: '' } });
    nas.answer(RELEASE, {
      code: BackendExit.FailedWithoutFallback,
      values: release(
        { watch_status: 'breached', watch_guard: '2', watch_samples_2: b64('0 v 12 1\n') },
        { previous: '' },
      ),
    });
    const result = await deployBackend.run(settingsOf(deployBackend, WATCH_INPUTS), nas, context);
    expect(result.outputs).toMatchObject({ ROLLED_BACK: 'false', WATCH_STATUS: 'breached' });
    expect(result.error).toContain('guard latency breached');
    expect(result.error).toContain('no previous release to roll back to');
    expect(nas.finishes[0]).toMatchObject({
      outcome: 'failure',
      update: { detail: 'watch breached, nothing to roll back to' },
    });
  });
});

describe('a phase ending written on the NAS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'watch-history-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the phase writes its rolled-back line itself, and the flow does not write it again', () => {
    const recorder = new HistoryRecorder(
      { action: 'deploy-backend', stack: 'backend', locking: true },
      FAKE_RUN,
      dir,
      true,
    );
    recorder.startedAt = FAKE_RUN.started;
    const update = { tag: TAG, commit: COMMIT, previous: T3, detail: WATCH_ROLLBACK_DETAIL };
    // linked: with the prelude and the history library, as the phase gets them on the NAS
    const script = linked(
      lines(
        recorder.begin({ tag: TAG, detail: 'deploy' }),
        recorder.recordingSuccess(sh`exit ${BackendExit.WatchRolledBack}`, { tag: TAG }, undefined, [
          { code: BackendExit.WatchRolledBack, outcome: 'rolled-back', update },
        ]),
      ),
    );
    const run = spawnSync('sh', ['-c', script.text], { encoding: 'utf8' });
    expect(run.status).toBe(BackendExit.WatchRolledBack);
    const history = readFileSync(join(dir, 'history.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ ...update, outcome: 'rolled-back', action: 'deploy-backend' });
    expect(Date.parse(history[0].ended)).not.toBeNaN();
    expect(recorder.finish('rolled-back', update).shell).toBeUndefined();
  });

  it('another rolled-back ending (a failed health check) is still written by the flow', () => {
    const recorder = new HistoryRecorder(
      { action: 'deploy-backend', stack: 'backend', locking: true },
      FAKE_RUN,
      dir,
      true,
    );
    recorder.startedAt = FAKE_RUN.started;
    recorder.begin({ tag: TAG });
    recorder.recordingSuccess(sh`:`, {}, undefined, [
      { code: BackendExit.WatchRolledBack, outcome: 'rolled-back', update: { detail: WATCH_ROLLBACK_DETAIL } },
    ]);
    expect(recorder.finish('rolled-back', { detail: 'health check failed' }).shell).toBeDefined();
  });
});

/** The same watch step in the other pipelines: several services, and blue-green behind the proxy. */
describe('the metrics watch with several services and with blue-green', () => {
  const SERVICES = 'api tag-variable=API_TAG\nworker tag-variable=WORKER_TAG';
  const SERVICE_INPUTS = { ...WATCH_INPUTS, services: SERVICES, image: 'shop-api', container: 'shop-api' };
  const BREACH = {
    watch_status: 'breached',
    watch_guard: '1',
    watch_samples_1: b64('0 v 0.002 1\n15 v 0.05 1\n30 v 0.051 1\n45 v 0.06 1\n'),
    watch_samples_2: b64('0 v 1 1\n15 v 1 1\n30 v 1 1\n45 v 1 1\n'),
  };
  const watchOf = (values: Record<string, string>) => decodeWatch(new Map(Object.entries(values)), parseGuards(GUARDS));
  const servicesState: ServicesDeployState = {
    runningImages: [`shop-api:${T3}`, `shop-api:${T3}`],
    commit: COMMIT,
    subject: 'Two services',
  };
  const noDash = (text: string): void => {
    for (const shell of ['dash', 'busybox']) {
      const run = spawnSync(shell, shell === 'busybox' ? ['sh', '-n'] : ['-n'], { input: text, encoding: 'utf8' });
      if (run.error) continue; // busybox may be absent
      expect(run.stderr, shell).toBe('');
      expect(run.status, shell).toBe(0);
    }
  };

  it('several services: a breach once all are healthy puts every service back; WATCH_STATUS=rolled-back, the line written by the phase', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: servicesState, history: [released('backend', T3)] });
    nas.answer<ServicesReleaseValues>('Releasing the services', {
      code: BackendExit.WatchRolledBack,
      values: {
        running: [T3, T3],
        failed: [],
        failedLogs: new Map(),
        rolledBack: true,
        built: true,
        inventory: new Map(),
        watch: watchOf(BREACH),
      },
    });

    const result = await deployBackend.run(settingsOf(deployBackend, SERVICE_INPUTS), nas, context);

    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({
      ROLLED_BACK: 'true',
      WATCH_STATUS: 'rolled-back',
      DEPLOYED_BACKEND_TAG: T3,
    });
    expect(JSON.parse(result.outputs.WATCH_REPORT)).toMatchObject({
      status: 'rolled-back',
      guards: [{ name: 'errors', worst: 0.06, breached: true }, { name: 'latency' }],
    });
    expect(result.error).toBe(
      `The release ${TAG} passed its health check but its metrics watch failed: guard errors breached (${ERRORS} > 0.01 for 30s); values over time (seconds since the watch began): 0s 0.002, 15s 0.05, 30s 0.051, 45s 0.06; query: ${ERRORS}. Every service was put back to what ran before (api shop-api:${T3}, worker shop-api:${T3}).`,
    );
    expect(platform.summary.join('')).toMatch(/\| errors \| .* \| 0\.06 \| 4 \| 0 \| breached \|/);
    // the phase writes the rolled-back line itself, each service on its fallback; the flow writes nothing more
    const back = { tag: T3, image: 'shop-api', tagVariable: 'API_TAG' };
    expect(nas.phases[0].endings).toEqual([
      {
        code: BackendExit.WatchRolledBack,
        outcome: 'rolled-back',
        update: {
          tag: TAG,
          commit: COMMIT,
          previous: T3,
          detail: WATCH_ROLLBACK_DETAIL,
          services: {
            api: expect.objectContaining(back),
            worker: expect.objectContaining({ ...back, tagVariable: 'WORKER_TAG' }),
          },
        },
      },
    ]);
    expect(nas.finishes).toEqual([
      { outcome: 'rolled-back', update: expect.objectContaining({ tag: TAG, detail: WATCH_ROLLBACK_DETAIL }) },
    ]);
    // the watch runs after every service is healthy, and before post-deploy; its rollback exits WatchRolledBack
    const script = nas.phases[0].script.text;
    expect(script).not.toContain(ERRORS);
    expect(script.indexOf("nr_say ok 'Every service is healthy'")).toBeLessThan(script.indexOf('nr_watch || {'));
    expect(script).toContain('|| exit "$NR_EXIT_WATCH_ROLLED_BACK"');
    expect(nas.phases[0].timeout).toBeGreaterThan(600 * 2);
    noDash(script);
  });

  it('several services: a watch that passes: WATCH_STATUS=passed; without a watch nothing of it is rendered', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: servicesState, history: [released('backend', T3)] });
    nas.answer<ServicesReleaseValues>('Releasing the services', {
      code: 0,
      values: {
        running: [TAG, TAG],
        failed: [],
        failedLogs: new Map(),
        rolledBack: false,
        built: true,
        inventory: new Map(),
        watch: watchOf({
          watch_status: 'passed',
          watch_samples_1: b64('0 v 0 1\n'),
          watch_samples_2: b64('0 v 1 1\n'),
        }),
      },
    });
    const result = await deployBackend.run(settingsOf(deployBackend, SERVICE_INPUTS), nas, context);
    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({ WATCH_STATUS: 'passed', ROLLED_BACK: 'false' });
    expect(nas.phases[0].successFields?.text).toContain('"detail":"watch \'"$nr_wo"\'"');

    const plain = fakeWorld();
    plain.nas.answerState({ answers: servicesState, history: [released('backend', T3)] });
    plain.nas.answer<ServicesReleaseValues>('Releasing the services', {
      code: 0,
      values: {
        running: [TAG, TAG],
        failed: [],
        failedLogs: new Map(),
        rolledBack: false,
        built: true,
        inventory: new Map(),
      },
    });
    const without = await deployBackend.run(
      settingsOf(deployBackend, { services: SERVICES, image: 'shop-api', container: 'shop-api' }),
      plain.nas,
      plain.context,
    );
    expect(without.outputs).toMatchObject({ WATCH_STATUS: 'skipped' });
    expect(plain.nas.phases[0].script.text).not.toMatch(/nr_watch_guard|nr_watch \|\||WATCH_ROLLED_BACK/);
    expect(plain.nas.phases[0].endings).toBeUndefined();
  });

  const BLUE_GREEN = { ...WATCH_INPUTS, strategy: 'blue-green' };
  const bgRunning = { status: 'running', health: 'healthy', image: `${IMAGE}:${T3}` };
  const bgNone = { status: '', health: '', image: '' };
  const bgState = (live: 'blue' | ''): BlueGreenDeployState => ({
    live,
    colors: { blue: live ? bgRunning : bgNone, green: bgNone },
    commit: COMMIT,
    subject: 'Fix the cart',
  });
  const BG_RELEASE = 'Releasing the backend (blue-green)';

  it('blue-green: a breach after the switch goes straight back to the old colour: ROLLED_BACK, LIVE_COLOR the old colour, the line written by the phase', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: bgState('blue'), history: [released('backend', T3)] });
    nas.answer<BlueGreenReleaseValues>(BG_RELEASE, {
      code: BackendExit.WatchRolledBack,
      values: { running: T3, liveColor: 'blue', rolledBack: true, warm: false, built: true, watch: watchOf(BREACH) },
    });

    const result = await deployBackend.run(settingsOf(deployBackend, BLUE_GREEN), nas, context);

    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({
      ROLLED_BACK: 'true',
      LIVE_COLOR: 'blue',
      DEPLOYED_BACKEND_TAG: T3,
      BACKEND_IMAGE: `${IMAGE}:${T3}`,
      WATCH_STATUS: 'rolled-back',
    });
    expect(result.error).toContain(
      `The release ${IMAGE}:${TAG} passed its health check but its metrics watch failed: guard errors breached`,
    );
    expect(result.error).toContain('The proxy was switched back to the blue colour');
    const update = { tag: TAG, commit: COMMIT, previous: T3, color: 'blue', detail: WATCH_ROLLBACK_DETAIL };
    expect(nas.phases[0].endings).toContainEqual({ code: BackendExit.WatchRolledBack, outcome: 'rolled-back', update });
    expect(nas.finishes).toEqual([{ outcome: 'rolled-back', update }]);
  });

  it('blue-green: the watch runs after the switch and the check through the proxy, before the old colour drains; a breach switches back, then drains and stops the new colour', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: bgState('blue'), history: [released('backend', T3)] });
    nas.answer<BlueGreenReleaseValues>(BG_RELEASE, {
      code: 0,
      values: {
        running: TAG,
        liveColor: 'green',
        rolledBack: false,
        warm: false,
        built: true,
        watch: watchOf({
          watch_status: 'passed',
          watch_samples_1: b64('0 v 0 1\n'),
          watch_samples_2: b64('0 v 1 1\n'),
        }),
      },
    });
    const passed = await deployBackend.run(settingsOf(deployBackend, BLUE_GREEN), nas, context);
    expect(passed.outputs).toMatchObject({ WATCH_STATUS: 'passed', LIVE_COLOR: 'green', ROLLED_BACK: 'false' });
    expect(nas.phases[0].successFields?.text).toContain('"detail":"watch \'"$nr_wo"\'"');
    const script = nas.phases[0].script.text;
    const at = (text: string, from = 0): number => {
      const i = script.indexOf(text, from);
      expect(i, text).toBeGreaterThanOrEqual(from);
      return i;
    };
    const watch = at('nr_watch || {', at('nr_value live_color green; nr_value running'));
    // on a breach: back to blue (its port), blue live again, then green drained and stopped, and the phase ends
    const back = at('nr_nginx_switch_to /volume1/docker/shop/repo/backend/nginx/upstream.conf "$nr_px" 8081 10', watch);
    const greenStops = at('The green colour stops once the requests it holds are answered', back);
    at('exit "$NR_EXIT_WATCH_ROLLED_BACK"', greenStops);
    // after a pass: blue stays warm (keep-warm's default), its timer started as without a watch
    at('nr-warm-timer', greenStops);
    noDash(script);
  });

  it('blue-green with keep-warm 0: the old colour drains and stops only after the watch passed', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: bgState('blue'), history: [released('backend', T3)] });
    nas.answer<BlueGreenReleaseValues>(BG_RELEASE, {
      code: 0,
      values: { running: TAG, liveColor: 'green', rolledBack: false, warm: false, built: true },
    });
    await deployBackend.run(settingsOf(deployBackend, { ...BLUE_GREEN, 'keep-warm': '0' }), nas, context);
    const script = nas.phases[0].script.text;
    expect(script).not.toContain('nr-warm-timer');
    const watch = script.indexOf('nr_watch || {');
    const greenStops = script.indexOf('The green colour stops once the requests it holds are answered');
    expect(greenStops).toBeGreaterThan(watch);
    expect(script.indexOf('The blue colour stops once the requests it holds are answered')).toBeGreaterThan(greenStops);
    noDash(script);
  });

  it('blue-green: a breach with no colour before it (or auto-rollback off) leaves the new colour serving, failed, for inspection', async () => {
    for (const [live, inputs] of [
      ['', BLUE_GREEN],
      ['blue', { ...BLUE_GREEN, 'auto-rollback': 'false' }],
    ] as const) {
      const { nas, context } = fakeWorld();
      nas.answerState({ answers: bgState(live), history: live ? [released('backend', T3)] : [] });
      nas.answer<BlueGreenReleaseValues>(BG_RELEASE, {
        code: BackendExit.FailedWithoutFallback,
        values: {
          running: TAG,
          liveColor: live ? 'green' : 'blue',
          rolledBack: false,
          warm: false,
          built: true,
          watch: watchOf(BREACH),
        },
      });
      const result = await deployBackend.run(settingsOf(deployBackend, inputs), nas, context);
      expect(result.ok).toBe(false);
      expect(result.outputs).toMatchObject({
        ROLLED_BACK: 'false',
        WATCH_STATUS: 'breached',
        DEPLOYED_BACKEND_TAG: TAG,
      });
      expect(result.error).toContain('it is left serving, for inspection');
      expect(nas.finishes[0]).toMatchObject({
        outcome: 'failure',
        update: { detail: 'watch breached, nothing to roll back to' },
      });
      expect(nas.phases[0].script.text).not.toContain('exit "$NR_EXIT_WATCH_ROLLED_BACK"');
    }
  });
});
