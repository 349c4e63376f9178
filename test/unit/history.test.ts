import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HistoryRecorder } from '../../src/nas/history-recorder.js';
import { pulledDigestFields, pulledDigestsFields } from '../../src/programs/image-sources.js';
import { watchDetailField } from '../../src/programs/watch.js';
import { Renderer, bareTools } from '../../src/remote/command.js';
import { linked } from '../../src/remote/program.js';
import { lines, sh } from '../../src/remote/shell.js';
import {
  parseHistory,
  parseHistoryValues,
  previousRelease,
  releaseStack,
  type HistoryRecord,
  type Outcome,
} from '../../src/remote/history.js';

const A = '2026.01.01-aaaaaaa';
const B = '2026.01.02-bbbbbbb';
const C = '2026.01.03-ccccccc';
const D = '2026.01.04-ddddddd';

let n = 0;
function rec(tag: string, extra: Partial<HistoryRecord> & { outcome?: Outcome } = {}): HistoryRecord {
  n += 1;
  return {
    id: `run-${n}`,
    action: 'deploy-backend',
    stack: 'backend',
    tag,
    started: `2026-01-01T00:00:${String(n % 60).padStart(2, '0')}Z`,
    outcome: 'success',
    ...extra,
  };
}
const deploy = (tag: string, outcome: Outcome = 'success'): HistoryRecord => rec(tag, { outcome });
/** An empty-tag rollback: recorded with the tag it went back to. */
const rollbackToPrevious = (tag: string, outcome: Outcome = 'success'): HistoryRecord =>
  rec(tag, { action: 'rollback-backend', detail: 'previous-release', outcome });
const rollbackNamed = (tag: string): HistoryRecord => rec(tag, { action: 'rollback-backend', detail: 'named' });
const jsonl = (records: HistoryRecord[]): string => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('parseHistory', () => {
  it('reads one record a line', () => {
    const records = [deploy(A), deploy(B), rec(C, { stack: 'monitoring', action: 'deploy-monitoring' })];
    expect(parseHistory(jsonl(records))).toEqual(records);
  });

  it('skips a torn last line, foreign lines and records of the wrong shape', () => {
    const records = [deploy(A), deploy(B)];
    const whole = jsonl(records);
    const torn = JSON.stringify(deploy(C)).slice(0, 30);
    const text = [
      'hello',
      whole.trimEnd(),
      '',
      '   ',
      'null',
      '[]',
      '42',
      '"text"',
      JSON.stringify({ action: 'deploy-backend', tag: A }),
      JSON.stringify({ action: 'deploy-backend', tag: A, stack: 'frontend' }),
      JSON.stringify({ action: 1, tag: A, stack: 'backend' }),
      JSON.stringify({ action: 'deploy-backend', tag: null, stack: 'backend' }),
      torn,
    ].join('\n');
    expect(parseHistory(text)).toEqual(records);
  });

  it('reads CRLF lines and an empty history', () => {
    expect(parseHistory(jsonl([deploy(A)]).replace(/\n/g, '\r\n'))).toHaveLength(1);
    expect(parseHistory('')).toEqual([]);
  });
});

describe('parseHistoryValues', () => {
  const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

  it('decodes the history and the operation left in progress', () => {
    const records = [deploy(A), deploy(B)];
    const current = rec(C, { outcome: undefined, detail: 'ünïcode ✓' });
    const values = new Map([
      ['history_b64', b64(jsonl(records))],
      ['current_b64', b64(JSON.stringify(current) + '\n')],
    ]);
    expect(parseHistoryValues(values)).toEqual({ records, inProgress: current });
  });

  it('reports nothing in progress when there is none, and no records when there is no history', () => {
    const records = [deploy(A)];
    expect(
      parseHistoryValues(
        new Map([
          ['history_b64', b64(jsonl(records))],
          ['current_b64', ''],
        ]),
      ),
    ).toEqual({ records });
    expect(parseHistoryValues(new Map())).toEqual({ records: [] });
    expect(parseHistoryValues(new Map([['current_b64', b64('{"torn')]]))).toEqual({ records: [] });
  });
});

