import { describe, expect, it } from 'vitest';
import { BackendExit, type ImagesState, type ReleaseValues, type RollbackValues } from '../../src/programs/backend.js';
import { envSha256 } from '../../src/programs/env-file.js';
import { backupBackend } from '../../src/release/backend/backup.js';
import { cleanupBackend } from '../../src/release/backend/cleanup.js';
import { deployBackend } from '../../src/release/backend/deploy.js';
import { rollbackBackend } from '../../src/release/backend/rollback.js';
import type { BackupEntry } from '../../src/rules/backups.js';
import { datedTag } from '../../src/rules/tags.js';
import { fakeWorld } from '../support/fake-nas.js';
import { released } from '../support/records.js';
import { settingsOf } from '../support/settings.js';

const IMAGE = 'scanium-backend';
const T1 = '2026.01.01-1111111';
const T2 = '2026.01.10-2222222';
const T3 = '2026.01.20-3333333';
const inventory = [T1, T2, T3].map((tag) => ({ tag, bytes: 1 }));
const imagesState = (running: string): ImagesState => ({ runningImage: `${IMAGE}:${running}`, inventory });
const history = [released('backend', T1), released('backend', T2), released('backend', T3)];

const entry = (id: string, reason: string, verifies = true): BackupEntry => ({
  id,
  verifies,
  bytes: 1000,
  manifest: {
    id,
    tag: id.slice(17),
    commit: '',
    reason,
    time: '',
    items: [
      { kind: 'volume', source: 'uploads', file: 'volume-uploads.tar.gz', bytes: 500, sha256: 'a'.repeat(64) },
      { kind: 'postgres', source: 'db', file: 'postgres-db.dump', bytes: 500, sha256: 'b'.repeat(64) },
    ],
  },
});
/** Taken while T2 ran, just before T3 was deployed: what `auto` restores when rolling back to T2. */
const BEFORE_T3 = `20260120T090000Z-${T2}`;
const BACKUPS = [entry(`20260110T090000Z-${T1}`, `before ${T2}`), entry(BEFORE_T3, `before ${T3}`)];

