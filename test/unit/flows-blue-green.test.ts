import { createHash } from 'node:crypto';
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

  it("checks the commit's compose file first: a container name both colours would take is refused before anything changes", async () => {
    const compose = (name: string) =>
      `services:\n  api:\n    image: scanium-backend:\${BACKEND_TAG}\n    container_name: ${name}\n    network_mode: host\n    environment:\n      BACKEND_PORT: \${BACKEND_PORT}\n`;
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { ...state(colors('blue', running(T3))), compose: { read: 'text', text: compose('scanium-backend') } },
      history: [released('backend', T3)],
    });
    const result = await deployBackend.run(settingsOf(deployBackend, BLUE_GREEN), nas, context);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toContain(
      "deploy-backend failed before anything changed: The compose file does not fit the release: in backend/docker-compose.yml at c0ffee1, service api's container_name (scanium-backend) is the same for both colours, so the idle colour cannot start beside the live one: write the line `container_name: scanium-backend-${COLOR}`",
    );
    expect(nas.ran).toEqual([]);
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: TAG, commit: COMMIT, detail: 'compose file refused by the preflight' } },
    ]);
    const [asked] = nas.calls;
    expect(asked.kind === 'readState' && asked.questions.script(nas.render).text).toContain('compose_b64');

    // the same file with the colour in the name goes on to the release
    const fixed = fakeWorld();
    fixed.nas.answerState({
      answers: {
        ...state(colors('blue', running(T3))),
        compose: { read: 'text', text: compose('scanium-backend-${COLOR}') },
      },
      history: [released('backend', T3)],
    });
    fixed.nas.answer(RELEASE, { code: 0, values: switched({}) });
    expect((await deployBackend.run(settingsOf(deployBackend, BLUE_GREEN), fixed.nas, fixed.context)).ok).toBe(true);
    expect(fixed.platform.lines).toContain(
      '✓ backend/docker-compose.yml at c0ffee1: service api reads BACKEND_TAG and BACKEND_PORT',
    );
  });

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
      /if ! nr_nginx_switch_to \S+ "\$nr_px" 8081 10; then[^]*nr_value live_color green[^]*NR_EXIT_BLUE_GREEN_SWITCH_BACK_FAILED/,
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
});

