import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
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
import type { BackupEntry } from '../../src/rules/backups.js';
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

  it('data safety 31: after a rename each service falls back to the image it ran, by id, and the history records it', async () => {
    const { nas, context } = fakeWorld();
    const api = 'sha256:aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111';
    const web = 'sha256:bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222';
    nas.answerState({
      answers: {
        ...state(B),
        runningImages: [`old-api:${B}`, `old-api:${B}`, `shop-web:${B}`],
        runningIds: [api, api, web],
      },
      history: [],
    });
    nas.answer<ServicesReleaseValues>(RELEASE, {
      code: BackendExit.RolledBack,
      values: {
        running: ['fallback-aaaaaaaaaaaa', 'fallback-aaaaaaaaaaaa', B],
        failed: ['api', 'worker', 'web'],
        failedLogs: new Map(),
        rolledBack: true,
        built: true,
        inventory: new Map(),
      },
    });
    const result = await deployBackend.run(settingsOf(deployBackend, INPUTS), nas, context);
    const script = nas.phases[0].script.text;
    // the renamed image by id under a tag that says what it is; web by its own tag, pinned to its id
    expect(script).toContain(`tag ${api} shop-api:fallback-aaaaaaaaaaaa`);
    expect(script).toContain(`tag ${web} shop-web:${B}`);
    expect(script).not.toContain('did not run before');
    expect(result.outputs.ROLLED_BACK).toBe('true');
    expect(nas.phases[0].begin).toMatchObject({
      services: { api: { ran: { image: `old-api:${B}`, id: api } }, web: { ran: { image: `shop-web:${B}`, id: web } } },
    });
  });
});

