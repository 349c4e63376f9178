import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BlueGreenExit,
  switchBackFailedDetail,
  type BlueGreenDeployState,
  type BlueGreenState,
  type SwitchValues,
} from '../../src/programs/blue-green.js';
import { BackendExit } from '../../src/programs/backend.js';
import type { BackupEntry } from '../../src/rules/backups.js';
import { cleanupBackend, cleanupState } from '../../src/release/backend/cleanup.js';
import { deployBackend } from '../../src/release/backend/deploy.js';
import { rollbackBackend } from '../../src/release/backend/rollback.js';
import type { ImageTag } from '../../src/rules/images.js';
import { fakeWorld } from '../support/fake-nas.js';
import { released } from '../support/records.js';
import { settingsOf } from '../support/settings.js';

const IMAGE = 'scanium-backend';
const COMMIT = 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3';
const NOW = new Date('2026-03-02T09:00:00.000Z');
const TAG = '2026.03.02-c0ffee1';
const T2 = '2026.01.10-2222222';
const T3 = '2026.01.20-3333333';
const RELEASE = 'Releasing the backend (blue-green)';
const ROLLBACK = 'Rolling back the backend (blue-green)';
const BLUE_GREEN = { strategy: 'blue-green' };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});
afterEach(() => vi.useRealTimers());

const running = (tag: string) => ({ status: 'running', health: 'healthy', image: `${IMAGE}:${tag}` });
const none = { status: '', health: '', image: '' };
const colors = (live: BlueGreenState['live'], blue = none, green = none): BlueGreenState => ({
  live,
  colors: { blue, green },
});
const switched = (v: Partial<SwitchValues>): SwitchValues & { built: boolean } => ({
  running: TAG,
  liveColor: 'green',
  rolledBack: false,
  warm: false,
  built: true,
  ...v,
});