describe('rollback-backend restore-backup', () => {
  it('auto restores the backup taken just before the release being rolled back, in the rollback phase', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer('Listing backups', { code: 0, values: BACKUPS });
    const safety = { id: `20260121T000000Z-${T3}`, path: '/x', bytes: 9 };
    nas.answer<RollbackValues>('Restoring the data and rolling back the backend', {
      code: 0,
      values: { previous: T3, running: T2, rolledBack: false, safety },
    });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { 'restore-backup': 'auto' }), nas, context);

    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({
      DEPLOYED_BACKEND_TAG: T2,
      RESTORED_BACKUP: BEFORE_T3,
      SAFETY_BACKUP_ID: safety.id,
    });
    expect(nas.phases[0].begin).toEqual({
      tag: T2,
      image: IMAGE,
      previous: T3,
      detail: 'previous-release',
      backup: BEFORE_T3,
    });
    expect(nas.phases[0].script.text).toContain(`/volume1/docker/shop/backups/${BEFORE_T3}`);
    expect(nas.finishes).toEqual([{ outcome: 'success', update: { backup: BEFORE_T3 } }]);
  });

  it('a backup id that does not exist is refused before anything changes, naming it', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer('Listing backups', { code: 0, values: BACKUPS });
    const missing = `20250101T000000Z-${T1}`;

    const run = rollbackBackend.run(settingsOf(rollbackBackend, { 'restore-backup': missing }), nas, context);

    await expect(run).rejects.toThrow(`restore-backup: backup ${missing} does not exist`);
    expect(nas.phases).toEqual([]);
    expect(nas.finishes).toEqual([]);
  });

  it('a backup with a file missing is refused before anything changes', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer('Listing backups', { code: 0, values: [entry(BEFORE_T3, `before ${T3}`, false)] });

    const run = rollbackBackend.run(settingsOf(rollbackBackend, { 'restore-backup': 'auto' }), nas, context);

    await expect(run).rejects.toThrow(/backup .* is incomplete or corrupt.*Nothing was changed/s);
    expect(nas.phases).toEqual([]);
  });

  it('data safety 13: a backup whose manifest.json holds shell in an item is refused before anything changes, naming why', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    const crafted = entry(BEFORE_T3, `before ${T3}`);
    crafted.manifest!.items[1] = { ...crafted.manifest!.items[1], source: "db'; touch /tmp/x; '" };
    nas.answer('Listing backups', { code: 0, values: [crafted] });

    const run = rollbackBackend.run(settingsOf(rollbackBackend, { 'restore-backup': 'auto' }), nas, context);

    await expect(run).rejects.toThrow(
      `restore-backup: backup ${BEFORE_T3} has a manifest.json that cannot be restored (item "db'; touch /tmp/x; '": its source is not a service name); it is not restored. Nothing was changed.`,
    );
    expect(nas.phases).toEqual([]);
    expect(nas.finishes).toEqual([]);
  });

  it('a corrupt backup found by the phase itself: failure recorded with the id, nothing changed', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer('Listing backups', { code: 0, values: BACKUPS });
    nas.answer<RollbackValues>('Restoring the data and rolling back the backend', {
      code: BackendExit.BackupCorrupt,
      values: { previous: T3, running: '', rolledBack: false },
      tail: ['Backup is missing or corrupt'],
    });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { 'restore-backup': 'auto' }), nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/refused before anything changed/);
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: T2, previous: T3, backup: BEFORE_T3, detail: 'restore refused' } },
    ]);
  });

  it('a restore that failed part way and was undone says the data of before is back', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer('Listing backups', { code: 0, values: BACKUPS });
    nas.answer<RollbackValues>('Restoring the data and rolling back the backend', {
      code: BackendExit.RestoreFailed,
      values: {
        previous: T3,
        running: '',
        rolledBack: false,
        restoreUndone: true,
        safety: { id: '20260102T000000Z-safety', path: '', bytes: 1 },
      },
      tail: ['Restoring postgres:db failed'],
    });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { 'restore-backup': 'auto' }), nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/put back from safety backup 20260102T000000Z-safety and .* runs again/);
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: T2, previous: T3, backup: BEFORE_T3, detail: 'restore failed, undone' } },
    ]);
  });
});

describe('backup-backend', () => {
  it('takes a backup, lists, keeps the newest N and never the running release’s or the previous one’s', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { runningImage: `${IMAGE}:${T3}` }, history });
    const taken = `20260125T000000Z-${T3}`;
    const listed = [
      entry(`20260105T000000Z-${T1}`, 'manual'),
      entry(`20260115T000000Z-${T2}`, `before ${T3}`),
      entry(`20260120T000000Z-${T3}`, 'manual'),
      entry(taken, 'manual'),
    ];
    nas.answer('Taking a backup', {
      code: 0,
      values: { id: taken, path: `/b/${taken}`, bytes: 1234, entries: listed },
    });
    nas.answer('Removing old backups', { code: 0, values: undefined });

    const result = await backupBackend.run(
      settingsOf(backupBackend, { 'backup-volumes': 'uploads', 'backup-databases': 'postgres:db', 'backup-keep': '1' }),
      nas,
      context,
    );

    expect(result.ok).toBe(true);
    expect(result.outputs.BACKUP_ID).toBe(taken);
    expect(result.outputs.BACKUP_BYTES).toBe('1234');
    // T3 runs (its newest backup is kept), T2 is the previous release (kept); the rest goes
    expect(nas.program('Removing old backups')?.script.text).toContain(`20260105T000000Z-${T1}`);
    expect(nas.program('Removing old backups')?.script.text).not.toContain(`20260115T000000Z-${T2}`);
    const ids = (JSON.parse(result.outputs.BACKUPS) as Array<{ id: string }>).map((e) => e.id);
    expect(ids).toEqual([taken, `20260115T000000Z-${T2}`]);
  });

  it('a failed backup fails the step, naming why', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { runningImage: `${IMAGE}:${T3}` }, history });
    nas.answer('Taking a backup', {
      code: BackendExit.BackupFailed,
      values: { id: '', path: '', bytes: 0, entries: [] },
      tail: ['Backup of volume nosuch failed: no volume nosuch in compose project store'],
    });

    const result = await backupBackend.run(settingsOf(backupBackend, { 'backup-volumes': 'nosuch' }), nas, context);

    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/partial folder was removed.*no volume nosuch/s);
    expect(nas.finishes).toEqual([{ outcome: 'failure', update: { tag: T3, detail: 'backup failed' } }]);
  });
});