describe('deploy-backend with several services and backups', () => {
  const state = (running: string): ServicesDeployState => ({
    runningImages: [`shop-api:${running}`, `shop-api:${running}`, `shop-web:${running}`],
    commit: COMMIT,
    subject: 'Three services',
  });
  const BEFORE = `20260302T090000Z-${B}`;
  const SAFETY = `20260302T091000Z-${TAG}`;
  const failed = (v: Partial<ServicesReleaseValues>): ServicesReleaseValues => ({
    running: [B, B, B],
    failed: ['api'],
    failedLogs: new Map(),
    rolledBack: true,
    built: true,
    inventory: new Map(),
    backup: { id: BEFORE, path: `/b/${BEFORE}`, bytes: 10 },
    ...v,
  });
  const WITH_RESTORE = {
    ...INPUTS,
    'backup-databases': 'postgres:db',
    'backup-volumes': 'uploads',
    'auto-rollback': 'true',
    'auto-rollback-restore': 'true',
  };

  it('one backup before anything changes; a failed release restores the data, every application service stopped, before the services come back', async () => {
    const { nas, context, platform } = fakeWorld();
    nas.answerState({ answers: state(B), history: [deployOf(B)] });
    nas.answer<ServicesReleaseValues>(RELEASE, {
      code: BackendExit.RolledBack,
      values: failed({ safety: { id: SAFETY, path: '', bytes: 1 }, data: 'restored' }),
    });

    const result = await deployBackend.run(settingsOf(deployBackend, WITH_RESTORE), nas, context);

    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ ROLLED_BACK: 'true', BACKUP_ID: BEFORE, DEPLOYED_BACKEND_TAG: B });
    const said = `The data of before the release was restored from backup ${BEFORE} (auto-rollback-restore); the failed release's data is in backup ${SAFETY}`;
    expect(platform.warnings).toContain(said);
    expect(result.error).toContain(said);
    expect(nas.finishes).toEqual([
      {
        outcome: 'rolled-back',
        update: expect.objectContaining({ detail: 'health check failed: api, data of before restored' }),
      },
    ]);
    const text = nas.phases[0].script.text;
    // one backup, labelled with the release that ran, before the checkout moves
    expect(text.split('nr_backup || {').length - 1).toBe(1);
    expect(text.indexOf('nr_backup || {')).toBeLessThan(text.indexOf('git -C'));
    expect(text).toContain(`nr_bk_id="$nr_bk_time-"${B}`);
    // the restore comes before the services' fallback compose up, and their start after it
    const fallback = text.slice(text.indexOf('Putting back what ran before'));
    const restore = fallback.indexOf('nr_restore || { nr_fb_incomplete=1;');
    const up = fallback.indexOf('up --detach');
    expect(restore).toBeGreaterThan(-1);
    expect(restore).toBeLessThan(up);
    expect(fallback.indexOf('\nnr_rs_start_backend\n')).toBeGreaterThan(up);
    // every application service of the release is stopped for it (by name, or by its compose labels); never the database
    const apps = text.slice(text.indexOf('nr_rs_apps() {'));
    const body = apps.slice(0, apps.indexOf('\n}'));
    expect(body).toContain("printf '%s\\n' shop-api");
    expect(body).toContain('nr_bk_service "$nr_bk_proj" worker');
    expect(body).toContain('nr_bk_service "$nr_bk_proj" web');
    expect(body).not.toMatch(/\bdb\b/);
  });

  it('data safety 1: a restore on fallback that failed says the data was NOT restored, with its own exit', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(B), history: [deployOf(B)] });
    nas.answer<ServicesReleaseValues>(RELEASE, {
      code: BackendExit.RolledBackDataNotPutBack,
      values: failed({ safety: { id: SAFETY, path: '', bytes: 1 }, data: 'undone' }),
    });

    const result = await deployBackend.run(settingsOf(deployBackend, WITH_RESTORE), nas, context);

    expect(result.ok).toBe(false);
    expect(result.outputs.ROLLED_BACK).toBe('true');
    expect(result.error).toContain('Every service was put back to what ran before');
    expect(result.error).toContain(
      `The data of before the release was NOT restored: restoring backup ${BEFORE} failed`,
    );
    expect(nas.finishes[0]).toMatchObject({
      outcome: 'rolled-back',
      update: { detail: 'health check failed: api, data not restored (restore failed, undone)' },
    });
    // the phase says so with its own exit once the services are back
    const text = nas.phases[0].script.text;
    expect(text).toContain(`[ -z "$nr_fb_incomplete" ] || exit "$NR_EXIT_ROLLED_BACK_DATA_NOT_PUT_BACK"`);
  });

  it('a backup without auto-rollback-restore: no restore in the phase, the backups pruned after a success', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(B), history: [deployOf(B)] });
    nas.answer<ServicesReleaseValues>(RELEASE, {
      code: 0,
      values: failed({ running: [TAG, TAG, TAG], failed: [], rolledBack: false, backups: [] }),
    });

    const result = await deployBackend.run(
      settingsOf(deployBackend, { ...INPUTS, 'backup-databases': 'postgres:db' }),
      nas,
      context,
    );

    expect(result.ok).toBe(true);
    expect(result.outputs.BACKUP_ID).toBe(BEFORE);
    const text = nas.phases[0].script.text;
    expect(text).toContain('nr_backup || {');
    expect(text).not.toContain('nr_restore');
    expect(nas.phases[0].afterSuccess?.text).toContain('backups_b64');
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

  const TAKEN = `20260103T090000Z-${B}`;
  const SAFETY_ID = `20260302T091000Z-${C}`;
  const backupOf = (id: string): BackupEntry => ({
    id,
    verifies: true,
    bytes: 10,
    manifest: {
      id,
      tag: B,
      commit: '',
      reason: `before ${C}`,
      time: '',
      items: [
        { kind: 'postgres', source: 'db', file: 'postgres-db.dump', bytes: 5, sha256: 'b'.repeat(64) },
        { kind: 'volume', source: 'uploads', file: 'volume-uploads.tar.gz', bytes: 5, sha256: 'a'.repeat(64) },
      ],
    },
  });

  it('restore-backup with services: the data restored first (every application service stopped), then the services at their targets, the others started again', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B), deployOf(C)] });
    nas.answer(ASK, { code: 0, values: asked(C, C, C) });
    nas.answer('Listing backups', { code: 0, values: [backupOf(TAKEN)] });
    nas.answer(ROLLBACK, {
      code: 0,
      values: {
        running: [B],
        failed: [],
        failedLogs: new Map(),
        rolledBack: false,
        safety: { id: SAFETY_ID, path: '', bytes: 1 },
        data: 'restored',
      },
    });

    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { services: 'worker', 'restore-backup': 'auto' }),
      nas,
      context,
    );

    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({ RESTORED_BACKUP: TAKEN, SAFETY_BACKUP_ID: SAFETY_ID });
    expect(nas.ran).toEqual([ASK, 'Listing backups', ROLLBACK]);
    expect(nas.phases[0].begin).toMatchObject({ tag: B, backup: TAKEN });
    expect(nas.finishes).toEqual([{ outcome: 'success', update: { backup: TAKEN } }]);
    const text = nas.phases[0].script.text;
    // the restore ends the phase when it fails (the services start again); it comes before the worker's compose up
    const restore = text.indexOf('nr_restore || { nr_rs_rc=$?; nr_rs_start_backend;');
    const up = text.indexOf('up --detach', restore);
    expect(restore).toBeGreaterThan(-1);
    expect(restore).toBeLessThan(up);
    expect(text.slice(up, text.indexOf('\n', up))).toContain('--force-recreate worker');
    // the services left alone, stopped for the restore, start again after the up
    expect(text.indexOf('\nnr_rs_start_backend\n', up)).toBeGreaterThan(up);
    // every application service of the release stops for the restore, the database never
    const apps = text.slice(text.indexOf('nr_rs_apps() {'));
    const body = apps.slice(0, apps.indexOf('\n}'));
    expect(body).toContain("printf '%s\\n' shop-api");
    expect(body).toContain('nr_bk_service "$nr_bk_proj" worker');
    expect(body).toContain('nr_bk_service "$nr_bk_proj" web');
    expect(body).not.toMatch(/\bdb\b/);
  });

  it('data safety 2: restore-backup with services whose target fails: the restore undone before the services come back, and said', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B), deployOf(C)] });
    nas.answer(ASK, { code: 0, values: asked(C, C, C) });
    nas.answer('Listing backups', { code: 0, values: [backupOf(TAKEN)] });
    nas.answer(ROLLBACK, {
      code: BackendExit.RolledBack,
      values: {
        running: [C],
        failed: ['worker'],
        failedLogs: new Map(),
        rolledBack: true,
        safety: { id: SAFETY_ID, path: '', bytes: 1 },
        restoreBegan: true,
        data: 'undone',
      },
    });

    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { services: 'worker', 'restore-backup': TAKEN }),
      nas,
      context,
    );

    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ RESTORED_BACKUP: '', SAFETY_BACKUP_ID: SAFETY_ID });
    expect(result.error).toContain(
      `The restore of ${TAKEN} was undone: the data of before it is back from safety backup ${SAFETY_ID}.`,
    );
    expect(nas.finishes[0]).toMatchObject({
      outcome: 'rolled-back',
      update: { backup: TAKEN, detail: 'health check failed: worker, restore undone' },
    });
    const text = nas.phases[0].script.text;
    const fallback = text.slice(text.indexOf('Putting back what ran before'));
    expect(fallback.indexOf('nr_rs_undo ||')).toBeGreaterThan(-1);
    expect(fallback.indexOf('nr_rs_undo ||')).toBeLessThan(fallback.indexOf('up --detach'));
  });

  it('restore-backup auto with services that go back to different releases is refused before anything changes, saying why', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B), deployOf(C)] });
    nas.answer(ASK, { code: 0, values: asked(C, B, C) });
    await expect(
      rollbackBackend.run(
        settingsOf(rollbackBackend, { services: 'api,worker', 'restore-backup': 'auto' }),
        nas,
        context,
      ),
    ).rejects.toThrow(/auto restores the backup taken while one release ran, but the services go back to 2 releases/);
    expect(nas.phases).toEqual([]);
  });

  it("with an environment, a rollback of services to one release records its deployment for that release's commit", async () => {
    const { nas, context, deployment } = fakeWorld();
    const commitOfB = `b${'1'.repeat(39)}`;
    nas.answerState({
      answers: singleState,
      history: [deployOf(A), { ...deployOf(B), commit: commitOfB }, deployOf(C)],
    });
    nas.answer(ASK, { code: 0, values: asked(C, C, C) });
    nas.answer<ServicesRecreateValues>(ROLLBACK, {
      code: 0,
      values: { running: [B, B], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const settings = settingsOf(rollbackBackend, { services: 'api,worker', environment: 'production' });
    expect((await rollbackBackend.run(settings, nas, context)).ok).toBe(true);
    expect(deployment.started).toEqual([
      { environment: 'production', ref: commitOfB, description: `Rollback of api, worker to ${B}` },
    ]);
  });

  it('services that go back to different releases record no deployment, and say why', async () => {
    const { nas, context, deployment, platform } = fakeWorld();
    // api and worker last moved apart: the worker alone went to B, so their previous releases differ
    const workerOnly = released('backend', B, {
      action: 'rollback-backend',
      services: { worker: record(B, 'shop-api', 'WORKER_TAG') },
    });
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B), deployOf(C), workerOnly] });
    nas.answer(ASK, { code: 0, values: asked(C, B, C) });
    nas.answer<ServicesRecreateValues>(ROLLBACK, {
      code: 0,
      values: { running: [B, C], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const settings = settingsOf(rollbackBackend, { services: 'api,worker', environment: 'production' });
    expect((await rollbackBackend.run(settings, nas, context)).ok).toBe(true);
    expect(deployment.started).toEqual([]);
    // api goes to B (before C); the worker, on B after its own rollback, to C (the release it left)
    expect(platform.warnings.join('\n')).toContain(`go back to 2 different releases (${B}, ${C})`);
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

/** The services from a registry (issue 14): api and worker share one image, web has its own. */
const REG = '127.0.0.1:5000';
const REG_SERVICES = `api tag-variable=API_TAG
worker tag-variable=WORKER_TAG
web image=${REG}/shop-web build-context=web tag-variable=WEB_TAG health-url=http://127.0.0.1:8002/health`;
const REG_PASSWORD = 'reg-secret-Zq81';
const REG_INPUTS = {
  services: REG_SERVICES,
  image: `${REG}/shop-api`,
  container: 'shop-api',
  'build-context': 'api',
  'image-source': 'registry',
  'image-tag': COMMIT,
  'registry-username': 'ci-bot',
  'registry-password': REG_PASSWORD,
};
const count = (text: string, part: string): number => text.split(part).length - 1;
/** The images a script pulls: the `docker pull` commands (with the release's own DOCKER_CONFIG), not the log lines naming them. */
const pulls = (text: string): string[] => [...text.matchAll(/registry-auth docker pull (\S+)/g)].map((m) => m[1]);

describe('deploy-backend with several services from a registry or the runner', () => {
  const state = (running: string): ServicesDeployState => ({
    runningImages: [`${REG}/shop-api:${running}`, `${REG}/shop-api:${running}`, `${REG}/shop-web:${running}`],
    commit: COMMIT,
    subject: 'Three services',
  });
  const released = (running: string[]): ServicesReleaseValues => ({
    running,
    failed: [],
    failedLogs: new Map(),
    rolledBack: false,
    built: true,
    inventory: new Map(),
  });

  it('registry: each distinct image pulled once as image:image-tag and tagged with the release tag, then all recreated', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(B), history: [deployOf(B)] });
    nas.answer<ServicesReleaseValues>(RELEASE, { code: 0, values: released([TAG, TAG, TAG]) });
    const result = await deployBackend.run(settingsOf(deployBackend, REG_INPUTS), nas, context);
    expect(result.ok, result.ok ? '' : result.error).toBe(true);
    const script = nas.phases[0].script.text;
    // two images for three services: two pulls, each logged in before and out after, no build
    expect(pulls(script)).toEqual([`${REG}/shop-api:${COMMIT}`, `${REG}/shop-web:${COMMIT}`]);
    expect(count(script, 'docker login --username ci-bot --password-stdin 127.0.0.1:5000')).toBe(2);
    expect(count(script, 'docker logout 127.0.0.1:5000')).toBe(2);
    expect(script).toContain(`docker tag ${REG}/shop-api:${COMMIT} ${REG}/shop-api:${TAG}`);
    expect(script).toContain(`docker tag ${REG}/shop-web:${COMMIT} ${REG}/shop-web:${TAG}`);
    expect(script).not.toContain('docker build');
    expect(script).not.toContain(REG_PASSWORD);
    // every pull comes before the one compose up of the three
    const up = script.indexOf('docker compose --file backend/docker-compose.yml up');
    expect(script.lastIndexOf('docker pull')).toBeLessThan(up);
    expect(script).toContain(
      `env API_TAG=${TAG} WORKER_TAG=${TAG} WEB_TAG=${TAG} docker compose --file backend/docker-compose.yml up --detach --no-build --no-deps api worker web`,
    );
    // the history: the registry tag, for the release and for each service (a rollback pulls it again)
    expect(nas.phases[0].begin).toMatchObject({
      tag: TAG,
      pulled: COMMIT,
      services: {
        api: { tag: TAG, pulled: COMMIT },
        worker: { tag: TAG, pulled: COMMIT },
        web: { tag: TAG, pulled: COMMIT },
      },
    });
    expect(nas.finishes[0]).toMatchObject({ outcome: 'success', update: { services: { web: { pulled: COMMIT } } } });
    expect(JSON.parse(result.outputs.DEPLOYED_SERVICES)).toMatchObject({
      web: { tag: TAG, image: `${REG}/shop-web`, previous: B },
    });
  });

  it('registry: a missing tag of one image fails before any container changes, naming that image and its services', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(B), history: [deployOf(B)] });
    nas.answer<ServicesReleaseValues>(RELEASE, {
      code: BackendExit.PullFailed,
      values: { ...released([]), built: false, obtaining: 1 },
      tail: [`Pulling ${REG}/shop-web:${COMMIT} failed`],
    });
    const result = await deployBackend.run(settingsOf(deployBackend, REG_INPUTS), nas, context);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toMatch(
      new RegExp(
        `^deploy-backend failed before any container changed: pulling ${REG}/shop-web:${COMMIT} failed: the tag is missing from the registry.* \\(the image of web\\)`,
      ),
    );
    expect(nas.finishes).toEqual([{ outcome: 'failure', update: { detail: 'image pull failed' } }]);
  });

  it('runner: one runner step for each distinct image, none sent again when the NAS has it', async () => {
    const { nas, platform, context } = fakeWorld();
    const inventory = [{ tag: TAG, bytes: 1 }];
    nas.answerState({
      answers: {
        ...state(B),
        runningImages: [`shop-api:${B}`, `shop-api:${B}`, `shop-web:${B}`],
        layers: { chains: [] },
        inventory: new Map([
          ['shop-api', inventory],
          ['shop-web', inventory],
        ]),
      },
      history: [deployOf(B)],
    });
    nas.answer<ServicesReleaseValues>(RELEASE, { code: 0, values: released([TAG, TAG, TAG]) });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { ...INPUTS, 'image-source': 'runner' }),
      nas,
      context,
    );
    expect(result.ok, result.ok ? '' : result.error).toBe(true);
    expect(nas.ran).toEqual([RELEASE]);
    // the layers and each image's tags are asked in the round trip that takes the lock
    const asked = (nas.calls[0] as { questions: { script: (r: unknown) => { text: string } } }).questions.script(
      nas.render,
    ).text;
    expect(asked).toContain('nas_layers_b64');
    expect(asked).toContain('img_tags_b64_1');
    expect(platform.steps.filter((s) => s.text.startsWith('Building the image on the runner'))).toEqual([
      {
        n: 2,
        of: 10,
        text: `Building the image on the runner and sending it to the NAS (shop-api:${TAG}, for api, worker)`,
      },
      { n: 3, of: 10, text: `Building the image on the runner and sending it to the NAS (shop-web:${TAG}, for web)` },
    ]);
    const script = nas.phases[0].script.text;
    expect(count(script, 'is on the NAS (built on the runner)')).toBe(2);
    expect(script).not.toContain('docker build');
  });
});

