import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  HEALTH_URL,
  REPO,
  asNas,
  connection,
  containerImage,
  historyLines,
  originHead,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
} from './harness.js';

/** Directories of NAS-side helpers made for these tests (readable by the NAS user). */
const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
function nasDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nr-programs-'));
  chmodSync(dir, 0o755);
  made.push(dir);
  return dir;
}

/** A docker that answers late: the real one, after a pause. */
function slowDocker(seconds: number): string {
  const dir = nasDir();
  writeFileSync(join(dir, 'docker'), `#!/bin/sh\nsleep ${seconds}\nexec /usr/bin/docker "$@"\n`);
  chmodSync(join(dir, 'docker'), 0o755);
  return dir;
}

describe('the first program against the stand-in NAS', () => {
  beforeEach(() => resetNas());

  it('defect 12.1: with 1,000 history records and a slow docker, an empty-tag rollback goes to the previous release', async () => {
    const a = tagOf(originHead());
    expect((await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }))).code).toBe(0);
    const b = tagOf(pushCommit({ 'backend/www/version': 'b\n' }, 'B'));
    expect((await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }))).code).toBe(0);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${b}`);

    // 998 older releases (long records, as failures with details make them), then the real A and B.
    const real = historyLines();
    expect(real.map((r) => r.tag)).toEqual([a, b]);
    const older = Array.from({ length: 998 }, (_, i) => ({
      id: `old-${i}`,
      action: 'deploy-backend',
      stack: 'backend',
      tag: `2025.01.01-${i.toString(16).padStart(7, '0')}`,
      commit: i.toString(16).padStart(40, '0'),
      actor: 'octocat',
      run: `https://github.example/example/app/actions/runs/${i}`,
      started: '2025-01-01T10:00:00.000Z',
      ended: '2025-01-01T10:01:00.000Z',
      outcome: 'success',
      detail: `release ${i} `.padEnd(6000, 'x'),
    }));
    const file = join(REPO, '.git/nas-release/history.jsonl');
    const text = [...older, ...real].map((r) => JSON.stringify(r)).join('\n') + '\n';
    asNas(['sh', '-c', 'cat > "$1"', 'sh', file], text);

    // The docker answers land at different moments of the history's transfer: every run must read all of it.
    const errorOf = (stdout: string): string =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('::error::'))
        .join('\n');
    for (const seconds of [0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2]) {
      const noop = await runAction(
        'rollback-backend',
        connection({ 'health-url': HEALTH_URL, 'remote-path': slowDocker(seconds), tag: b }),
      );
      expect(noop.code, `docker ${seconds}s late: ${errorOf(noop.stdout)}`).toBe(0);
      expect(noop.stdout).toContain('is already running: nothing to do');
    }
    const run = await runAction(
      'rollback-backend',
      connection({ 'health-url': HEALTH_URL, 'remote-path': slowDocker(0.05) }),
      { timeoutMs: 240_000 },
    );
    expect(run.code, errorOf(run.stdout)).toBe(0);
    expect(run.stdout).toMatch(/docker: +\S+\/docker \(engine \d+\.\d+/);
    expect(run.stdout).toContain(`Target: the previous release, ${a} (from the release history)`);
    expect(run.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: a, PREVIOUS_BACKEND_TAG: b });
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${a}`);
    // every record is still there, and the rollback was added after them
    const after = historyLines();
    expect(after).toHaveLength(1009);
    expect(after.slice(0, 1000)).toEqual([...older, ...real]);
    expect(after.slice(1000, 1008).map((r) => r.outcome)).toEqual(Array(8).fill('noop'));
    expect(after[1008]).toMatchObject({ action: 'rollback-backend', tag: a, outcome: 'success' });
  }, 300_000);
});