describe('releaseStack and previousRelease', () => {
  it('with A, B, C deployed and C running, the previous release is B', () => {
    const h = [deploy(A), deploy(B), deploy(C)];
    expect(releaseStack(h, 'backend')).toEqual([A, B, C]);
    expect(previousRelease(h, 'backend', C)).toBe(B);
  });

  it('after an empty-tag rollback to B, the previous release is A, then none', () => {
    const h = [deploy(A), deploy(B), deploy(C), rollbackToPrevious(B)];
    expect(releaseStack(h, 'backend')).toEqual([A, B]);
    expect(previousRelease(h, 'backend', B)).toBe(A);
    h.push(rollbackToPrevious(A));
    expect(releaseStack(h, 'backend')).toEqual([A]);
    expect(previousRelease(h, 'backend', A)).toBeUndefined();
  });

  it('a deploy after a rollback goes on top of what is left', () => {
    const h = [deploy(A), deploy(B), deploy(C), rollbackToPrevious(B), deploy(D)];
    expect(releaseStack(h, 'backend')).toEqual([A, B, D]);
    expect(previousRelease(h, 'backend', D)).toBe(B);
  });

  it('a named rollback pushes its tag like a deploy', () => {
    const h = [deploy(A), deploy(B), deploy(C), rollbackNamed(A)];
    expect(releaseStack(h, 'backend')).toEqual([A, B, C, A]);
    expect(previousRelease(h, 'backend', A)).toBe(C);
  });

  it('failed, rolled-back, interrupted, no-op and dry-run operations do not count', () => {
    const others: Outcome[] = ['failure', 'rolled-back', 'interrupted', 'noop', 'dry-run'];
    const h = [
      deploy(A),
      deploy(B),
      ...others.map((o) => deploy(C, o)),
      ...others.map((o) => rollbackToPrevious(A, o)),
      rec(D, { outcome: undefined }),
    ];
    expect(releaseStack(h, 'backend')).toEqual([A, B]);
    expect(previousRelease(h, 'backend', B)).toBe(A);
  });

  it('the same tag deployed twice in a row counts once; again later, it counts again', () => {
    expect(releaseStack([deploy(A), deploy(B), deploy(B)], 'backend')).toEqual([A, B]);
    expect(previousRelease([deploy(A), deploy(B), deploy(B)], 'backend', B)).toBe(A);
    const h = [deploy(A), deploy(B), deploy(A)];
    expect(releaseStack(h, 'backend')).toEqual([A, B, A]);
    expect(previousRelease(h, 'backend', A)).toBe(B);
  });

  it('skips the running tag wherever it appears below', () => {
    const h = [deploy(A), deploy(B), deploy(A), deploy(A)];
    expect(previousRelease(h, 'backend', A)).toBe(B);
  });

  it('keeps the stacks apart', () => {
    const mon = (tag: string): HistoryRecord =>
      rec(`monitoring-${tag}`, { stack: 'monitoring', action: 'deploy-monitoring' });
    const h = [deploy(A), mon(A), deploy(B), mon(B), mon(C)];
    expect(releaseStack(h, 'backend')).toEqual([A, B]);
    expect(releaseStack(h, 'monitoring')).toEqual([`monitoring-${A}`, `monitoring-${B}`, `monitoring-${C}`]);
    expect(previousRelease(h, 'backend', B)).toBe(A);
    expect(previousRelease(h, 'monitoring', `monitoring-${C}`)).toBe(`monitoring-${B}`);
  });

  it('ignores records without a tag', () => {
    expect(releaseStack([deploy(A), deploy(''), deploy(B)], 'backend')).toEqual([A, B]);
  });

  it('with nothing before the running release, there is no previous one', () => {
    expect(previousRelease([], 'backend', A)).toBeUndefined();
    expect(previousRelease([deploy(A)], 'backend', A)).toBeUndefined();
  });

  it('when what runs is not in the history, the previous release is the last one recorded', () => {
    expect(previousRelease([deploy(A), deploy(B)], 'backend', 'latest')).toBe(B);
  });
});