describe('rollback-backend of services from a registry', () => {
  const regRecord = (tag: string, image: string, tagVariable: string, pulled?: string): ServiceRecord => ({
    tag,
    image: `${REG}/${image}`,
    container: tagVariable === 'API_TAG' ? 'shop-api' : '',
    tagVariable,
    healthUrl: '',
    ...(pulled ? { pulled } : {}),
  });
  const regDeploy = (tag: string, pulled: string): HistoryRecord =>
    released('backend', tag, {
      pulled,
      services: {
        api: regRecord(tag, 'shop-api', 'API_TAG', pulled),
        worker: regRecord(tag, 'shop-api', 'WORKER_TAG', pulled),
        web: regRecord(tag, 'shop-web', 'WEB_TAG', pulled),
      },
    });
  const history = [regDeploy(A, 'sha-aaa'), regDeploy(B, 'sha-bbb')];
  const singleState = { runningImage: '', inventory: [] };
  // the NAS lost web's image of A
  const asked: ServicesImagesState = {
    runningImages: [`${REG}/shop-api:${B}`, `${REG}/shop-api:${B}`, `${REG}/shop-web:${B}`],
    inventory: new Map([
      [`${REG}/shop-api`, [A, B].map((tag) => ({ tag, bytes: 1 }))],
      [`${REG}/shop-web`, [{ tag: B, bytes: 1 }]],
    ]),
  };
  const inputs = {
    image: `${REG}/shop-api`,
    'image-source': 'registry',
    'registry-username': 'ci-bot',
    'registry-password': REG_PASSWORD,
  };

  it('a target image gone from the NAS is pulled as the registry tag it was released from, before anything changes', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: singleState, history });
    nas.answer(ASK, { code: 0, values: asked });
    nas.answer<ServicesRecreateValues>(ROLLBACK, {
      code: 0,
      values: { running: [A, A], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...inputs, services: 'api,web' }),
      nas,
      context,
    );
    expect(result.ok, result.ok ? '' : result.error).toBe(true);
    const script = nas.phases[0].script.text;
    // only web's image is pulled (api's A is on the NAS), once, before the compose up
    expect(pulls(script)).toEqual([`${REG}/shop-web:sha-aaa`]);
    expect(script).toContain(`docker tag ${REG}/shop-web:sha-aaa ${REG}/shop-web:${A}`);
    expect(script.indexOf('docker pull')).toBeLessThan(script.indexOf('docker compose'));
    expect(script).not.toContain(REG_PASSWORD);
    expect(platform.warnings.join('\n')).toContain(
      `Image ${REG}/shop-web:${A} (service web) is not on the NAS: it is pulled from the registry (${REG}/shop-web:sha-aaa)`,
    );
    // the history keeps the registry tag of each service moved, for the next rollback
    expect(nas.phases[0].begin).toMatchObject({
      services: { api: { tag: A, pulled: 'sha-aaa' }, web: { tag: A, pulled: 'sha-aaa' } },
    });
  });

  it('a failed pull stops the rollback before anything changes', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history });
    nas.answer(ASK, { code: 0, values: asked });
    nas.answer<ServicesRecreateValues>(ROLLBACK, {
      code: BackendExit.PullFailed,
      values: { running: [], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...inputs, services: 'web', tag: A }),
      nas,
      context,
    );
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toMatch(
      new RegExp(
        `^The rollback of web to ${A} stopped before anything changed: pulling ${REG}/shop-web:sha-aaa failed`,
      ),
    );
    expect(nas.finishes).toEqual([{ outcome: 'failure', update: { detail: 'image pull failed' } }]);
  });

  it("a pulled image of another platform than the NAS's stops the rollback before anything changes, naming both", async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { ...singleState, platform: 'linux/arm64' }, history });
    nas.answer(ASK, { code: 0, values: asked });
    nas.answer(ROLLBACK, {
      code: BackendExit.PlatformMismatch,
      values: { running: [], failed: [], failedLogs: new Map(), rolledBack: false, imagePlatform: 'linux/amd64' },
    });
    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...inputs, services: 'web', tag: A }),
      nas,
      context,
    );
    const script = nas.phases[0].script.text;
    expect(script).toContain('but the NAS runs "linux/arm64"');
    expect(script.indexOf('but the NAS runs "linux/arm64"')).toBeLessThan(
      script.indexOf(`docker tag ${REG}/shop-web:sha-aaa ${REG}/shop-web:${A}`),
    );
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toMatch(
      new RegExp(
        `^The rollback of web to ${A} stopped before anything changed: an image of ${REG}/shop-web:sha-aaa is built for linux/amd64, but the NAS runs linux/arm64\\.`,
      ),
    );
    expect(nas.finishes).toEqual([{ outcome: 'failure', update: { detail: 'image of another platform' } }]);
  });

  it('credentials go only to the registry the inputs name: an image of another registry is refused', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history });
    nas.answer(ASK, { code: 0, values: asked });
    await expect(
      rollbackBackend.run(
        settingsOf(rollbackBackend, { ...inputs, image: 'ghcr.io/acme/shop-api', services: 'web', tag: A }),
        nas,
        context,
      ),
    ).rejects.toThrow(
      /would be pulled from 127\.0\.0\.1:5000, but registry-username logs in to ghcr\.io.*Nothing was changed/,
    );
    expect(nas.ran).toEqual([ASK]);
  });

  it('without image-source registry a missing image still fails, nothing pulled', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history });
    nas.answer(ASK, { code: 0, values: asked });
    await expect(
      rollbackBackend.run(settingsOf(rollbackBackend, { services: 'web', tag: A }), nas, context),
    ).rejects.toThrow(`Image ${REG}/shop-web:${A} (service web) does not exist on the NAS`);
    expect(nas.ran).toEqual([ASK]);
  });
});