describe('deploy-backend with strategy blue-green', () => {
  const state = (s: BlueGreenState): BlueGreenDeployState => ({ ...s, commit: COMMIT, subject: 'Fix the cart' });

  it('starts the idle colour beside the live one and records the new live colour', async () => {
    const { nas, context, platform } = fakeWorld();
    nas.answerState({ answers: state(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, { code: 0, values: switched({}) });
    const result = await deployBackend.run(settingsOf(deployBackend, BLUE_GREEN), nas, context);
    expect(result).toEqual({
      ok: true,
      outputs: {
        DEPLOYED_BACKEND_TAG: TAG,
        PREVIOUS_BACKEND_TAG: T3,
        BACKEND_IMAGE: `${IMAGE}:${TAG}`,
        ROLLED_BACK: 'false',
        LIVE_COLOR: 'green',
      },
    });
    // one detached phase, which starts green (the idle colour) and records it as live on success
    expect(nas.ran).toEqual([RELEASE]);
    const phase = nas.phases[0];
    expect(phase.success).toMatchObject({ tag: TAG, previous: T3, color: 'green' });
    expect(phase.script.text).toContain('--project-name backend-green');
    expect(phase.script.text).toMatch(/BACKEND_PORT=8082/);
    expect(nas.finishes).toEqual([
      { outcome: 'success', update: { tag: TAG, commit: COMMIT, previous: T3, color: 'green' } },
    ]);
    expect(platform.steps.map((s) => `${s.n}/${s.of}`)).toEqual([
      '1/9',
      '2/9',
      '3/9',
      '4/9',
      '5/9',
      '6/9',
      '7/9',
      '8/9',
      '9/9',
    ]);
  });

  it('keep-images: the phase lists the tags after its success, and no program more asks them', async () => {
    const T1 = '2026.01.01-1111111';
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: state(colors('blue', running(T3))),
      history: [released('backend', T1), released('backend', T2), released('backend', T3)],
    });
    nas.answer(RELEASE, {
      code: 0,
      values: {
        ...switched({}),
        images: { inventory: [TAG, T3, T2, T1].map((tag) => ({ tag, bytes: 1, id: `id-${tag}` })), inUse: [TAG, T3] },
      },
    });
    nas.answer('Removing old images', { code: 0, values: { removed: [T2, T1], kept: [] } });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { ...BLUE_GREEN, 'keep-images': '1' }),
      nas,
      context,
    );
    expect(result.ok).toBe(true);
    expect(nas.ran).toEqual([RELEASE, 'Removing old images']);
    expect(nas.phases[0].afterSuccess?.text).toContain('images_in_use');
    // the new release and the previous one (live a moment ago, its colour still up) stay
    expect(nas.program('Removing old images')!.script.text).toContain(`docker image rm ${IMAGE}:${T2} ${IMAGE}:${T1}`);
  });

  it('the first blue-green release starts blue', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colors('')) });
    nas.answer(RELEASE, { code: 0, values: switched({ liveColor: 'blue' }) });
    const result = await deployBackend.run(settingsOf(deployBackend, BLUE_GREEN), nas, context);
    expect(result.outputs.LIVE_COLOR).toBe('blue');
    expect(nas.phases[0].script.text).toContain('--project-name backend-blue');
  });

  it('an idle colour that fails its health check: ROLLED_BACK, the live colour in the outputs and the history', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BlueGreenExit.BlueGreenIdleUnhealthy,
      values: switched({ running: T3, liveColor: 'blue', rolledBack: true }),
      tail: ['Container abc is unhealthy (after 30s)'],
    });
    const result = await deployBackend.run(settingsOf(deployBackend, BLUE_GREEN), nas, context);
    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ ROLLED_BACK: 'true', LIVE_COLOR: 'blue', DEPLOYED_BACKEND_TAG: T3 });
    expect(result.error).toMatch(/was not switched to \(health check failed\); the blue colour .* serves on/);
    expect(nas.finishes).toEqual([
      {
        outcome: 'rolled-back',
        update: { tag: TAG, commit: COMMIT, previous: T3, detail: 'health check failed', color: 'blue' },
      },
    ]);
  });

  it('nginx refusing the configuration fails the release with its message', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colors('green', none, running(T3))) });
    nas.answer(RELEASE, {
      code: BlueGreenExit.BlueGreenProxyRefused,
      values: switched({ running: T3, liveColor: 'green', rolledBack: true }),
      tail: ['nginx: [emerg] unknown directive "proxy_passs"'],
    });
    const result = await deployBackend.run(settingsOf(deployBackend, BLUE_GREEN), nas, context);
    expect(result.error).toContain('proxy configuration refused');
    expect(result.error).toContain('unknown directive "proxy_passs"');
    expect(result.outputs.LIVE_COLOR).toBe('green');
  });

  it('nginx not taking the reload in time fails the release, the live colour kept', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colors('green', none, running(T3))) });
    nas.answer(RELEASE, {
      code: BlueGreenExit.BlueGreenProxyReloadPending,
      values: switched({ running: T3, liveColor: 'green', rolledBack: true }),
      tail: [
        'nginx: the old worker 7 still accepts 10s after the reload: the master did not take the new configuration',
      ],
    });
    const result = await deployBackend.run(settingsOf(deployBackend, BLUE_GREEN), nas, context);
    expect(result.error).toContain('the proxy did not take the new configuration in time');
    expect(result.outputs).toMatchObject({ ROLLED_BACK: 'true', LIVE_COLOR: 'green', DEPLOYED_BACKEND_TAG: T3 });
  });

  it('data safety 5: the proxy check and the switch back both fail: the colour the proxy routes to serves, recorded as live, an incident', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BlueGreenExit.BlueGreenSwitchBackFailed,
      values: switched({ running: TAG, liveColor: 'green', rolledBack: false }),
      tail: ['INCIDENT: switching back to the blue colour failed too'],
    });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { ...BLUE_GREEN, 'health-url': 'http://127.0.0.1:8080/health' }),
      nas,
      context,
    );
    expect(result.ok).toBe(false);
    // the new release serves through the proxy: the outputs say so, not the colour it left
    expect(result.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: TAG, LIVE_COLOR: 'green', ROLLED_BACK: 'false' });
    expect(result.error).toMatch(/^INCIDENT: .*switching back to the blue colour failed/);
    expect(result.error).toContain(`The proxy still sends requests to the green colour (${IMAGE}:${TAG})`);
    expect(result.error).toMatch(/Check the proxy \(service proxy, .*\) and what health-url answers through it/);
    expect(nas.finishes).toEqual([
      {
        outcome: 'failure',
        update: { tag: TAG, commit: COMMIT, previous: T3, detail: switchBackFailedDetail('green'), color: 'green' },
      },
    ]);
    // the phase files the incident on the NAS itself, with the colour that serves, and exits with its own code
    const phase = nas.phases[0];
    expect(phase.endings).toEqual([
      {
        code: BlueGreenExit.BlueGreenSwitchBackFailed,
        outcome: 'failure',
        update: { tag: TAG, commit: COMMIT, previous: T3, detail: switchBackFailedDetail('green'), color: 'green' },
      },
    ]);
    expect(phase.script.text).toMatch(
      /if ! nr_switch_to 8081; then[^]*nr_value live_color green[^]*NR_EXIT_BLUE_GREEN_SWITCH_BACK_FAILED/,
    );
  });

  it('data safety 14: a post-deploy failure after the switch files the colour that serves, not the old one', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BackendExit.PostDeployFailed,
      values: switched({ running: TAG, liveColor: 'green' }),
      tail: ['post-deploy failed (exit 3)'],
    });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { ...BLUE_GREEN, 'post-deploy': 'exit 3' }),
      nas,
      context,
    );
    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: TAG, LIVE_COLOR: 'green' });
    expect(nas.finishes).toEqual([
      {
        outcome: 'failure',
        update: { tag: TAG, commit: COMMIT, previous: T3, detail: 'ended with exit code 32', color: 'green' },
      },
    ]);
  });

  const BEFORE = `20260302T090000Z-${T3}`;
  const WITH_BACKUP = { ...BLUE_GREEN, 'backup-databases': 'postgres:db', 'backup-volumes': 'data' };

  it('a backup before anything changes: taken before the checkout and the idle colour, of the shared project, pruned after a success', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: 0,
      values: { ...switched({}), backup: { id: BEFORE, path: `/b/${BEFORE}`, bytes: 9 }, backups: [] },
    });
    const result = await deployBackend.run(settingsOf(deployBackend, WITH_BACKUP), nas, context);
    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({ BACKUP_ID: BEFORE, BACKUP_PATH: `/b/${BEFORE}`, BACKUP_BYTES: '9' });
    const text = nas.phases[0].script.text;
    const backup = text.indexOf('nr_backup || {');
    expect(backup).toBeGreaterThan(-1);
    expect(backup).toBeLessThan(text.indexOf('git -C'));
    expect(backup).toBeLessThan(text.indexOf('--project-name backend-green'));
    // the database runs under the compose file's own project, beside the colours
    expect(text).toContain('nr_bk_proj=backend\n');
    expect(text).toContain(`nr_bk_id="$nr_bk_time-"${T3}`);
    // without auto-rollback-restore, a refused release never restores
    expect(text).not.toContain('nr_restore');
    expect(nas.phases[0].afterSuccess?.text).toContain('backups_b64');
  });

  it('auto-rollback-restore: a refused release puts the data of before back (the idle colour ran on it), the live colour stopped for it and started again', async () => {
    const { nas, context, platform } = fakeWorld();
    nas.answerState({ answers: state(colors('blue', running(T3))), history: [released('backend', T3)] });
    const SAFETY = `20260302T091000Z-${TAG}`;
    nas.answer(RELEASE, {
      code: BlueGreenExit.BlueGreenIdleUnhealthy,
      values: {
        ...switched({ running: T3, liveColor: 'blue', rolledBack: true }),
        backup: { id: BEFORE, path: '', bytes: 9 },
        safety: { id: SAFETY, path: '', bytes: 1 },
        data: 'restored',
      },
    });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { ...WITH_BACKUP, 'auto-rollback-restore': 'true' }),
      nas,
      context,
    );
    expect(result.ok).toBe(false);
    const said = `The data of before the release was restored from backup ${BEFORE} (auto-rollback-restore); the failed release's data is in backup ${SAFETY}`;
    expect(platform.warnings).toContain(said);
    expect(result.error).toContain(said);
    expect(result.outputs).toMatchObject({ ROLLED_BACK: 'true', LIVE_COLOR: 'blue', BACKUP_ID: BEFORE });
    expect(nas.finishes[0]).toMatchObject({
      outcome: 'rolled-back',
      update: { detail: 'health check failed, data of before restored', color: 'blue' },
    });
    const text = nas.phases[0].script.text;
    // defined once, before the switch: the restore, then the live colour started again
    expect(text.split('nr_bg_restore() {').length - 1).toBe(1);
    const define = text.slice(text.indexOf('nr_bg_restore() {'));
    const restore = define.indexOf('nr_restore || { nr_fb_incomplete=1;');
    expect(restore).toBeGreaterThan(-1);
    expect(restore).toBeLessThan(define.indexOf('\nnr_rs_start_backend\n}'));
    expect(text.indexOf('nr_bg_restore() {')).toBeLessThan(text.indexOf('--project-name backend-green'));
    // each refusal: the idle colour stops first, then the restore (unless a warm colour ran nothing new)
    const refusal = text.slice(text.indexOf('is not healthy: the proxy was not touched'));
    const stop = refusal.indexOf('--project-name backend-green');
    const call = refusal.indexOf('  nr_bg_restore\n');
    expect(stop).toBeGreaterThan(-1);
    expect(stop).toBeLessThan(call);
    expect(refusal.slice(stop, call)).toContain('if [ "$nr_warm" = true ]; then');
    const apps = text.slice(text.indexOf('nr_rs_apps() {'));
    expect(apps.slice(0, apps.indexOf('\n}'))).toContain('nr_bk_service backend-blue api');
  });

  it.each([[{ 'env-file': 'backend/.env', 'env-file-content': 'A=1' }, 'env-file-content']])(
    'refuses %o before connecting, naming %s',
    (inputs, name) => {
      expect(() => settingsOf(deployBackend, { ...BLUE_GREEN, ...inputs })).toThrow(name);
    },
  );
});

