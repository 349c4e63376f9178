import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FLOCK_STATE, type ContainerStatus, type StatusAnswers } from '../../src/programs/day-two.js';
import type { HistoryRecord } from '../../src/remote/history.js';
import {
  historyText,
  historyView,
  jsonText,
  statusReport,
  statusText,
  table,
  tagOfImage,
} from '../../src/day-two/views.js';

const T1 = '2026.01.01-1111111';
const T2 = '2026.01.10-2222222';
const container = (c: Partial<ContainerStatus>): ContainerStatus => ({
  name: 'scanium-backend',
  project: 'backend',
  service: 'api',
  image: `scanium-backend:${T2}`,
  state: 'running',
  health: 'healthy',
  startedAt: '2026-01-10T10:00:00.123456789Z',
  finishedAt: '0001-01-01T00:00:00Z',
  ...c,
});
const answers = (a: Partial<StatusAnswers>): StatusAnswers => ({
  containers: [],
  liveColor: '',
  lock: 'free',
  phase: 'free',
  holder: '',
  ...a,
});
const record = (r: Partial<HistoryRecord>): HistoryRecord => ({
  id: '1',
  action: 'deploy-backend',
  stack: 'backend',
  tag: T1,
  started: '2026-01-01T10:00:00Z',
  ended: '2026-01-01T10:01:00Z',
  outcome: 'success',
  ...r,
});
const base = { host: 'nas.local', repoPath: '/volume1/app', composeFile: 'backend/docker-compose.yml' };

describe('status', () => {
  it('finds the colours of a blue-green backend, the live one, and each tag, health and time', () => {
    const report = statusReport({
      ...base,
      answers: answers({
        liveColor: 'green',
        containers: [
          container({ name: 'backend-proxy-1', service: 'proxy', image: 'nginx:1.25', health: '' }),
          container({ name: 'backend-green-api-1', project: 'backend-green', image: `scanium-backend:${T2}` }),
          container({
            name: 'backend-blue-api-1',
            project: 'backend-blue',
            image: `registry.local:5000/scanium-backend:${T1}`,
            state: 'exited',
            health: '',
            finishedAt: '2026-01-10T10:05:00.5Z',
          }),
        ],
      }),
      history: [record({}), record({ tag: T2, previous: T1 })],
    });

    expect(report.services).toEqual([
      expect.objectContaining({
        service: 'api',
        color: 'blue',
        live: false,
        tag: T1,
        health: 'exited',
        since: '2026-01-10T10:05:00Z',
      }),
      expect.objectContaining({
        service: 'api',
        color: 'green',
        live: true,
        tag: T2,
        health: 'healthy',
        since: '2026-01-10T10:00:00Z',
      }),
      expect.objectContaining({ service: 'proxy', color: null, live: false, tag: '1.25', health: 'running' }),
    ]);
    expect(report.liveColor).toBe('green');
    expect(report.lastOperation).toMatchObject({ tag: T2, previous: T1 });
    expect(statusText(report)).toContain('green (live)');
  });

  it('names the lock holder only while the lock is held: a holder file left by a killed run is not a holder', () => {
    const holder = JSON.stringify({ action: 'deploy-backend', actor: 'alice', started: 'now', run: 'run 7' });
    const held = statusReport({ ...base, answers: answers({ lock: 'held', holder }), history: [] });
    expect(held.lock).toEqual({
      state: 'held',
      holder: { action: 'deploy-backend', actor: 'alice', started: 'now', run: 'run 7' },
    });
    expect(statusText(held)).toContain('Release lock:   held by deploy-backend by alice since now (run 7)');
    const free = statusReport({ ...base, answers: answers({ lock: 'free', holder }), history: [] });
    expect(free.lock).toEqual({ state: 'free', holder: null });
    expect(statusText(free)).toContain('Release lock:   free');
    expect(statusText(free)).toContain('Last operation: none recorded');
  });
});

describe('history', () => {
  it('newest first, the operation in progress on top, cut at the limit', () => {
    const records = [record({ id: 'a' }), record({ id: 'b' }), record({ id: 'c' })];
    const running = record({ id: 'd', action: 'rollback-backend', outcome: undefined, ended: undefined });
    expect(historyView(records, running, 3).map((r) => [r.id, r.inProgress])).toEqual([
      ['d', true],
      ['c', undefined],
      ['b', undefined],
    ]);
    expect(historyView(records, undefined, 10).map((r) => r.id)).toEqual(['c', 'b', 'a']);
    expect(historyText(historyView(records, running, 2))).toMatch(/^STARTED .*\n.*rollback-backend .*in progress/);
    expect(historyText([])).toBe('No operation is recorded in the release history yet.');
  });
});

describe('what the NAS said, printed', () => {
  it('JSON parses back whole, and no line of it can be read as a runner command', () => {
    const value = { detail: '##[error]x\n::warning::y', tag: '#1' };
    const text = jsonText(value);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).not.toContain('#');
    expect(text.split('\n').some((l) => /^\s*::/.test(l))).toBe(false);
  });

  it('a table shows no control character (a terminal escape sequence from the NAS)', () => {
    const text = table(['A', 'B'], [['\x1b[2J\x1b]0;pwned\x07', '']]);
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(text).toBe(`${'A'.padEnd(14)}  B\n?[2J?]0;pwned?  -`);
  });

  it('the tag of an image, not a registry port', () => {
    expect(tagOfImage(`registry.local:5000/app:${T1}`)).toBe(T1);
    expect(tagOfImage('registry.local:5000/app')).toBe('');
  });
});

describe.each([['dash'], ['busybox sh']])('the lock state read with %s, without taking the lock', (shell) => {
  const work = mkdtempSync(join(tmpdir(), 'flock-state-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const [cmd, ...args] = shell.split(' ');
  const state = (file: string): string =>
    spawnSync(cmd, [...args, '-c', `${FLOCK_STATE.text}\nnr_flock_state "$1"`, 'sh', file], {
      encoding: 'utf8',
    }).stdout.trim();

  it('free, held while a process holds it, free again once it lets go', async () => {
    const lock = join(work, 'lock');
    expect(state(join(work, 'missing'))).toBe('free');
    writeFileSync(lock, '');
    expect(state(lock)).toBe('free');
    const holder = spawn('flock', [lock, 'sh', '-c', 'echo locked; read x'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    expect(state(lock)).toBe('held');
    // reading it took nothing: another process still cannot take it
    expect(spawnSync('flock', ['-n', lock, 'true']).status).toBe(1);
    holder.stdin.end('\n');
    await new Promise((resolve) => holder.once('close', resolve));
    expect(state(lock)).toBe('free');
  });
});