describe('deploy-backend with strategy blue-green and an image source', () => {
  const state = (s: BlueGreenState, more: Partial<BlueGreenDeployState> = {}): BlueGreenDeployState => ({
    ...s,
    commit: COMMIT,
    subject: 'Fix the cart',
    platform: 'linux/amd64',
    ...more,
  });
  const REGISTRY = { ...BLUE_GREEN, 'image-source': 'registry', 'image-tag': 'sha-c0ffee1' };

  it('registry: the image is pulled, checked for the NAS platform and tagged before the checkout moves and the idle colour starts; the history records pulled and the digest', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, { code: 0, values: switched({}) });
    const result = await deployBackend.run(settingsOf(deployBackend, REGISTRY), nas, context);
    expect(result.ok).toBe(true);
    const phase = nas.phases[0];
    const text = phase.script.text;
    const at = (s: string): number => {
      expect(text).toContain(s);
      return text.indexOf(s);
    };
    expect(at(`docker pull ${IMAGE}:sha-c0ffee1`)).toBeLessThan(at('Updating repository'));
    expect(at('The image is built for $nr_img_pf, as the NAS runs')).toBeLessThan(at('Updating repository'));
    expect(at(`docker tag ${IMAGE}:sha-c0ffee1 ${IMAGE}:${TAG}`)).toBeLessThan(at('--project-name backend-green'));
    expect(text).not.toContain('docker build --tag');
    expect(phase.begin).toMatchObject({ tag: TAG, pulled: 'sha-c0ffee1' });
    expect(phase.success).toMatchObject({ tag: TAG, color: 'green', pulled: 'sha-c0ffee1' });
    expect(phase.successFields?.text).toContain('"digest"');
  });

  it('registry: a missing tag ends the release before any colour changed, naming the pull, recorded', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BackendExit.PullFailed,
      values: { ...switched({}), built: false },
      tail: ['manifest unknown'],
    });
    const result = await deployBackend.run(settingsOf(deployBackend, REGISTRY), nas, context);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(
      new RegExp(
        `^deploy-backend failed before any colour changed: pulling ${IMAGE}:sha-c0ffee1 failed: the tag is missing`,
      ),
    );
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: TAG, commit: COMMIT, previous: T3, detail: 'image pull failed' } },
    ]);
  });

  it('registry: an image of another platform is refused before any colour changed', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BackendExit.PlatformMismatch,
      values: { ...{ ...switched({}), built: false }, imagePlatform: 'linux/arm64' },
    });
    const result = await deployBackend.run(settingsOf(deployBackend, REGISTRY), nas, context);
    expect(result.error).toContain(
      `the image ${IMAGE}:sha-c0ffee1 is built for linux/arm64, but the NAS runs linux/amd64`,
    );
    expect(nas.finishes[0].update).toMatchObject({ detail: 'image of another platform' });
  });

  it('runner: the image is sent before the phase (not again when the NAS has it), one step more, the phase checks it arrived', async () => {
    const { nas, context, platform } = fakeWorld();
    nas.answerState({
      answers: state(colors('blue', running(T3)), { layers: { chains: [] }, inventory: [{ tag: TAG, bytes: 1 }] }),
      history: [released('backend', T3)],
    });
    nas.answer(RELEASE, { code: 0, values: switched({}) });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { ...BLUE_GREEN, 'image-source': 'runner' }),
      nas,
      context,
    );
    expect(result.ok).toBe(true);
    expect(platform.lines).toContain('[2/10] Building the image on the runner and sending it to the NAS...');
    expect(platform.lines.join('\n')).toContain(`Image ${IMAGE}:${TAG} is already on the NAS`);
    const text = nas.phases[0].script.text;
    expect(text).toContain(`Image ${IMAGE}:${TAG} is on the NAS (built on the runner)`);
    expect(text).not.toContain('docker build --tag');
    // the state asked the NAS's layers and the image's tags for the stream
    const asked = nas.calls[0];
    expect(asked.kind === 'readState' && asked.questions.script(nas.render).text).toContain('nas_layers_b64');
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
    const refusal = text.slice(text.indexOf("is not healthy'"));
    const stop = refusal.indexOf('--project-name backend-green');
    const call = refusal.indexOf('  nr_bg_restore\n');
    expect(stop).toBeGreaterThan(-1);
    expect(stop).toBeLessThan(call);
    expect(refusal.slice(stop, call)).toContain('if [ "$nr_warm" = true ]; then');
    const apps = text.slice(text.indexOf('nr_rs_apps() {'));
    expect(apps.slice(0, apps.indexOf('\n}'))).toContain('nr_bk_service backend-blue api');
  });
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

  it('registry: a target gone from the NAS is pulled again by the digest it was released with, before the switch', async () => {
    const { nas, context, platform } = fakeWorld();
    const digest = `sha256:${'ab'.repeat(32)}`;
    nas.answerState({
      answers: { ...colors('green', none, running(TAG)), inventory: inventory.filter((t) => t.tag !== T3) },
      history: [
        released('backend', T2),
        released('backend', T3, { pulled: 'sha-3333333', digest }),
        released('backend', TAG),
      ],
    });
    nas.answer(ROLLBACK, { code: 0, values: { running: T3, liveColor: 'blue', rolledBack: false, warm: false } });
    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...BLUE_GREEN, 'image-source': 'registry' }),
      nas,
      context,
    );
    expect(result.ok).toBe(true);
    expect(platform.log).toContain(
      `Image ${IMAGE}:${T3} is not on the NAS: it is pulled from the registry (${IMAGE}:sha-3333333) by the digest it was released with (${IMAGE}@${digest}) before anything changes`,
    );
    const text = nas.phases[0].script.text;
    expect(text.indexOf(`docker pull ${IMAGE}@${digest}`)).toBeGreaterThan(-1);
    expect(text.indexOf(`docker tag ${IMAGE}@${digest} ${IMAGE}:${T3}`)).toBeLessThan(
      text.indexOf('--project-name backend-blue'),
    );
  });

  it('registry: a failed pull stops the rollback before anything changed, recorded', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { ...colors('green', none, running(TAG)), inventory: inventory.filter((t) => t.tag !== T3) },
      history,
    });
    nas.answer(ROLLBACK, {
      code: BackendExit.PullFailed,
      values: { running: '', liveColor: '', rolledBack: false, warm: false },
    });
    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...BLUE_GREEN, 'image-source': 'registry' }),
      nas,
      context,
    );
    expect(result.ok).toBe(false);
    expect(result.error).toContain(
      `The rollback to ${IMAGE}:${T3} stopped before anything changed: pulling ${IMAGE}:${T3} failed (is it still in the registry?)`,
    );
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: T3, previous: TAG, detail: 'image pull failed', color: 'green' } },
    ]);
  });

  it('nas: a target gone from the NAS is refused before anything changes', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { ...colors('green', none, running(TAG)), inventory: inventory.filter((t) => t.tag !== T3) },
      history,
    });
    await expect(rollbackBackend.run(settingsOf(rollbackBackend, BLUE_GREEN), nas, context)).rejects.toThrow(
      `Image ${IMAGE}:${T3} does not exist on the NAS`,
    );
    expect(nas.ran).toEqual([]);
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
    const refusal = text.slice(text.indexOf("is not healthy'"));
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

