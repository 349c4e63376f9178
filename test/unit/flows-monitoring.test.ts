import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MonitoringExit, type CheckoutState, type StackState } from '../../src/programs/monitoring.js';
import { deployMonitoring } from '../../src/release/monitoring/deploy.js';
import { rollbackMonitoring } from '../../src/release/monitoring/rollback.js';
import { verifyMonitoring } from '../../src/release/monitoring/verify.js';
import { healthyStack, lokiDown, noTraces } from '../support/checks.js';
import { fakeWorld, type RecordingPlatform } from '../support/fake-nas.js';
import { released, stepNumbers } from '../support/records.js';
import { settingsOf } from '../support/settings.js';

const COMMIT = 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3';
const NOW = new Date('2026-03-02T09:00:00.000Z');
const TAG = 'monitoring-2026.03.02-c0ffee1';
const M1 = 'monitoring-2026.01.01-1111111';
const M2 = 'monitoring-2026.01.10-2222222';
const M3 = 'monitoring-2026.01.20-3333333';
const commitOf = (tag: string): string => tag.slice(-7).repeat(6).slice(0, 40);

const RELEASE = 'Releasing the monitoring stack';
const ROLLBACK = 'Rolling back the monitoring stack';
const VERIFY = 'Verifying the monitoring stack';
const TAGGING = 'Tagging the release';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

function expectSteps(platform: RecordingPlatform, reached: number, total: number): void {
  expect(stepNumbers(platform.steps)).toEqual(Array.from({ length: reached }, (_, i) => `${i + 1}/${total}`));
}