describe('the success line the phase writes on the NAS (data safety 9: the digest a registry release pulled)', () => {
  const IMAGE = '127.0.0.1:5000/app';
  const TAG = '2026.01.01-aaaaaaa';
  const DIGEST = `sha256:${'ab12'.repeat(16)}`;

  /** Runs a phase's recorded body with real dash and a docker whose inspect prints `digests`; the history's lines. */
  function successLine(
    digests: string,
    fields = pulledDigestFields(new Renderer(bareTools, false), `${IMAGE}:${TAG}`, IMAGE),
  ): Array<Record<string, unknown>> {
    const dir = mkdtempSync(join(tmpdir(), 'history-digest-'));
    try {
      writeFileSync(join(dir, 'digests'), digests);
      writeFileSync(join(dir, 'docker'), `#!/bin/sh\ncat '${dir}/digests'\n`, { mode: 0o755 });
      const recorder = new HistoryRecorder(
        { action: 'deploy-backend', stack: 'backend', locking: true },
        { id: 'run-1', actor: 'me', url: 'https://github.example/run/1', started: '2026-01-01T00:00:00Z' },
        join(dir, 'state'),
        true,
      );
      recorder.begin({ tag: TAG, pulled: 'latest' });
      const script = recorder.recordingSuccess(sh`:`, { tag: TAG, pulled: 'latest' }, undefined, [], fields);
      // linked: with the history library it calls, as every program on the NAS gets it
      const r = spawnSync('dash', ['-c', linked(script).text], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` },
      });
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(join(dir, 'state', 'history.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("the digest of the image's own repository, beside the tag it was pulled as", () => {
    const [line] = successLine(`other/repo@sha256:${'00'.repeat(32)}\n${IMAGE}@${DIGEST}\n`);
    expect(line).toMatchObject({ tag: TAG, pulled: 'latest', digest: DIGEST, outcome: 'success' });
  });

  it('no digest (an image never pushed), or one that is not sha256 and hex, records none, and the line stays whole', () => {
    expect(successLine('')[0]).not.toHaveProperty('digest');
    const [odd] = successLine(`${IMAGE}@sha256:ab"},"outcome":"failure\n`);
    expect(odd).toMatchObject({ tag: TAG, outcome: 'success' });
    expect(odd).not.toHaveProperty('digest');
  });

  it('a watched release: the detail says how the watch ended, and an inconclusive watch is never filed as passed', () => {
    const file = join(tmpdir(), `watch-outcome-${process.pid}`);
    const after = (outcome: string) =>
      successLine(`${IMAGE}@${DIGEST}\n`, lines(sh`printf %s ${outcome} > ${file}`, watchDetailField(file)))[0];
    expect(after('passed')).toMatchObject({ outcome: 'success', detail: 'watch passed' });
    expect(after('inconclusive')).toMatchObject({ outcome: 'success', detail: 'watch inconclusive' });
    expect(after('')).not.toHaveProperty('detail');
  });

  it("several services: each image's digest by image name", () => {
    const fields = pulledDigestsFields(new Renderer(bareTools, false), [IMAGE, 'ghcr.io/o/web'], TAG);
    // the fake docker answers the same for both images: only the one whose repository it names is recorded
    expect(successLine(`${IMAGE}@${DIGEST}\n`, fields)[0]).toMatchObject({ digests: { [IMAGE]: DIGEST } });
    expect(successLine('', fields)[0]).not.toHaveProperty('digests');
  });
});