describe('deploy-backend with backups', () => {
  it('a failed backup stops the release before any container changes', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { runningImage: `${IMAGE}:${T3}`, commit: 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3', subject: 'x' },
      history,
    });
    nas.answer('Releasing the backend', {
      code: BackendExit.BackupFailed,
      values: { previous: '', running: '', rolledBack: false, built: false, inventory: [] },
      tail: ['Backup of postgres:db failed: the container of service db has no pg_dump'],
    });

    const result = await deployBackend.run(
      settingsOf(deployBackend, { 'backup-databases': 'postgres:db' }),
      nas,
      context,
    );

    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/failed before any container changed: the backup before the release failed/);
    expect(result.error).toContain('postgres:db');
    expect(nas.finishes).toEqual([{ outcome: 'failure', update: { detail: 'backup failed' } }]);
    // the backup comes first in the phase, before the checkout moves
    const text = nas.phases[0].script.text;
    expect(text.indexOf('nr_backup ||')).toBeGreaterThan(-1);
    expect(text.indexOf('nr_backup ||')).toBeLessThan(text.indexOf('Updating repository'));
  });
});

describe('cleanup-backend prunes backups', () => {
  const oldest = `20260102T000000Z-${T1}`;
  const older = `20260105T000000Z-${T1}`;
  const backups = [entry(oldest, `before ${T2}`), entry(older, 'manual'), entry(BEFORE_T3, `before ${T3}`)];

  it('keeps the newest backup-keep and the ones a rollback needs, in the same run as the images', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: { ...imagesState(T3), backups }, history });
    nas.answer('Removing old backups', { code: 0, values: undefined });

    const result = await cleanupBackend.run(
      settingsOf(cleanupBackend, { keep: '10', 'prune-dangling': 'false', 'backup-keep': '1' }),
      nas,
      context,
    );

    expect(result.outputs.REMOVED_BACKUPS).toBe(JSON.stringify([oldest, older]));
    expect(nas.ran).toEqual(['Removing old backups']);
    const script = nas.program('Removing old backups')!.script.text;
    expect(script).toContain(`rm -rf /volume1/docker/shop/backups/${older}`);
    expect(script).toContain(`rm -rf /volume1/docker/shop/backups/${oldest}`);
    expect(script).not.toContain(BEFORE_T3);
    expect(platform.lines).toContain('✓ Removed 2 of 3 backup(s) in /volume1/docker/shop/backups');
    expect(nas.finishes).toEqual([{ outcome: 'success', update: { detail: 'removed 0 tag(s); 2 backup(s)' } }]);
  });

  it('no backups: no backup program, and an empty REMOVED_BACKUPS', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { ...imagesState(T3), backups: [] }, history });

    const result = await cleanupBackend.run(
      settingsOf(cleanupBackend, { keep: '10', 'prune-dangling': 'false' }),
      nas,
      context,
    );

    expect(result.outputs.REMOVED_BACKUPS).toBe('[]');
    expect(nas.ran).toEqual([]);
  });
});