describe('rollback-backend with strategy blue-green', () => {
  const inventory: ImageTag[] = [
    { tag: TAG, bytes: 1 },
    { tag: T3, bytes: 1 },
    { tag: T2, bytes: 1 },
  ];
  const history = [released('backend', T2), released('backend', T3), released('backend', TAG)];

  it('the previous release still warm on the idle colour: one phase, a switch, the other colour live', async () => {
    const { nas, context, platform } = fakeWorld();
    nas.answerState({ answers: { ...colors('green', running(T3), running(TAG)), inventory }, history });
    nas.answer(ROLLBACK, {
      code: 0,
      values: { running: T3, liveColor: 'blue', rolledBack: false, warm: true, switchMs: 240 },
    });
    const result = await rollbackBackend.run(settingsOf(rollbackBackend, BLUE_GREEN), nas, context);
    expect(result).toEqual({
      ok: true,
      outputs: {
        DEPLOYED_BACKEND_TAG: T3,
        PREVIOUS_BACKEND_TAG: TAG,
        BACKEND_IMAGE: `${IMAGE}:${T3}`,
        LIVE_COLOR: 'blue',
      },
    });
    expect(platform.log).toContain('still warm on the blue colour: the rollback is a switch');
    expect(nas.phases[0].success).toEqual({ color: 'blue' });
    expect(nas.phases[0].begin).toMatchObject({ tag: T3, previous: TAG, detail: 'previous-release' });
  });

  it('with an environment, the rollback records its deployment for the commit the history knows', async () => {
    const { nas, context, deployment } = fakeWorld();
    const commitOfT3 = `3${'0'.repeat(39)}`;
    nas.answerState({
      answers: { ...colors('green', running(T3), running(TAG)), inventory },
      history: [released('backend', T2), released('backend', T3, { commit: commitOfT3 }), released('backend', TAG)],
    });
    nas.answer(ROLLBACK, { code: 0, values: { running: T3, liveColor: 'blue', rolledBack: false, warm: true } });
    const settings = settingsOf(rollbackBackend, { ...BLUE_GREEN, environment: 'production' });
    expect((await rollbackBackend.run(settings, nas, context)).ok).toBe(true);
    expect(deployment.started).toEqual([
      { environment: 'production', ref: commitOfT3, description: `Rollback of the backend from ${TAG} to ${T3}` },
    ]);
  });

  it('the live release is the target: nothing to do', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { ...colors('green', none, running(T3)), inventory }, history });
    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { ...BLUE_GREEN, tag: T3 }), nas, context);
    expect(result.ok).toBe(true);
    expect(nas.ran).toEqual([]);
    expect(nas.finishes[0].outcome).toBe('noop');
  });

  it('data safety 5: a rollback whose switch back fails too records the colour the proxy routes to', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { ...colors('green', none, running(TAG)), inventory }, history });
    nas.answer(ROLLBACK, {
      code: BlueGreenExit.BlueGreenSwitchBackFailed,
      values: { running: T3, liveColor: 'blue', rolledBack: false, warm: false },
    });
    const result = await rollbackBackend.run(settingsOf(rollbackBackend, BLUE_GREEN), nas, context);
    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: T3, LIVE_COLOR: 'blue' });
    expect(result.error).toContain(`The proxy still sends requests to the blue colour (${IMAGE}:${T3})`);
    expect(nas.finishes).toEqual([
      {
        outcome: 'failure',
        update: { tag: T3, previous: TAG, detail: switchBackFailedDetail('blue'), color: 'blue' },
      },
    ]);
    expect(nas.phases[0].endings?.[0]).toMatchObject({
      code: BlueGreenExit.BlueGreenSwitchBackFailed,
      update: { color: 'blue' },
    });
  });

  const BEFORE_TAG = `20260120T090000Z-${T3}`;
  const SAFETY = `20260302T091000Z-${TAG}`;
  const backupOf = (id: string): BackupEntry => ({
    id,
    verifies: true,
    bytes: 10,
    manifest: {
      id,
      tag: T3,
      commit: '',
      reason: `before ${TAG}`,
      time: '',
      items: [{ kind: 'postgres', source: 'db', file: 'postgres-db.dump', bytes: 5, sha256: 'b'.repeat(64) }],
    },
  });

  it('restore-backup: the target colour starts on the restored data, both colours stopped for the restore, the shared database kept', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { ...colors('green', none, running(TAG)), inventory }, history });
    nas.answer('Listing backups', { code: 0, values: [backupOf(BEFORE_TAG)] });
    nas.answer(ROLLBACK, {
      code: 0,
      values: {
        running: T3,
        liveColor: 'blue',
        rolledBack: false,
        warm: false,
        safety: { id: SAFETY, path: '', bytes: 1 },
        data: 'restored',
      },
    });

    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...BLUE_GREEN, 'restore-backup': 'auto' }),
      nas,
      context,
    );

    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({
      DEPLOYED_BACKEND_TAG: T3,
      LIVE_COLOR: 'blue',
      RESTORED_BACKUP: BEFORE_TAG,
      SAFETY_BACKUP_ID: SAFETY,
    });
    expect(nas.phases[0].begin).toMatchObject({ tag: T3, backup: BEFORE_TAG });
    expect(nas.finishes).toEqual([{ outcome: 'success', update: { color: 'blue', backup: BEFORE_TAG } }]);
    const text = nas.phases[0].script.text;
    // the restore ends the phase when it fails (the colours start again), and comes before the target colour starts
    const restore = text.indexOf('nr_restore || { nr_rs_rc=$?; nr_rs_start_backend;');
    expect(restore).toBeGreaterThan(-1);
    expect(restore).toBeLessThan(text.indexOf('--project-name backend-blue'));
    // both colours' application containers stop for it, found by compose labels; the database is restored in place
    const apps = text.slice(text.indexOf('nr_rs_apps() {'));
    const body = apps.slice(0, apps.indexOf('\n}'));
    expect(body).toContain('nr_bk_service backend-blue api');
    expect(body).toContain('nr_bk_service backend-green api');
    expect(body).not.toMatch(/\bdb\b/);
    expect(text).toContain('nr_bk_proj=backend\n');
  });

  it('data safety 2: a blue-green rollback with restore whose target is refused puts the data of before back and the live colour serves on it', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { ...colors('green', none, running(TAG)), inventory }, history });
    nas.answer('Listing backups', { code: 0, values: [backupOf(BEFORE_TAG)] });
    nas.answer(ROLLBACK, {
      code: BlueGreenExit.BlueGreenIdleUnhealthy,
      values: {
        running: TAG,
        liveColor: 'green',
        rolledBack: true,
        warm: false,
        safety: { id: SAFETY, path: '', bytes: 1 },
        restoreBegan: true,
        data: 'undone',
      },
    });

    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...BLUE_GREEN, 'restore-backup': 'auto' }),
      nas,
      context,
    );

    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ LIVE_COLOR: 'green', RESTORED_BACKUP: '', SAFETY_BACKUP_ID: SAFETY });
    expect(result.error).toContain(
      `The restore of ${BEFORE_TAG} was undone: the data of before it is back from safety backup ${SAFETY}.`,
    );
    expect(nas.finishes).toEqual([
      {
        outcome: 'rolled-back',
        update: {
          tag: T3,
          previous: TAG,
          backup: BEFORE_TAG,
          detail: 'health check failed, restore undone',
          color: 'green',
        },
      },
    ]);
    // the refusal stops the target colour, puts the data back, then starts the live colour again
    const text = nas.phases[0].script.text;
    const refusal = text.slice(text.indexOf('is not healthy: the proxy was not touched'));
    const undo = refusal.indexOf('nr_rs_undo ||');
    expect(refusal.indexOf('--project-name backend-blue')).toBeLessThan(undo);
    expect(undo).toBeLessThan(refusal.indexOf('\nnr_rs_start_backend\n'));
  });

  it('a restore that failed part way in a blue-green rollback: the live colour runs again, the message says where the data is', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { ...colors('green', none, running(TAG)), inventory }, history });
    nas.answer('Listing backups', { code: 0, values: [backupOf(BEFORE_TAG)] });
    nas.answer(ROLLBACK, {
      code: BackendExit.RestoreFailed,
      values: {
        running: '',
        liveColor: '',
        rolledBack: false,
        warm: false,
        safety: { id: SAFETY, path: '', bytes: 1 },
        restoreBegan: true,
        restoreUndone: true,
        data: 'undone',
      },
      tail: ['Restoring postgres:db failed'],
    });

    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...BLUE_GREEN, 'restore-backup': 'auto' }),
      nas,
      context,
    );

    expect(result.ok).toBe(false);
    expect(result.error).toContain(
      `Restoring ${BEFORE_TAG} failed part way; the data of before it was put back from safety backup ${SAFETY} and the green colour runs again.`,
    );
    expect(nas.finishes).toEqual([
      {
        outcome: 'failure',
        update: { tag: T3, previous: TAG, backup: BEFORE_TAG, detail: 'restore failed, undone', color: 'green' },
      },
    ]);
  });
});