describe('deploy-monitoring', () => {
  const stackState = (extra: Partial<StackState> = {}): StackState => ({
    commit: COMMIT,
    subject: 'Alert on 5xx',
    leftovers: [],
    conflicts: [],
    ...extra,
  });

  it('releases, verifies and tags: outputs, a success record, eight numbered steps', async () => {
    const { nas, platform, context } = fakeWorld();
    const settings = settingsOf(deployMonitoring);
    nas.answerState({ answers: stackState() });
    nas.answer(RELEASE, { code: 0, values: undefined });
    nas.answer(VERIFY, { code: 0, values: healthyStack(settings.checks) });
    nas.answer(TAGGING, { code: 0, values: undefined });

    const result = await deployMonitoring.run(settings, nas, context);

    expect(result).toEqual({
      ok: true,
      outputs: { DEPLOYED_MONITORING_TAG: TAG, MONITORING_COMMIT: COMMIT, VERIFY_STATUS: 'passed' },
    });
    expect(nas.ran).toEqual([RELEASE, VERIFY, TAGGING]);
    expect(nas.finishes).toEqual([{ outcome: 'success', update: { tag: TAG, commit: COMMIT } }]);
    const tagging = nas.program(TAGGING)!.script.text;
    expect(tagging).toContain(`tag -a ${TAG} ${COMMIT}`);
    expect(tagging).toContain(`push --quiet origin refs/tags/${TAG}`);
    expect(platform.lines).toContain('✓ PASSED');
    expectSteps(platform, 8, 8);
    expect(platform.steps.at(-1)?.text).toBe(`Tagging the release (${TAG})`);
  });

  it('an unhealthy stack fails the release: no verification, no tag, the history says health check failed', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: stackState() });
    nas.answer(RELEASE, {
      code: MonitoringExit.StackUnhealthy,
      values: undefined,
      tail: ['scanium-loki: restarting'],
    });

    const result = await deployMonitoring.run(settingsOf(deployMonitoring), nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).toBe(
      `deploy-monitoring failed: exit code ${MonitoringExit.StackUnhealthy}; last lines:\nscanium-loki: restarting`,
    );
    expect(result.outputs).toEqual({
      DEPLOYED_MONITORING_TAG: '',
      MONITORING_COMMIT: COMMIT,
      VERIFY_STATUS: 'skipped',
    });
    expect(nas.ran).toEqual([RELEASE]);
    expect(nas.finishes).toEqual([{ outcome: 'failure', update: { detail: 'health check failed' } }]);
    expectSteps(platform, 6, 8);
  });

  it('a failed verification creates no tag', async () => {
    const { nas, platform, context } = fakeWorld();
    const settings = settingsOf(deployMonitoring);
    nas.answerState({ answers: stackState() });
    nas.answer(RELEASE, { code: 0, values: undefined });
    nas.answer(VERIFY, { code: 0, values: lokiDown(settings.checks) });

    const result = await deployMonitoring.run(settings, nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).toBe(
      `The monitoring stack at c0ffee1 is running but verification failed; no release tag was created`,
    );
    expect(result.outputs.VERIFY_STATUS).toBe('failed');
    expect(result.outputs.DEPLOYED_MONITORING_TAG).toBe('');
    expect(nas.ran).toEqual([RELEASE, VERIFY]);
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: TAG, commit: COMMIT, detail: 'verification failed' } },
    ]);
    expect(platform.lines).toContain('✗ Loki ready: HTTP 503: Ingester not ready');
    expect(platform.lines).toContain('✗ FAILED (1 failed check)');
  });

  it('warnings pass, unless fail-on-warnings', async () => {
    const lenient = fakeWorld();
    const settings = settingsOf(deployMonitoring);
    lenient.nas.answerState({ answers: stackState() });
    lenient.nas.answer(RELEASE, { code: 0, values: undefined });
    lenient.nas.answer(VERIFY, { code: 0, values: noTraces(settings.checks) });
    lenient.nas.answer(TAGGING, { code: 0, values: undefined });
    const passed = await deployMonitoring.run(settings, lenient.nas, lenient.context);
    expect(passed.ok).toBe(true);
    expect(passed.outputs.VERIFY_STATUS).toBe('warnings');
    expect(lenient.platform.lines).toContain('⚠ PASSED WITH WARNINGS (1 warning)');

    const strict = fakeWorld();
    const strictSettings = settingsOf(deployMonitoring, { 'fail-on-warnings': 'true' });
    strict.nas.answerState({ answers: stackState() });
    strict.nas.answer(RELEASE, { code: 0, values: undefined });
    strict.nas.answer(VERIFY, { code: 0, values: noTraces(strictSettings.checks) });
    const failed = await deployMonitoring.run(strictSettings, strict.nas, strict.context);
    expect(failed.ok).toBe(false);
    expect(failed.error).toBe(
      'The monitoring stack at c0ffee1 is running but verification has warnings (fail-on-warnings); no release tag was created',
    );
    expect(strict.nas.ran).toEqual([RELEASE, VERIFY]);
    expect(strict.nas.finishes[0]).toEqual({
      outcome: 'failure',
      update: { tag: TAG, commit: COMMIT, detail: 'verification warnings' },
    });
  });

  it('leftover containers the state found are removed by the phase, each named', async () => {
    const { nas, context } = fakeWorld();
    const settings = settingsOf(deployMonitoring, { verify: 'false', 'create-tag': 'false' });
    nas.answerState({
      answers: stackState({
        leftovers: [
          { name: 'scanium-grafana', why: 'running, started outside compose' },
          { name: 'scanium-loki-old', why: 'an exited duplicate' },
        ],
      }),
    });
    nas.answer(RELEASE, { code: 0, values: undefined });

    await deployMonitoring.run(settings, nas, context);

    const script = nas.phases[0].script.text;
    expect(script).toContain(
      'Removing leftover container scanium-grafana (running, started outside compose): it would cause name conflicts',
    );
    expect(script).toContain('docker rm -f scanium-grafana scanium-loki-old');
    expect(nas.phases[0].begin).toEqual({ tag: '', commit: COMMIT, detail: 'deploy' });
  });

  it('defect 12.5: a stack name held by another compose project stops the release before any change', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: stackState({
        conflicts: [{ name: 'scanium-loki', why: 'running, owned by the compose project in /volume1/docker/old' }],
      }),
    });

    await expect(deployMonitoring.run(settingsOf(deployMonitoring), nas, context)).rejects.toThrow(
      /Container scanium-loki \(running, owned by the compose project in \/volume1\/docker\/old\) holds a name of this stack\. deploy-monitoring never removes another compose project's container.*Nothing was changed\./,
    );
    expect(nas.phases).toEqual([]);
  });

  it('create-tag: false runs no tag program and names no tag; the release is still recorded by its commit', async () => {
    const { nas, platform, context } = fakeWorld();
    const settings = settingsOf(deployMonitoring, { 'create-tag': 'false' });
    nas.answerState({ answers: stackState() });
    nas.answer(RELEASE, { code: 0, values: undefined });
    nas.answer(VERIFY, { code: 0, values: healthyStack(settings.checks) });

    const result = await deployMonitoring.run(settings, nas, context);

    expect(result.ok).toBe(true);
    expect(nas.ran).toEqual([RELEASE, VERIFY]);
    expect(platform.lines).toContain('   create-tag: false, no tag created');
    expect(result.outputs.DEPLOYED_MONITORING_TAG).toBe('');
    // No tag name that exists nowhere, in the history or anywhere else.
    expect(nas.phases[0].begin).toEqual({ tag: '', commit: COMMIT, detail: 'deploy' });
    expect(nas.finishes).toEqual([{ outcome: 'success', update: { tag: '', commit: COMMIT } }]);
    expect(platform.lines.join('\n')).not.toContain(TAG);
    expectSteps(platform, 8, 8);
  });

  it('a tag that cannot be created fails the step after the release', async () => {
    const { nas, context } = fakeWorld();
    const settings = settingsOf(deployMonitoring);
    nas.answerState({ answers: stackState() });
    nas.answer(RELEASE, { code: 0, values: undefined });
    nas.answer(VERIFY, { code: 0, values: healthyStack(settings.checks) });
    nas.answer(TAGGING, { code: MonitoringExit.TagOnAnotherCommit, values: undefined });

    const result = await deployMonitoring.run(settings, nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).toBe(
      `The stack is released but the tag ${TAG} could not be created: exit code ${MonitoringExit.TagOnAnotherCommit}`,
    );
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: TAG, commit: COMMIT, detail: 'tagging failed' } },
    ]);
  });

  it('a dry run skips the verification', async () => {
    const { nas, platform, context } = fakeWorld({ dryRun: true });
    nas.answerState({ answers: stackState() });
    nas.answer(RELEASE, { code: 0, values: undefined });
    nas.answer(TAGGING, { code: 0, values: undefined });

    const result = await deployMonitoring.run(settingsOf(deployMonitoring, { 'dry-run': 'true' }), nas, context);

    expect(result.outputs.VERIFY_STATUS).toBe('skipped');
    expect(nas.ran).toEqual([RELEASE, TAGGING]);
    expect(platform.lines).toContain('   dry-run: verification skipped');
    expect(nas.phases[0].script.text).toContain("nr_say info 'dry-run, would run: docker compose");
  });

  it('a lock that is not free in time fails the step, and nothing runs', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState(new Error('The release lock is held by deploy-backend (octocat); gave up after 600 s'));
    await expect(deployMonitoring.run(settingsOf(deployMonitoring), nas, context)).rejects.toThrow(/gave up/);
    expect(nas.ran).toEqual([]);
    expect(nas.finishes).toEqual([]);
  });
});

