import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'print-log-'));
const SCRIPT = join(out, 'index.js');
// Bundled as the actions are (ncc), and run by plain node: the memory a runner sees.
beforeAll(() => {
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--one', 'test/support/print-log.ts', out], {
    cwd: ROOT,
  });
}, 120_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Peak RSS (KiB) of a process that prints a build log of `mb` MB through the runner's log path to a pipe. */
function peakRss(mb: number): Promise<{ kib: number; bytes: number }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [SCRIPT, String(mb)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let bytes = 0;
    let err = '';
    child.stdout.on('data', (d: Buffer) => (bytes += d.length));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      const m = /maxrss (\d+)/.exec(err);
      if (code !== 0 || !m) return fail(new Error(`print-log ${mb} exited ${code}: ${err.slice(-2000)}`));
      done({ kib: Number(m[1]), bytes });
    });
  });
}

describe('memory of a long build log', () => {
  it('defect 11.8: peak RSS while printing 500 MB of log is within 10% of printing 50 MB', async () => {
    // the median of three runs of each: one process's peak depends on when V8 collects
    const runs = async (mb: number): Promise<number[]> => {
      const peaks: number[] = [];
      for (let i = 0; i < 3; i++) {
        const run = await peakRss(mb);
        expect(run.bytes).toBeGreaterThan(mb * 1e6); // the whole log went through
        peaks.push(run.kib);
      }
      return peaks;
    };
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1];
    const small = await runs(50);
    const large = await runs(500);
    const growth = (median(large) - median(small)) / median(small);
    expect(growth, `peak RSS (KiB): 50 MB ${small.join(', ')}; 500 MB ${large.join(', ')}`).toBeLessThan(0.1);
  }, 180_000);
});