describe('the environment file with strategy blue-green', () => {
  const SECRET = 'postgres://shop:s3cret-pass@db/shop';
  const CONTENT = `DATABASE_URL=${SECRET}\nLOG_LEVEL=info\n`;
  const STATE = '/volume1/docker/shop/repo/.git/nas-release/env';
  const count = (text: string, part: string): number => text.split(part).length - 1;
  const deployState = (s: BlueGreenState): BlueGreenDeployState => ({ ...s, commit: COMMIT, subject: 'Fix the cart' });
  const inventory: ImageTag[] = [TAG, T3, T2].map((tag) => ({ tag, bytes: 1 }));

  it('a release writes the file before the idle colour starts, puts back the live release file on every refusal, and records its sha256', async () => {
    const { nas, context, platform } = fakeWorld();
    nas.answerState({ answers: deployState(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, {
      code: BlueGreenExit.BlueGreenIdleUnhealthy,
      values: switched({ running: T3, liveColor: 'blue', rolledBack: true }),
    });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { ...BLUE_GREEN, 'env-file': 'backend/.env', 'env-file-content': CONTENT }),
      nas,
      context,
    );
    expect(result.ok).toBe(false);
    const script = nas.phases[0].script.text;
    const start = script.indexOf('--project-name backend-green');
    expect(script.indexOf(`${STATE}/.staged`)).toBeGreaterThan(-1);
    expect(script.indexOf(`${STATE}/.staged`)).toBeLessThan(start);
    expect(script.indexOf(`${STATE}/${TAG}.env`)).toBeLessThan(start);
    // each way the live colour serves on puts its file back (the one kept for T3)
    const refusals = count(script, 'nr_value rolled_back true');
    expect(refusals).toBeGreaterThan(3);
    expect(count(script, `Environment file backend/.env of ${T3} put back`)).toBe(refusals);
    const sha = createHash('sha256').update(CONTENT).digest('hex');
    expect(nas.phases[0].begin).toMatchObject({ tag: TAG, env: sha });
    expect(nas.phases[0].success).toMatchObject({ tag: TAG, color: 'green', env: sha });
    expect(script).not.toContain(SECRET);
    expect(platform.log).not.toContain(SECRET);
  });

  it("a metrics watch's breach switches back to the live colour and puts its release file back", async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: deployState(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, { code: 0, values: switched({}) });
    const watch = { watch: '10m', guards: 'errors: up < 1 for 1m', 'metrics-url': 'http://127.0.0.1:9090' };
    await deployBackend.run(
      settingsOf(deployBackend, { ...BLUE_GREEN, ...watch, 'env-file': 'backend/.env', 'env-file-content': CONTENT }),
      nas,
      context,
    );
    const script = nas.phases[0].script.text;
    const back = script.indexOf('Switching the proxy back to the blue colour');
    expect(back).toBeGreaterThan(-1);
    const putBack = script.indexOf(`Environment file backend/.env of ${T3} put back`, back);
    expect(putBack).toBeGreaterThan(back);
    expect(putBack).toBeLessThan(script.indexOf('The proxy sends requests to the blue colour again'));
  });

  it('a file that cannot be written: failed before any colour changed', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: deployState(colors('blue', running(T3))), history: [released('backend', T3)] });
    nas.answer(RELEASE, { code: BackendExit.EnvFileFailed, values: switched({ running: '', liveColor: '' }) });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { ...BLUE_GREEN, 'env-file': 'backend/.env', 'env-file-content': CONTENT }),
      nas,
      context,
    );
    expect(result.error).toMatch(/^deploy-backend failed before any colour changed/);
    expect(nas.finishes[0]).toMatchObject({
      outcome: 'failure',
      update: { detail: 'failed before the idle colour started' },
    });
  });

  it('a rollback to the warm colour puts back the file of the tag it switches to, before the switch', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { ...colors('green', running(T3), running(TAG)), inventory },
      history: [released('backend', T3), released('backend', TAG)],
    });
    nas.answer(ROLLBACK, { code: 0, values: { running: T3, liveColor: 'blue', rolledBack: false, warm: true } });
    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...BLUE_GREEN, 'env-file': 'backend/.env' }),
      nas,
      context,
    );
    expect(result.ok).toBe(true);
    const script = nas.phases[0].script.text;
    const putBack = script.indexOf(`Environment file backend/.env of ${T3} put back`);
    expect(putBack).toBeGreaterThan(-1);
    expect(putBack).toBeLessThan(script.indexOf('Switching the proxy'));
    expect(putBack).toBeLessThan(script.indexOf('--project-name backend-blue'));
    // a refusal brings back the file of the live release
    expect(count(script, `Environment file backend/.env of ${TAG} put back`)).toBe(
      count(script, 'nr_value rolled_back true'),
    );
    expect(nas.phases[0].begin).not.toHaveProperty('env');
  });

  it('env-file-content on a blue-green rollback is written for the target and recorded', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { ...colors('green', none, running(TAG)), inventory },
      history: [released('backend', T3), released('backend', TAG)],
    });
    nas.answer(ROLLBACK, { code: 0, values: { running: T3, liveColor: 'blue', rolledBack: false, warm: false } });
    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...BLUE_GREEN, 'env-file': 'backend/.env', 'env-file-content': CONTENT }),
      nas,
      context,
    );
    expect(result.ok).toBe(true);
    const script = nas.phases[0].script.text;
    expect(script.indexOf(`${STATE}/${T3}.env`)).toBeLessThan(script.indexOf('--project-name backend-blue'));
    // a colour still warm on the target started with its old file: a new content starts it again
    const unwarm = script.indexOf('[ -z "$nr_env_changed" ] || nr_warm=false');
    expect(unwarm).toBeGreaterThan(script.indexOf(`[ "$(cat ${STATE}/.staged)" = "$(cat ${STATE}/${T3}.env)" ]`));
    expect(unwarm).toBeLessThan(script.indexOf('(kept warm): switching only'));
    expect(nas.phases[0].success).toEqual({ color: 'blue', env: createHash('sha256').update(CONTENT).digest('hex') });
    expect(script).not.toContain(SECRET);
  });
});