describe('rollback-monitoring', () => {
  const tagCommits = new Map([M1, M2, M3].map((t) => [t, commitOf(t)]));
  const history = [released('monitoring', M1), released('monitoring', M2), released('monitoring', M3)];
  // The checkout is on main at M3.
  const checkoutState = (extra: Partial<CheckoutState> = {}): CheckoutState => ({
    head: commitOf(M3),
    branch: 'main',
    headTags: [M3],
    tagCommits,
    dirty: [],
    ...extra,
  });

  it('checks out a named tag, restarts, verifies: outputs, a success record, six steps', async () => {
    const { nas, platform, context } = fakeWorld();
    const settings = settingsOf(rollbackMonitoring, { tag: M1 });
    nas.answerState({ answers: checkoutState(), history });
    nas.answer(ROLLBACK, { code: 0, values: { commit: commitOf(M1) } });
    nas.answer(VERIFY, { code: 0, values: healthyStack(settings.checks) });

    const result = await rollbackMonitoring.run(settings, nas, context);

    expect(result).toEqual({
      ok: true,
      outputs: {
        DEPLOYED_MONITORING_TAG: M1,
        MONITORING_COMMIT: commitOf(M1),
        PREVIOUS_MONITORING_COMMIT: commitOf(M3),
        VERIFY_STATUS: 'passed',
      },
    });
    expect(nas.phases[0].begin).toEqual({ tag: M1, previous: M3, detail: 'named' });
    expect(nas.phases[0].script.text).toContain(`refs/tags/${M1}`);
    expect(nas.finishes).toEqual([
      { outcome: 'success', update: { tag: M1, commit: commitOf(M1), previous: M3, detail: 'named' } },
    ]);
    expect(platform.warnings.at(-1)).toMatch(new RegExp(`^The NAS checkout is now detached at ${M1}\\.`));
    expectSteps(platform, 6, 6);
  });

  it('an empty tag goes to the release before the current one', async () => {
    const { nas, platform, context } = fakeWorld();
    const settings = settingsOf(rollbackMonitoring, { verify: 'false' });
    nas.answerState({ answers: checkoutState(), history });
    nas.answer(ROLLBACK, { code: 0, values: { commit: commitOf(M2) } });

    const result = await rollbackMonitoring.run(settings, nas, context);

    expect(result.outputs.DEPLOYED_MONITORING_TAG).toBe(M2);
    expect(nas.phases[0].begin).toEqual({ tag: M2, previous: M3, detail: 'previous-release' });
    expect(platform.lines).toContain(`   Target: the previous release, ${M2} (from the release history)`);
    expect(nas.finishes[0].update.detail).toBe('previous-release');
  });

  it('an unknown tag lists the tags there are, and nothing runs', async () => {
    const { nas, context } = fakeWorld();
    const unknown = 'monitoring-2025.12.24-abcdef0';
    nas.answerState({ answers: checkoutState(), history });

    await expect(
      rollbackMonitoring.run(settingsOf(rollbackMonitoring, { tag: unknown }), nas, context),
    ).rejects.toThrow(
      `Tag ${unknown} does not exist in the NAS checkout or its remote. Available monitoring tags, newest first:\n  ${M3}\n  ${M2}\n  ${M1}\nNothing was changed.`,
    );
    expect(nas.ran).toEqual([]);
    expect(nas.finishes).toEqual([]);
  });

  it('a dirty checkout is refused before anything changes', async () => {
    const { nas, deployment, context } = fakeWorld();
    nas.answerState({ answers: checkoutState({ dirty: ['M monitoring/alloy/config.alloy'] }), history });

    await expect(
      rollbackMonitoring.run(settingsOf(rollbackMonitoring, { tag: M1, environment: 'production' }), nas, context),
    ).rejects.toThrow(
      'The checkout has local changes to tracked files (M monitoring/alloy/config.alloy); a rollback would mix them into the old release.',
    );
    expect(nas.ran).toEqual([]);
    expect(deployment.started).toEqual([]);
  });

  it('a failed restart fails the step and skips the verification', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: checkoutState(), history });
    nas.answer(ROLLBACK, { code: MonitoringExit.StackUnhealthy, values: { commit: commitOf(M1) } });

    const result = await rollbackMonitoring.run(settingsOf(rollbackMonitoring, { tag: M1 }), nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).toBe(`rollback-monitoring to ${M1} failed: exit code ${MonitoringExit.StackUnhealthy}`);
    expect(nas.ran).toEqual([ROLLBACK]);
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: M1, commit: commitOf(M1), detail: 'health check failed' } },
    ]);
  });

  it('verification warnings pass, unless fail-on-warnings; a failed check fails', async () => {
    const cases: { inputs: Record<string, string>; answers: typeof noTraces; ok: boolean; status: string }[] = [
      { inputs: {}, answers: noTraces, ok: true, status: 'warnings' },
      { inputs: { 'fail-on-warnings': 'true' }, answers: noTraces, ok: false, status: 'warnings' },
      { inputs: {}, answers: lokiDown, ok: false, status: 'failed' },
    ];
    for (const c of cases) {
      const { nas, context } = fakeWorld();
      const settings = settingsOf(rollbackMonitoring, { tag: M1, ...c.inputs });
      nas.answerState({ answers: checkoutState(), history });
      nas.answer(ROLLBACK, { code: 0, values: { commit: commitOf(M1) } });
      nas.answer(VERIFY, { code: 0, values: c.answers(settings.checks) });

      const result = await rollbackMonitoring.run(settings, nas, context);

      expect(result.ok, c.status).toBe(c.ok);
      expect(result.outputs.VERIFY_STATUS).toBe(c.status);
      if (c.ok) expect(nas.finishes[0].outcome).toBe('success');
      else {
        expect(result.error).toBe(`The monitoring stack was rolled back to ${M1} but verification ${c.status}`);
        expect(nas.finishes).toEqual([
          {
            outcome: 'failure',
            update: { tag: M1, commit: commitOf(M1), detail: `verification ${c.status}` },
          },
        ]);
      }
    }
  });
});