describe('cleanup-backend beside blue-green', () => {
  it('never removes the image of a warm colour (nor of the live one), whatever keep says', async () => {
    const T1 = '2026.01.01-1111111';
    const { nas, context } = fakeWorld();
    // blue-green: the `container` input runs nothing; green is live on TAG, blue warm on T2 (not the rollback target)
    nas.answerState({
      answers: {
        runningImage: '',
        inventory: [TAG, T3, T2, T1].map((tag) => ({ tag, bytes: 1, id: `id-${tag}` })),
        backups: [],
        inUse: [TAG, T2],
      },
      history: [released('backend', T1), released('backend', T2), released('backend', T3), released('backend', TAG)],
    });
    nas.answer('Removing old images', { code: 0, values: { removed: [T3, T1], kept: [] } });
    const result = await cleanupBackend.run(settingsOf(cleanupBackend, { keep: '1' }), nas, context);
    expect(JSON.parse(result.outputs.KEPT_TAGS)).toEqual([TAG, T2]);
    expect(nas.program('Removing old images')!.script.text).toContain(`docker image rm ${IMAGE}:${T3} ${IMAGE}:${T1}`);
  });

  it('data safety 12: the live colour found through compose labels: its tag and the rollback target stay', async () => {
    const T1 = '2026.01.01-1111111';
    const { nas, context } = fakeWorld();
    const settings = settingsOf(cleanupBackend, { keep: '1' });
    // what the NAS answers: `container` names no colour; green is live on TAG (its compose project's container)
    const questions = cleanupState(settings);
    const text = questions.script(nas.render).text;
    expect(text).toContain('nr_bg_state_of backend-blue api');
    expect(text).toContain('nr_bg_state_of backend-green api');
    const read = questions.decode(
      new Map([
        ['running_image', ''],
        ['bg_live', 'green'],
        ['bg_green', `4f2a1c running healthy ${IMAGE}:${TAG}`],
        ['bg_blue', ''],
      ]),
    );
    expect(read.runningImage).toBe(`${IMAGE}:${TAG}`);
    nas.answerState({
      answers: {
        ...read,
        inventory: [TAG, T3, T2, T1].map((tag) => ({ tag, bytes: 1, id: `id-${tag}` })),
        inUse: [TAG],
      },
      history: [released('backend', T1), released('backend', T2), released('backend', T3), released('backend', TAG)],
    });
    nas.answer('Removing old images', { code: 0, values: { removed: [T2, T1], kept: [] } });
    const result = await cleanupBackend.run(settings, nas, context);
    // T3 is where an empty-tag rollback from TAG goes: it stays with the live tag
    expect(JSON.parse(result.outputs.KEPT_TAGS)).toEqual([TAG, T3]);
    expect(nas.program('Removing old images')!.script.text).toContain(`docker image rm ${IMAGE}:${T2} ${IMAGE}:${T1}`);
  });
});