describe('data safety in the failure paths', () => {
  const COMMIT = 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3';
  const TAG = datedTag(COMMIT, new Date());
  const BEFORE = `20260302T090000Z-${T3}`;
  const SAFETY = `20260302T091000Z-${TAG}`;
  const releaseValues = (values: Partial<ReleaseValues>): ReleaseValues => ({
    previous: T3,
    running: T3,
    rolledBack: true,
    built: true,
    inventory: [],
    watch: { status: '', guards: [] },
    backup: { id: BEFORE, path: `/b/${BEFORE}`, bytes: 1 },
    ...values,
  });
  const deployWithRestore = {
    'backup-databases': 'postgres:db',
    'auto-rollback': 'true',
    'auto-rollback-restore': 'true',
  };

  it('data safety 1: a fallback whose restore failed says the data was NOT restored, in the warning, the error and the history', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: { runningImage: `${IMAGE}:${T3}`, commit: COMMIT, subject: 'x' }, history });
    nas.answer('Releasing the backend', {
      code: BackendExit.RolledBackDataNotPutBack,
      values: releaseValues({ safety: { id: SAFETY, path: '', bytes: 1 }, data: 'undone' }),
    });

    const result = await deployBackend.run(settingsOf(deployBackend, deployWithRestore), nas, context);

    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ ROLLED_BACK: 'true', DEPLOYED_BACKEND_TAG: T3, BACKUP_ID: BEFORE });
    expect(platform.warnings.join('\n')).not.toMatch(/was restored/);
    const said = `The data of before the release was NOT restored: restoring backup ${BEFORE} failed part way and the failed release's data was put back from safety backup ${SAFETY}; ${T3} runs on the failed release's data`;
    expect(platform.warnings).toContain(said);
    expect(result.error).toContain(said);
    expect(nas.finishes).toEqual([
      {
        outcome: 'rolled-back',
        update: {
          tag: TAG,
          commit: COMMIT,
          previous: T3,
          detail: 'health check failed, data not restored (restore failed, undone)',
        },
      },
    ]);
  });

  it('data safety 1: the fallback never ends the phase at a failed restore; it goes on to bring the previous release back', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: { runningImage: `${IMAGE}:${T3}`, commit: COMMIT, subject: 'x' }, history });
    nas.answer('Releasing the backend', { code: 0, values: releaseValues({ running: TAG, rolledBack: false }) });
    nas.answer('Removing old images', { code: 0, values: { removed: [], kept: [] } });

    await deployBackend.run(settingsOf(deployBackend, deployWithRestore), nas, context);

    const text = nas.phases[0].script.text;
    const fallback = text.slice(text.indexOf(`Rolling back to ${IMAGE}:${T3}`));
    const up = fallback.indexOf('up --detach');
    expect(up).toBeGreaterThan(-1);
    // from the restore to the previous release's compose up, no exit: a restore's failure is said, then passed
    const call = fallback.indexOf('nr_restore || { nr_fb_incomplete=1;');
    expect(call).toBeGreaterThan(-1);
    expect(fallback.slice(call, up)).not.toMatch(/\bexit\b/);
    const body = fallback.slice(fallback.indexOf('nr_restore() {'));
    expect(body.slice(0, body.indexOf('\n}\n'))).toContain('nr_rs_items "$nr_rs_dir"');
    expect(body.slice(0, body.indexOf('\n}\n'))).not.toMatch(/\bexit\b/);
  });

  it('data safety 2: a rollback with restore whose target fails its health check undoes the restore and says so', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer('Listing backups', { code: 0, values: BACKUPS });
    nas.answer<RollbackValues>('Restoring the data and rolling back the backend', {
      code: BackendExit.RolledBack,
      values: {
        previous: T3,
        running: T3,
        rolledBack: true,
        safety: { id: SAFETY, path: '', bytes: 1 },
        restoreBegan: true,
        data: 'undone',
      },
    });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { 'restore-backup': 'auto' }), nas, context);

    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: T3, RESTORED_BACKUP: '', SAFETY_BACKUP_ID: SAFETY });
    expect(result.error).toContain(
      `The restore of ${BEFORE_T3} was undone: the data of before it is back from safety backup ${SAFETY}.`,
    );
    expect(platform.lines.join('\n')).toContain('was undone');
    expect(nas.finishes).toEqual([
      {
        outcome: 'rolled-back',
        update: { tag: T2, previous: T3, backup: BEFORE_T3, detail: 'health check failed, restore undone' },
      },
    ]);
    // the phase puts the data of before back before the release that ran before comes back
    const text = nas.phases[0].script.text;
    const fallback = text.slice(text.indexOf(`Rolling back to ${IMAGE}:${T3}`));
    expect(fallback.indexOf('nr_rs_undo')).toBeGreaterThan(-1);
    expect(fallback.indexOf('nr_rs_undo')).toBeLessThan(fallback.indexOf('up --detach'));
  });

  it('data safety 2: an undo that failed says the data is partly restored and where the data of before is', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer('Listing backups', { code: 0, values: BACKUPS });
    nas.answer<RollbackValues>('Restoring the data and rolling back the backend', {
      code: BackendExit.RolledBackDataNotPutBack,
      values: {
        previous: T3,
        running: T3,
        rolledBack: true,
        safety: { id: SAFETY, path: '', bytes: 1 },
        restoreBegan: true,
        data: 'not-undone',
      },
    });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { 'restore-backup': 'auto' }), nas, context);

    expect(result.outputs.RESTORED_BACKUP).toBe('');
    expect(result.error).toContain(`the data of before is in safety backup ${SAFETY} (restore it by id)`);
    expect(nas.finishes[0].update.detail).toBe('health check failed, restore not undone');
  });

  it('data safety 3: the environment file is staged before the restore; one that cannot take its place after it undoes the restore', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer('Listing backups', { code: 0, values: BACKUPS });
    nas.answer<RollbackValues>('Restoring the data and rolling back the backend', {
      code: BackendExit.RolledBack,
      values: {
        previous: T3,
        running: T3,
        rolledBack: true,
        safety: { id: SAFETY, path: '', bytes: 1 },
        restoreBegan: true,
        envFileFailed: true,
        data: 'undone',
      },
    });

    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { 'restore-backup': 'auto', 'env-file-content': 'A=1\n' }),
      nas,
      context,
    );

    expect(result.ok).toBe(false);
    expect(result.error).not.toMatch(/refused before anything changed/);
    expect(result.error).toContain(
      `The rollback to ${IMAGE}:${T2} stopped after the restore: backend/.env could not be written, so ${IMAGE}:${T2} was not started; ${IMAGE}:${T3} runs again.`,
    );
    expect(result.error).toContain(`The restore of ${BEFORE_T3} was undone`);
    expect(nas.finishes[0]).toEqual({
      outcome: 'rolled-back',
      update: { tag: T2, previous: T3, backup: BEFORE_T3, detail: 'environment file not written, restore undone' },
    });
    const text = nas.phases[0].script.text;
    expect(text.indexOf('/env/.staged')).toBeGreaterThan(-1);
    expect(text.indexOf('/env/.staged')).toBeLessThan(text.indexOf('nr_restore ||'));
  });

  it('data safety 3: a safety backup that failed after the backend stopped is not "refused before anything changed"', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer('Listing backups', { code: 0, values: BACKUPS });
    nas.answer<RollbackValues>('Restoring the data and rolling back the backend', {
      code: BackendExit.SafetyBackupFailed,
      values: {
        previous: T3,
        running: '',
        rolledBack: false,
        restoreBegan: true,
        data: 'safety-backup-failed',
      },
    });

    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { 'restore-backup': 'auto' }), nas, context);

    expect(result.error).not.toMatch(/refused before anything changed/);
    expect(result.error).toMatch(
      /the safety backup failed; scanium-backend was stopped for it and started again on 2026.01.20-3333333/,
    );
    expect(nas.finishes[0].update.detail).toBe('safety backup failed, nothing restored');
  });

  it("data safety 14: a rollback's environment file sha256 reaches the history, as a deploy's does", async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: imagesState(T3), history });
    nas.answer('Rolling back the backend', { code: 0, values: { previous: T3, running: T2, rolledBack: false } });
    const content = 'GREETING=hello\n';

    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { 'env-file-content': content }),
      nas,
      context,
    );

    expect(result.ok).toBe(true);
    // the phase writes the success line itself: the sha256 must be in it
    expect(nas.phases[0].success).toEqual({ env: envSha256(content) });
    expect(nas.phases[0].begin).toMatchObject({ env: envSha256(content) });
  });
});