describe('verify-monitoring', () => {
  it('passes: VERIFY_STATUS, the report, two steps, the summary', async () => {
    const { nas, platform, context } = fakeWorld();
    const settings = settingsOf(verifyMonitoring);
    nas.answerState({ answers: healthyStack(settings.checks) });

    const result = await verifyMonitoring.run(settings, nas, context);

    expect(result.ok).toBe(true);
    expect(result.outputs.VERIFY_STATUS).toBe('passed');
    const report = JSON.parse(result.outputs.VERIFY_REPORT) as { component: string; status: string }[];
    expect(report.every((r) => r.status === 'pass')).toBe(true);
    expect(report.filter((r) => r.component === 'containers')).toHaveLength(settings.checks.containers.length);
    expect(platform.lines).toContain('✓ PASSED');
    expect(platform.summary[0]).toMatch(/^### Monitoring verification: passed/);
    expect(nas.ran).toEqual([]);
    expect(nas.finishes).toEqual([]);
    expectSteps(platform, 2, 2);
  });

  it('warnings pass unless fail-on-warnings', async () => {
    const lenient = fakeWorld();
    const settings = settingsOf(verifyMonitoring);
    lenient.nas.answerState({ answers: noTraces(settings.checks) });
    const passed = await verifyMonitoring.run(settings, lenient.nas, lenient.context);
    expect(passed.ok).toBe(true);
    expect(passed.outputs.VERIFY_STATUS).toBe('warnings');
    expect(lenient.platform.warnings).toEqual(['Tempo search: no traces yet (normal on a fresh store)']);

    const strict = fakeWorld();
    const strictSettings = settingsOf(verifyMonitoring, { 'fail-on-warnings': 'true' });
    strict.nas.answerState({ answers: noTraces(strictSettings.checks) });
    const failed = await verifyMonitoring.run(strictSettings, strict.nas, strict.context);
    expect(failed).toMatchObject({
      ok: false,
      error: 'Monitoring verification passed with warnings, and fail-on-warnings is true',
    });
  });

  it('a failed check fails the step, and says which', async () => {
    const { nas, platform, context } = fakeWorld();
    const settings = settingsOf(verifyMonitoring);
    const answers = lokiDown(settings.checks);
    answers.states.set('scanium-tempo', 'restarting none 3');
    nas.answerState({ answers });

    const result = await verifyMonitoring.run(settings, nas, context);

    expect(result).toMatchObject({ ok: false, error: 'Monitoring verification failed' });
    expect(result.outputs.VERIFY_STATUS).toBe('failed');
    expect(platform.lines).toContain('✗ containers scanium-tempo: restarting');
    expect(platform.lines).toContain('✗ FAILED (2 failed checks)');
  });

  it('warns when a release holds the lock', async () => {
    const { nas, platform, context } = fakeWorld();
    const settings = settingsOf(verifyMonitoring);
    nas.answerState({
      answers: { ...healthyStack(settings.checks), lockHolder: 'deploy-monitoring octocat run 77' },
      inProgress: released('monitoring', M3, { outcome: undefined }),
    });

    const result = await verifyMonitoring.run(settings, nas, context);

    expect(result.ok).toBe(true);
    // The lock says more than the in-progress record: it alone is reported.
    expect(platform.warnings).toEqual([
      'A release operation holds the lock (deploy-monitoring octocat run 77): the stack may be restarting, so these checks may see it mid-change',
    ]);
  });

  it('warns when a release is in progress without the lock held', async () => {
    const { nas, platform, context } = fakeWorld();
    const settings = settingsOf(verifyMonitoring);
    const running = released('monitoring', M3, {
      outcome: undefined,
      run: 'https://github.com/acme/shop/actions/runs/78',
      started: '2026-03-02T08:59:00.000Z',
    });
    nas.answerState({ answers: healthyStack(settings.checks), inProgress: running });

    await verifyMonitoring.run(settings, nas, context);

    expect(platform.warnings).toEqual([
      `A release is running on the NAS right now: deploy-monitoring of ${M3} (https://github.com/acme/shop/actions/runs/78, by octocat, since 2026-03-02T08:59:00.000Z). What follows shows the state before it ends.`,
    ]);
  });

  /** The state program the flow sent the NAS, as text. */
  const stateScript = (nas: ReturnType<typeof fakeWorld>['nas']): string => {
    const call = nas.calls.find((c) => c.kind === 'readState');
    return call?.kind === 'readState' ? call.questions.script(nas.render).text : '';
  };
  type Row = { component: string; check: string; status: string; detail: string };

  it('checks: prometheus asks a plain Prometheus only (/-/ready, /api/v1/query), and reports only that', async () => {
    const { nas, platform, context } = fakeWorld();
    const settings = settingsOf(verifyMonitoring, {
      checks: 'prometheus',
      'prometheus-url': 'http://127.0.0.1:9090/',
      'required-metrics': 'up{job="shop"}',
    });
    nas.answerState({ answers: healthyStack(settings.checks) });

    const result = await verifyMonitoring.run(settings, nas, context);

    expect(result.ok).toBe(true);
    expect(result.outputs.VERIFY_STATUS).toBe('passed');
    expect(JSON.parse(result.outputs.VERIFY_REPORT)).toEqual([
      { component: 'Prometheus', check: 'ready', status: 'pass', detail: 'ready' },
      { component: 'Prometheus', check: 'metric up{job="shop"}', status: 'pass', detail: '1 series' },
    ]);
    const script = stateScript(nas);
    expect(script).toContain('http://127.0.0.1:9090/-/ready');
    expect(script).toContain(`http://127.0.0.1:9090/api/v1/query?query=${encodeURIComponent('up{job="shop"}')}`);
    for (const other of [':3000', ':9009', ':3100', ':3200', 'scanium-grafana']) expect(script).not.toContain(other);
    expect(platform.summary[0]).not.toMatch(/Grafana|Mimir|Loki|Tempo|containers/);
  });

  it('a required metric that is absent fails the step, in Prometheus as in Mimir', async () => {
    for (const store of ['prometheus', 'mimir'] as const) {
      const { nas, platform, context } = fakeWorld();
      const settings = settingsOf(verifyMonitoring, {
        checks: store,
        'required-metrics': 'up{job="shop"}\nshop_orders_total',
      });
      const answers = healthyStack(settings.checks);
      answers.responses.set(`${store}_metric_1`, {
        status: 200,
        body: '{"status":"success","data":{"resultType":"vector","result":[]}}',
        error: '',
      });
      nas.answerState({ answers });

      const result = await verifyMonitoring.run(settings, nas, context);

      const component = store === 'mimir' ? 'Mimir' : 'Prometheus';
      expect(result, store).toMatchObject({ ok: false, error: 'Monitoring verification failed' });
      expect((JSON.parse(result.outputs.VERIFY_REPORT) as Row[]).filter((r) => r.status !== 'pass')).toEqual([
        {
          component,
          check: 'metric shop_orders_total',
          status: 'fail',
          detail: 'no series for shop_orders_total',
        },
      ]);
      expect(platform.lines).toContain(`✗ ${component} metric shop_orders_total: no series for shop_orders_total`);
    }
  });

  it('with mimir and prometheus both named, the required metrics are queried against Mimir only', async () => {
    const { nas, context } = fakeWorld();
    const settings = settingsOf(verifyMonitoring, { checks: 'prometheus\nmimir', 'required-metrics': 'up' });
    nas.answerState({ answers: healthyStack(settings.checks) });

    const result = await verifyMonitoring.run(settings, nas, context);

    expect((JSON.parse(result.outputs.VERIFY_REPORT) as Row[]).map((r) => `${r.component} ${r.check}`)).toEqual([
      'Prometheus ready',
      'Mimir ready',
      'Mimir metric up',
    ]);
    const script = stateScript(nas);
    expect(script).toContain('http://127.0.0.1:9009/prometheus/api/v1/query?query=up');
    expect(script).not.toContain('http://127.0.0.1:9090/api/v1/query');
  });

  it('the default checks are the stack of before: Grafana, Mimir, Tempo, Loki and the containers', async () => {
    const { nas, context } = fakeWorld();
    const settings = settingsOf(verifyMonitoring);
    nas.answerState({ answers: healthyStack(settings.checks) });
    const result = await verifyMonitoring.run(settings, nas, context);
    const components = (JSON.parse(result.outputs.VERIFY_REPORT) as Row[]).map((r) => r.component);
    expect([...new Set(components)]).toEqual(['Grafana', 'Mimir', 'Tempo', 'Loki', 'containers']);
    expect(stateScript(nas)).not.toContain(':9090');
  });

  it('a check that is not one, or none at all, is refused naming the checks input', () => {
    expect(() => settingsOf(verifyMonitoring, { checks: 'grafana,prometheus,graphite' })).toThrow(
      /^Input 'checks': "graphite" is not a check: name some of grafana, prometheus, mimir, tempo, loki, containers/,
    );
    expect(() => settingsOf(verifyMonitoring, { checks: ' , ' })).toThrow(/^Input 'checks': names no check/);
    expect(() => settingsOf(deployMonitoring, { checks: 'Loki' })).toThrow(/^Input 'checks': item "Loki" is not/);
  });

  it('a NAS that cannot be read fails the step', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState(new Error("The NAS has no 'curl' on the PATH"));
    await expect(verifyMonitoring.run(settingsOf(verifyMonitoring), nas, context)).rejects.toThrow(/no 'curl'/);
  });
});
