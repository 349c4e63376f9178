import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LineSplitter, ProgramOutput } from '../../src/ssh/exec.js';
import {
  HISTORY_FILE,
  parseHistoryValues,
  previousRelease,
  readHistory,
  type HistoryRecord,
} from '../../src/remote/history.js';
import { probeTools, probingToolFunctions } from '../../src/remote/nas.js';
import { programText } from '../../src/remote/program.js';
import { lines, sh, type Shell } from '../../src/remote/shell.js';

const MARKER = '@@m@@';
const work = mkdtempSync(join(tmpdir(), 'state-program-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * Runs a program with `/bin/sh -s` as the NAS would, and reads its output as
 * the runner does (LineSplitter into ProgramOutput). The reader starts
 * `stallMs` late, as a runner busy elsewhere or a slow link would: a long
 * value line then fills the pipe and is written in pieces.
 */
function runSlowlyRead(
  script: Shell,
  opts: { path: string; stallMs: number; shell?: string[] },
): Promise<{ code: number | null; values: Map<string, string>; tail: string[] }> {
  const text = programText({ path: opts.path, marker: MARKER, script });
  const [shell, ...args] = opts.shell ?? ['/bin/sh'];
  const child = spawn(shell, [...args, '-s'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = new ProgramOutput(MARKER, { title: 'state', quiet: true }, { allowFailure: true }, () => true);
  const splitter = new LineSplitter(
    (line) => output.line(line),
    (line) => output.isMarker(line),
  );
  child.stdout.pause();
  child.stdout.on('data', (d: Buffer) => splitter.push(d));
  setTimeout(() => child.stdout.resume(), opts.stallMs);
  child.stderr.resume();
  child.stdin.end(text);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      splitter.end();
      const result = output.result(code ?? 1);
      resolve({ code, values: result.values, tail: result.tail });
    }),
  );
}

const deployRecord = (i: number, tag: string): HistoryRecord => ({
  id: `run-${i}`,
  action: 'deploy-backend',
  stack: 'backend',
  tag,
  commit: tag.slice(-7).padEnd(40, '0'),
  actor: 'octocat',
  run: `https://github.com/o/r/actions/runs/${i}`,
  started: '2026-01-10T10:00:00.000Z',
  ended: '2026-01-10T10:01:00.000Z',
  outcome: 'success',
  // records as long as a real failure's detail makes them
  detail: `release ${i} `.padEnd(300, 'x'),
});
const tagOf = (i: number): string => `2026.01.10-${i.toString(16).padStart(7, '0')}`;

describe('the first program, run with a real sh', () => {
  it('defect 12.1: a 1,000-record history and a slow docker never splice two value lines', async () => {
    // A docker that answers slowly: its version lines arrive while the history is being written.
    const bin = join(work, 'slow-docker-bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, 'docker'),
      `#!/bin/sh
sleep 0.3
case "$1 $2" in
  "version --format") echo 27.5.1 ;;
  "compose version") echo 2.32.4 ;;
  inspect*) echo scanium-backend:${tagOf(999)} ;;
esac
`,
    );
    chmodSync(join(bin, 'docker'), 0o755);
    const stateDir = join(work, 'repo', '.git', 'nas-release');
    mkdirSync(stateDir, { recursive: true });
    const records = Array.from({ length: 1000 }, (_, i) => deployRecord(i, tagOf(i)));
    writeFileSync(join(stateDir, HISTORY_FILE), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    // As Operation.readState builds it, with a flow question that runs in the background as deploy-backend's does.
    const state = lines(
      probingToolFunctions(false),
      probeTools(false),
      sh`[ -d ${join(work, 'repo')}/.git ] && nr_value repo yes`,
      readHistory(stateDir),
      sh`( nr_value running_image "$(nr_docker inspect --format x scanium-backend 2>/dev/null)" ) &`,
      sh`nr_value after_history yes`,
      sh`wait`,
    );
    for (let run = 0; run < 6; run++) {
      // dash and BusyBox sh, each with a reader that stalls and one that does not
      const shell = run % 3 === 2 ? ['/bin/busybox', 'sh'] : ['/bin/sh'];
      const result = await runSlowlyRead(state, { path: bin, stallMs: run % 2 === 0 ? 800 : 0, shell });
      expect(result.code).toBe(0);
      // a value line cut by another lands in the output as plain text
      expect(result.tail.map((l) => l.slice(0, 80))).toEqual([]);
      expect(result.values.get('docker_version')?.trim()).toBe('27.5.1');
      expect(result.values.get('compose_v2')).toBe('2.32.4');
      expect(result.values.get('running_image')).toBe(`scanium-backend:${tagOf(999)}`);
      expect(result.values.get('repo')).toBe('yes');
      expect(result.values.get('after_history')).toBe('yes');
      const { records: read } = parseHistoryValues(result.values);
      expect(read).toEqual(records.slice(-500));
      expect(previousRelease(read, 'backend', tagOf(999))).toBe(tagOf(998));
    }
  }, 60_000);

  it('sends a long value in lines the runner joins; one with other than ASCII, or without fold, on one line', async () => {
    const ascii = Array.from({ length: 5000 }, (_, i) => `${i} ab\\c`).join(' ');
    const other = Array.from({ length: 5000 }, (_, i) => `${i} ünï`).join(' ');
    const shell = sh`nr_value ascii ${ascii}; nr_value other ${other}; nr_value short x`;
    const withFold = await runSlowlyRead(shell, { path: '/usr/bin:/bin', stallMs: 0 });
    expect(withFold.values.get('ascii')).toBe(ascii);
    expect(withFold.values.get('other')).toBe(other);
    expect(withFold.values.get('short')).toBe('x');
    const bin = join(work, 'no-fold-bin');
    mkdirSync(bin, { recursive: true });
    // a PATH without fold (or anything else: the shell's builtins do the rest)
    const noFold = await runSlowlyRead(sh`PATH=${bin}; ${shell}`, { path: bin, stallMs: 0 });
    expect(noFold.values.get('ascii')).toBe(ascii);
    expect(noFold.values.get('other')).toBe(other);
  });
});