describe('the environment file with several services', () => {
  const SECRET = 'postgres://shop:s3cret-pass@db/shop';
  const CONTENT = `DATABASE_URL=${SECRET}\nLOG_LEVEL=info\n`;
  const STATE = '/volume1/docker/shop/repo/.git/nas-release/env';
  const deployState: ServicesDeployState = {
    runningImages: [`shop-api:${B}`, `shop-api:${B}`, `shop-web:${B}`],
    commit: COMMIT,
    subject: 'Three services',
  };
  const releasedValues = (running: string, code = 0): ServicesReleaseValues => ({
    running: [running, running, running],
    failed: code ? ['web'] : [],
    failedLogs: new Map(),
    rolledBack: code !== 0,
    built: true,
    inventory: new Map(),
  });
  const asked = (api: string, worker: string, web: string): ServicesImagesState => ({
    runningImages: [`shop-api:${api}`, `shop-api:${worker}`, `shop-web:${web}`],
    inventory: new Map([
      ['shop-api', [A, B, C].map((tag) => ({ tag, bytes: 1 }))],
      ['shop-web', [A, B, C].map((tag) => ({ tag, bytes: 1 }))],
    ]),
  });
  const singleState = { runningImage: '', inventory: [] };
  const withEnv = (r: HistoryRecord, env: string): HistoryRecord => ({ ...r, env });

  it('a release writes one file for its services before their recreate, puts back the one of before on fallback, and records its sha256', async () => {
    const { nas, context, platform } = fakeWorld();
    nas.answerState({ answers: deployState, history: [deployOf(B)] });
    nas.answer<ServicesReleaseValues>(RELEASE, { code: BackendExit.RolledBack, values: releasedValues(B, 1) });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { ...INPUTS, 'env-file': 'backend/.env', 'env-file-content': CONTENT }),
      nas,
      context,
    );
    expect(result.ok).toBe(false);
    const script = nas.phases[0].script.text;
    const recreate = script.indexOf('up --detach --no-build --no-deps api worker web');
    // staged and put in place (a copy kept for the release) before compose reads it
    expect(script.indexOf(`${STATE}/.staged`)).toBeGreaterThan(-1);
    expect(script.indexOf(`${STATE}/.staged`)).toBeLessThan(recreate);
    expect(script.indexOf(`${STATE}/${TAG}.env`)).toBeLessThan(recreate);
    // the fallback puts back the file of the release the services ran (B, kept when it had no copy)
    const fallback = script.indexOf('Putting back what ran before');
    expect(script.indexOf(`${STATE}/${B}.env`, fallback)).toBeGreaterThan(fallback);
    expect(script.indexOf(`Environment file backend/.env of ${B} put back`, fallback)).toBeGreaterThan(fallback);
    // the history holds the sha256, never the content; the content is never on a line of the script or the log
    const sha = createHash('sha256').update(CONTENT).digest('hex');
    expect(nas.phases[0].begin).toMatchObject({ tag: TAG, env: sha });
    expect(nas.phases[0].success).toMatchObject({ tag: TAG, env: sha });
    expect(script).not.toContain(SECRET);
    expect(platform.log).not.toContain(SECRET);
  });

  it('services that ran different releases: the fallback puts back exactly the file there before, kept for this release', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { ...deployState, runningImages: [`shop-api:${A}`, `shop-api:${B}`, `shop-web:${B}`] },
      history: [deployOf(B)],
    });
    nas.answer<ServicesReleaseValues>(RELEASE, { code: 0, values: releasedValues(TAG) });
    await deployBackend.run(
      settingsOf(deployBackend, { ...INPUTS, 'env-file': 'backend/.env', 'env-file-content': CONTENT }),
      nas,
      context,
    );
    const script = nas.phases[0].script.text;
    expect(script).toContain(`${STATE}/before-${TAG}.env`);
    expect(script).not.toContain(`${STATE}/${A}.env`);
  });

  it('a rollback of the whole release puts back the target release file before the recreate; its undo the file of before', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B)] });
    nas.answer(ASK, { code: 0, values: asked(B, B, B) });
    nas.answer<ServicesRecreateValues>(ROLLBACK, {
      code: 0,
      values: { running: [A, A, A], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { 'env-file': 'backend/.env' }), nas, context);
    expect(result.ok).toBe(true);
    const script = nas.phases[0].script.text;
    const recreate = script.indexOf('up --detach --no-build --no-deps api worker web');
    const putBack = script.indexOf(`Environment file backend/.env of ${A} put back`);
    expect(putBack).toBeGreaterThan(-1);
    expect(putBack).toBeLessThan(recreate);
    const fallback = script.indexOf('Putting back what ran before');
    expect(script.indexOf(`Environment file backend/.env of ${B} put back`, fallback)).toBeGreaterThan(fallback);
    // nothing was written: no sha256 to record
    expect(nas.phases[0].begin).not.toHaveProperty('env');
  });

  it('env-file-content on a rollback of services is written for them and recorded', async () => {
    const { nas, context, platform } = fakeWorld();
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B)] });
    nas.answer(ASK, { code: 0, values: asked(B, B, B) });
    nas.answer<ServicesRecreateValues>(ROLLBACK, {
      code: 0,
      values: { running: [A], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { services: 'api', 'env-file': 'backend/.env', 'env-file-content': CONTENT }),
      nas,
      context,
    );
    expect(result.ok).toBe(true);
    const script = nas.phases[0].script.text;
    expect(script.indexOf(`${STATE}/.staged`)).toBeLessThan(script.indexOf('up --detach --no-build --no-deps api'));
    expect(nas.phases[0].success).toEqual({ env: createHash('sha256').update(CONTENT).digest('hex') });
    expect(script).not.toContain(SECRET);
    expect(platform.log).not.toContain(SECRET);
  });

  it('services sent to releases with different environment files: refused before anything changes, naming env-file-content', async () => {
    const { nas, context } = fakeWorld();
    const workerOnly = released('backend', B, {
      action: 'rollback-backend',
      services: { worker: record(B, 'shop-api', 'WORKER_TAG') },
    });
    nas.answerState({
      answers: singleState,
      history: [deployOf(A), withEnv(deployOf(B), 'b'.repeat(64)), withEnv(deployOf(C), 'c'.repeat(64)), workerOnly],
    });
    nas.answer(ASK, { code: 0, values: asked(C, B, C) });
    await expect(
      rollbackBackend.run(settingsOf(rollbackBackend, { services: 'api,worker' }), nas, context),
    ).rejects.toThrow(
      `Input 'env-file-content': the services go back to releases with different environment files (api to ${B}, worker to ${C}): no one backend/.env fits them all`,
    );
    expect(nas.ran).toEqual([ASK]);
  });

  it('services sent to releases that ran the same file get that file back', async () => {
    const { nas, context } = fakeWorld();
    const workerOnly = released('backend', B, {
      action: 'rollback-backend',
      services: { worker: record(B, 'shop-api', 'WORKER_TAG') },
    });
    const same = 'e'.repeat(64);
    nas.answerState({
      answers: singleState,
      history: [deployOf(A), withEnv(deployOf(B), same), withEnv(deployOf(C), same), workerOnly],
    });
    nas.answer(ASK, { code: 0, values: asked(C, B, C) });
    nas.answer<ServicesRecreateValues>(ROLLBACK, {
      code: 0,
      values: { running: [B, C], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { services: 'api,worker' }), nas, context);
    expect(result.ok).toBe(true);
    expect(nas.phases[0].script.text).toContain(`Environment file backend/.env of ${B} put back`);
  });

  it('services sent to releases that recorded no file: the file is left as it is, and the undo does not touch it', async () => {
    const { nas, context } = fakeWorld();
    const workerOnly = released('backend', B, {
      action: 'rollback-backend',
      services: { worker: record(B, 'shop-api', 'WORKER_TAG') },
    });
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B), deployOf(C), workerOnly] });
    nas.answer(ASK, { code: 0, values: asked(C, B, C) });
    nas.answer<ServicesRecreateValues>(ROLLBACK, {
      code: 0,
      values: { running: [B, C], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { services: 'api,worker' }), nas, context);
    expect(result.ok).toBe(true);
    const script = nas.phases[0].script.text;
    expect(script).toContain('backend/.env is left as it is (the services go to no one release)');
    expect(script).not.toContain(`${STATE}/`);
  });

  it('a file that cannot be written stops the rollback before any container changes', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: singleState, history: [deployOf(A), deployOf(B)] });
    nas.answer(ASK, { code: 0, values: asked(B, B, B) });
    nas.answer<ServicesRecreateValues>(ROLLBACK, {
      code: BackendExit.EnvFileFailed,
      values: { running: [], failed: [], failedLogs: new Map(), rolledBack: false },
    });
    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { 'env-file': 'backend/.env', 'env-file-content': CONTENT }),
      nas,
      context,
    );
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/stopped before any container changed: backend\/\.env could not be written/);
    expect(nas.finishes).toEqual([{ outcome: 'failure', update: { detail: 'environment file not written' } }]);
  });
});
