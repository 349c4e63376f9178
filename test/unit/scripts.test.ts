import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Renderer, bareTools, toolFunctions } from '../../src/remote/command.js';
import { detached } from '../../src/remote/detached.js';
import { fetchTarget, moveCheckout, type CheckoutTarget } from '../../src/programs/checkout.js';
import { HEALTH } from '../../src/remote/health.js';
import {
  CURRENT_FILE,
  HISTORY_FILE,
  beginOperation,
  endOperation,
  parseHistoryValues,
  readHistory,
  type HistoryRecord,
} from '../../src/remote/history.js';
import { lockHolder } from '../../src/remote/lock.js';
import { probeTools } from '../../src/remote/nas.js';
import { PRELUDE, programText } from '../../src/remote/program.js';
import { Shell, lines, sh } from '../../src/remote/shell.js';

const MARKER = '@@m@@';
const work = mkdtempSync(join(tmpdir(), 'scripts-test-'));
const children: ChildProcessWithoutNullStreams[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

let fileCount = 0;
/** Checks the syntax of a program with a POSIX shell; returns its complaint, or '' when it accepts it. */
function syntaxErrors(shell: string[], text: string): string {
  const file = join(work, `program-${++fileCount}.sh`);
  writeFileSync(file, text);
  const result = spawnSync(shell[0], [...shell.slice(1), '-n', file], { encoding: 'utf8' });
  return result.status === 0 ? '' : `exit ${result.status}: ${result.stderr}`;
}

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  values: Map<string, string>;
  markers: string[];
}

/** Runs a program locally as the NAS would: its text piped into `/bin/sh -s`. */
function runProgram(script: Shell, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Ran {
  const text = programText({ path: '/usr/bin:/bin', marker: MARKER, script });
  const result = spawnSync('/bin/sh', ['-s'], {
    input: text,
    encoding: 'utf8',
    cwd: opts.cwd ?? work,
    env: opts.env ?? process.env,
    timeout: 60_000,
  });
  const values = new Map<string, string>();
  const markers: string[] = [];
  for (const line of `${result.stdout}\n${result.stderr}`.split('\n')) {
    if (!line.startsWith(`${MARKER} `)) continue;
    const rest = line.slice(MARKER.length + 1);
    if (rest.startsWith('value ')) {
      const body = rest.slice('value '.length);
      const at = body.indexOf(' ');
      values.set(at < 0 ? body : body.slice(0, at), at < 0 ? '' : body.slice(at + 1));
    } else markers.push(rest);
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, values, markers };
}

const record = (tag: string, extra: Partial<HistoryRecord> = {}): HistoryRecord => ({
  id: `id-${tag}`,
  action: 'deploy-backend',
  stack: 'backend',
  tag,
  actor: 'octocat',
  run: 'https://github.com/o/r/actions/runs/1',
  started: '2026-01-10T10:00:00.000Z',
  ...extra,
});

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('remote programs are valid POSIX sh', () => {
  const stateDir = '/volume1/my apps/repo/.git/nas-release';
  const renderer = new Renderer(
    {
      docker: ['/usr/local/bin/docker'],
      compose: ['/usr/local/bin/docker', 'compose'],
      git: ['/usr/bin/git'],
      sudo: true,
    },
    false,
  );
  const dryRenderer = new Renderer(bareTools, true);
  const checkout = {
    repo: '/volume1/my apps/repo',
    remote: 'origin',
    branch: 'main',
    ref: '',
    onDirty: 'fail' as const,
    runLabel: "run 1 by o'brien",
  };
  const scripts: Record<string, Shell> = {
    lockHolder: lockHolder({
      stateDir,
      holder: JSON.stringify({ action: 'deploy-backend', actor: "o'brien $(id)" }),
      timeout: 600,
      marker: MARKER,
      path: '/usr/local/bin',
    }),
    'lockHolder (then)': lockHolder({
      stateDir,
      holder: 'h',
      timeout: 600,
      marker: MARKER,
      path: '/usr/local/bin',
      then: new Shell(programText({ path: '/bin', marker: MARKER, script: lines(probeTools(true), sh`wait`) })),
    }),
    detached: detached(stateDir, lines(toolFunctions(renderer.tools), sh`nr_say ok ${'it\'s "done" $(id)'}; exit 3`)),
    beginOperation: beginOperation(stateDir, record('2026.01.10-abcdef0')),
    'beginOperation (filing an interrupted one)': beginOperation(
      stateDir,
      record('2026.01.10-abcdef0'),
      record('2026.01.09-1234567', { outcome: 'interrupted', detail: "it's `x`" }),
    ),
    endOperation: endOperation(stateDir, record('2026.01.10-abcdef0', { outcome: 'success' })),
    readHistory: readHistory(stateDir),
    'probeTools(false)': probeTools(false),
    'probeTools(true)': probeTools(true),
    HEALTH: lines(
      toolFunctions(renderer.tools),
      HEALTH,
      sh`nr_wait_container api 120 ${'http://127.0.0.1:8080/health'} && nr_wait_stack 90 a b`,
    ),
    fetchTarget: fetchTarget(renderer, checkout),
    'fetchTarget (ref)': fetchTarget(dryRenderer, { ...checkout, ref: 'a'.repeat(40) }),
    moveCheckout: moveCheckout(renderer, checkout, 'a'.repeat(40)),
    'moveCheckout (dry run, stash)': moveCheckout(dryRenderer, { ...checkout, onDirty: 'stash' }, 'a'.repeat(40)),
    'moveCheckout (reset)': moveCheckout(renderer, { ...checkout, onDirty: 'reset' }, 'a'.repeat(40)),
  };
  const shells: Record<string, string[]> = {
    'dash (/bin/sh)': ['/bin/sh'],
    'busybox sh': ['/bin/busybox', 'sh'],
    'bash --posix': ['bash', '--posix'],
  };

  for (const [name, script] of Object.entries(scripts)) {
    for (const [shellName, shell] of Object.entries(shells)) {
      it(`${name} parses with ${shellName}`, () => {
        expect(syntaxErrors(shell, programText({ path: '/usr/local/bin:/bin', marker: MARKER, script }))).toBe('');
        // The lock holder runs as a brace group of its own, not inside a program.
        expect(syntaxErrors(shell, `{\n${script.text}\n}\n`)).toBe('');
      });
    }
  }

  it('the syntax check does catch a broken program', () => {
    expect(
      syntaxErrors(['/bin/sh'], programText({ path: '/bin', marker: MARKER, script: sh`if true; then echo` })),
    ).not.toBe('');
    expect(
      syntaxErrors(['/bin/busybox', 'sh'], programText({ path: '/bin', marker: MARKER, script: sh`echo $(` })),
    ).not.toBe('');
  });

  it('the prelude parses on its own', () => {
    expect(syntaxErrors(['/bin/sh'], PRELUDE.text)).toBe('');
  });
});

describe('a program run locally', () => {
  it('prints a value, quoted arguments intact', () => {
    const result = runProgram(sh`nr_value k ${'a b $(x)'}`);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('@@m@@ value k a b $(x)\n');
  });

  it('puts the path in front of PATH and speaks the C locale', () => {
    const result = runProgram(sh`nr_value path "$PATH"; nr_value lc "$LC_ALL"; nr_say ok ${'all   spaces kept'}`);
    expect(result.values.get('path')?.startsWith('/usr/bin:/bin:')).toBe(true);
    expect(result.values.get('lc')).toBe('C');
    expect(result.markers).toEqual(['ok all   spaces kept']);
  });

  it('is parsed whole before any of it runs', () => {
    const file = join(work, 'ran-before-syntax-error');
    const result = runProgram(sh`touch ${file}
if then`);
    expect(result.status).not.toBe(0);
    expect(existsSync(file)).toBe(false);
  });

  it('with the /bin/sh of busybox too', () => {
    const text = programText({ path: '/usr/bin:/bin', marker: MARKER, script: sh`nr_value k ${"it's $(x) `y`"}` });
    expect(execFileSync('/bin/busybox', ['sh', '-s'], { input: text, encoding: 'utf8' })).toBe(
      "@@m@@ value k it's $(x) `y`\n",
    );
  });
});

describe('the release history, run locally', () => {
  const stateDir = join(work, 'repo with space', '.git', 'nas-release');
  const read = (): ReturnType<typeof parseHistoryValues> => {
    const result = runProgram(readHistory(stateDir));
    expect(result.status).toBe(0);
    return parseHistoryValues(result.values);
  };

  it('is empty before anything was recorded', () => {
    expect(read()).toEqual({ records: [] });
  });

  it('records an operation in progress, then files it when it ends', () => {
    const a = record('2026.01.10-aaaaaaa', {
      detail: `it's "quoted" $(touch ${join(work, 'pwned')}) \`id\` ünï ✓\nsecond line`,
    });
    expect(runProgram(beginOperation(stateDir, a)).status).toBe(0);
    expect(existsSync(join(stateDir, CURRENT_FILE))).toBe(true);
    expect(read()).toEqual({ records: [], inProgress: a });

    const done = { ...a, outcome: 'success' as const, ended: '2026-01-10T10:05:00.000Z' };
    expect(runProgram(endOperation(stateDir, done)).status).toBe(0);
    expect(existsSync(join(stateDir, CURRENT_FILE))).toBe(false);
    expect(read()).toEqual({ records: [done] });
    expect(existsSync(join(work, 'pwned'))).toBe(false);
  });

  it('files an interrupted operation when the next one begins', () => {
    const b = record('2026.01.11-bbbbbbb');
    runProgram(beginOperation(stateDir, b));
    const c = record('2026.01.12-ccccccc');
    const interrupted = { ...b, outcome: 'interrupted' as const, ended: '2026-01-12T00:00:00.000Z' };
    expect(runProgram(beginOperation(stateDir, c, interrupted)).status).toBe(0);
    const { records, inProgress } = read();
    expect(records.map((r) => [r.tag, r.outcome])).toEqual([
      ['2026.01.10-aaaaaaa', 'success'],
      ['2026.01.11-bbbbbbb', 'interrupted'],
    ]);
    expect(inProgress).toEqual(c);
    runProgram(endOperation(stateDir, { ...c, outcome: 'success' }));
  });

  it('skips a torn last line', () => {
    appendFileSync(join(stateDir, HISTORY_FILE), JSON.stringify(record('2026.01.13-ddddddd')).slice(0, 40));
    const { records, inProgress } = read();
    expect(records.map((r) => r.tag)).toEqual(['2026.01.10-aaaaaaa', '2026.01.11-bbbbbbb', '2026.01.12-ccccccc']);
    expect(inProgress).toBeUndefined();
  });

  it('keeps a record appended after a torn line', () => {
    const e = record('2026.01.14-eeeeeee', { outcome: 'success' });
    expect(runProgram(endOperation(stateDir, e)).status).toBe(0);
    expect(read().records.map((r) => r.tag)).toEqual([
      '2026.01.10-aaaaaaa',
      '2026.01.11-bbbbbbb',
      '2026.01.12-ccccccc',
      '2026.01.14-eeeeeee',
    ]);
  });

  it('stamps a record without an end time with the clock of the machine that writes it', () => {
    const before = new Date(Math.floor(Date.now() / 1000) * 1000);
    const f = record('2026.01.15-fffffff', { outcome: 'success', detail: 'ends "here" }' });
    expect(runProgram(endOperation(stateDir, f)).status).toBe(0);
    const last = read().records.at(-1);
    expect(last).toEqual({ ...f, ended: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) });
    const ended = new Date(last?.ended ?? '');
    expect(ended.getTime()).toBeGreaterThanOrEqual(before.getTime());
    expect(ended.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('reads only the last lines', () => {
    const dir = join(work, 'long-history');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, HISTORY_FILE),
      Array.from({ length: 30 }, (_, i) => JSON.stringify(record(`t${i}`, { outcome: 'success' }))).join('\n') + '\n',
    );
    const result = runProgram(readHistory(dir, 5));
    expect(parseHistoryValues(result.values).records.map((r) => r.tag)).toEqual(['t25', 't26', 't27', 't28', 't29']);
  });
});

/** Starts a lock holder as the runner does (on its own channel) and collects its output. */
function startHolder(
  stateDir: string,
  holder: string,
  timeout: number,
  then?: Shell,
  thenTimeout?: number,
): {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
  waitFor: (text: string) => Promise<void>;
} {
  // As the runner does: the holder as a brace group on `sh -s`, whose input then carries the heartbeats.
  const child = spawn('/bin/sh', ['-s']);
  child.stdin.write(
    `{\n${lockHolder({ stateDir, holder, timeout, marker: MARKER, path: '/usr/local/bin', ...(then ? { then } : {}), ...(thenTimeout ? { thenTimeout } : {}) }).text}\n}\n`,
  );
  children.push(child);
  let out = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer): void => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitFor = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (out.includes(text)) resolve();
      };
      waiters.push(check);
      check();
      void exited.then(() =>
        out.includes(text) ? resolve() : reject(new Error(`the lock holder ended without printing ${text}: ${out}`)),
      );
    });
  return { child, output: () => out, exited, waitFor };
}

/** A process that still runs (a zombie nobody reaped has ended). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function until(done: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

describe('the release lock, run locally', () => {
  it('is taken, refused to a second holder with who holds it, and free again when the first goes away', async () => {
    const stateDir = join(work, 'lock-state');
    const first = startHolder(stateDir, '{"action":"deploy-backend","actor":"alice"}', 5);
    await first.waitFor(`${MARKER} locked\n`);
    expect(readFileSync(join(stateDir, 'holder'), 'utf8')).toBe('{"action":"deploy-backend","actor":"alice"}\n');
    first.child.stdin.write('.\n');

    const second = startHolder(stateDir, '{"actor":"bob"}', 0);
    expect(await second.exited).toBe(75);
    expect(second.output()).toBe(`${MARKER} timeout {"action":"deploy-backend","actor":"alice"} \n`);

    const waiting = startHolder(stateDir, '{"actor":"carol"}', 1);
    expect(await waiting.exited).toBe(75);
    expect(waiting.output()).toContain(`${MARKER} held {"action":"deploy-backend","actor":"alice"}`);
    expect(waiting.output()).toContain(`${MARKER} timeout `);

    first.child.stdin.end();
    expect(await first.exited).toBe(0);
    expect(readFileSync(join(stateDir, 'holder'), 'utf8')).toBe('');

    const third = startHolder(stateDir, '{"actor":"dave"}', 0);
    await third.waitFor(`${MARKER} locked\n`);
    third.child.stdin.end();
    expect(await third.exited).toBe(0);
  });

  it('runs the first questions under the lock on the same channel, then keeps holding it', async () => {
    const stateDir = join(work, 'lock-then');
    const question = new Shell(
      programText({
        path: '/usr/bin:/bin',
        marker: MARKER,
        script: sh`nr_value holder "$(cat ${join(stateDir, 'holder')})"; read -r nr_x && nr_value stdin "$nr_x"; exit 7`,
      }),
    );
    const first = startHolder(stateDir, 'first', 5, question);
    await first.waitFor(`${MARKER} state 7\n`);
    // It asked after locking (the holder file was written), and could not eat the heartbeats.
    expect(first.output()).toBe(`${MARKER} locked\n${MARKER} value holder first\n${MARKER} state 7\n`);
    const second = startHolder(stateDir, 'second', 0);
    expect(await second.exited).toBe(75);
    first.child.stdin.end();
    expect(await first.exited).toBe(0);
  });

  it('defect 12.3: a runner that goes away during the first questions ends them and frees the lock at once', async () => {
    const stateDir = join(work, 'lock-gone-during-state');
    // A hung fetch: a process of the questions and one it started in the background, both waiting for ever.
    const hung = new Shell(
      programText({
        path: '/usr/bin:/bin',
        marker: MARKER,
        script: sh`sleep 300 & nr_value child "$!"; sh -c 'sleep 301 & echo $!; wait' | { read -r nr_p; nr_value grandchild "$nr_p"; cat; }`,
      }),
    );
    const first = startHolder(stateDir, 'first', 5, hung);
    await first.waitFor(`${MARKER} value grandchild `);
    const pids = [...first.output().matchAll(/value (?:child|grandchild) (\d+)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    const started = Date.now();
    first.child.stdin.end();
    const code = await Promise.race([first.exited, new Promise((r) => setTimeout(() => r('still holding'), 5000))]);
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(first.output()).not.toContain('state');
    expect(readFileSync(join(stateDir, 'holder'), 'utf8')).toBe('');
    // the lock is free, and nothing the questions started is left running
    const next = startHolder(stateDir, 'next', 0);
    await next.waitFor(`${MARKER} locked\n`);
    next.child.stdin.end();
    expect(await next.exited).toBe(0);
    await until(() => !pids.some(alive));
    expect(pids.filter(alive)).toEqual([]);
  });

  it('defect 12.3: the first questions are bounded in time on the NAS', async () => {
    const stateDir = join(work, 'lock-state-limit');
    const hung = new Shell(
      programText({ path: '/usr/bin:/bin', marker: MARKER, script: sh`nr_value waiting yes; sleep 300` }),
    );
    const first = startHolder(stateDir, 'first', 5, hung, 1);
    await first.waitFor(`${MARKER} value waiting yes\n`);
    const stateLine = first.waitFor(`${MARKER} state 124\n`);
    await Promise.race([
      stateLine,
      new Promise((_, reject) => setTimeout(() => reject(new Error(first.output())), 5000)),
    ]);
    // still holding the lock for the runner, which decides what to do
    const second = startHolder(stateDir, 'second', 0);
    expect(await second.exited).toBe(75);
    first.child.stdin.end();
    expect(await first.exited).toBe(0);
  });

  it('goes to a waiting holder as soon as it is let go', async () => {
    const stateDir = join(work, 'lock-handover');
    const first = startHolder(stateDir, 'first', 5);
    await first.waitFor(`${MARKER} locked\n`);
    const second = startHolder(stateDir, 'second', 20);
    await second.waitFor(`${MARKER} held first`);
    first.child.stdin.end();
    await second.waitFor(`${MARKER} locked\n`);
    expect(readFileSync(join(stateDir, 'holder'), 'utf8')).toBe('second\n');
    second.child.stdin.end();
    expect(await second.exited).toBe(0);
  });
});

/** Starts a program as the NAS would (on `sh -s`), without waiting for it. */
function startProgram(script: Shell): {
  output: () => string;
  exited: Promise<number | null>;
  waitFor: (text: string) => Promise<void>;
} {
  const child = spawn('/bin/sh', ['-s']);
  children.push(child);
  let out = '';
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.stdin.end(programText({ path: '/usr/bin:/bin', marker: MARKER, script }));
  const waitFor = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (out.includes(text)) resolve();
      };
      waiters.push(check);
      check();
      void exited.then(() =>
        out.includes(text) ? resolve() : reject(new Error(`ended without ${text}: ${out.slice(0, 500)}`)),
      );
    });
  return { output: () => out, exited, waitFor };
}

describe('a detached phase, run locally', () => {
  it('relays the phase output, markers included, and exits with its status', () => {
    const stateDir = join(work, 'phase-state');
    const result = runProgram(
      detached(stateDir, sh`nr_say ok ${"it's $(x)"}; echo plain output; echo to stderr >&2; exit 3`),
    );
    expect(result.status).toBe(3);
    expect(result.markers).toEqual(["ok it's $(x)"]);
    expect(result.stdout).toContain('plain output\n');
    expect(result.stdout).toContain('to stderr\n');
    expect(readFileSync(join(stateDir, 'phase.rc'), 'utf8').trim()).toBe('3');
  });

  it('keeps running to the end when the channel that started it goes away', async () => {
    const stateDir = join(work, 'phase-survives');
    const file = join(work, 'phase finished');
    const text = programText({
      path: '/usr/bin:/bin',
      marker: MARKER,
      script: detached(stateDir, sh`nr_say info started; sleep 1; touch ${file}`),
    });
    const child = spawn('/bin/sh', ['-s']);
    children.push(child);
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    await new Promise<void>((resolve) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes(`${MARKER} info started`)) resolve();
      });
      child.stdin.end(text);
    });
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(file)).toBe(false);
    const deadline = Date.now() + 10_000;
    while (!existsSync(join(stateDir, 'phase.rc')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(join(stateDir, 'phase.rc'), 'utf8').trim()).toBe('0');
  });

  it('defect 12.8: a phase started while another runs reports its own output and status', async () => {
    const stateDir = join(work, 'phase-overlap');
    const a = startProgram(detached(stateDir, sh`nr_say info phase A; sleep 2; echo output of A; exit 3`));
    await a.waitFor(`${MARKER} info phase A`);
    await new Promise((r) => setTimeout(r, 300));
    const b = startProgram(detached(stateDir, sh`nr_say info phase B; echo output of B; exit 5`));
    const [ra, rb] = await Promise.all([a.exited, b.exited]);
    expect(ra).toBe(3);
    expect(a.output()).toContain('output of A');
    expect(a.output()).not.toContain('B');
    expect(rb).toBe(5);
    expect(b.output()).toBe(`${MARKER} info phase B\noutput of B\n`);
    expect(readFileSync(join(stateDir, 'phase.rc'), 'utf8').trim()).toBe('5');
  });

  it('defect 12.9: a phase is handed over as a file: any size, and nothing of it on a command line', async () => {
    const stateDir = join(work, 'phase-as-file');
    const hook = `hook-text-${'h'.repeat(40)}`;
    // over 200 KiB of script, more than one argument may hold
    const big = 'x'.repeat(210 * 1024);
    const script = sh`nr_big=${big}
nr_say info ${hook} "\${#nr_big}"
sleep 1
echo done`;
    const phase = startProgram(detached(stateDir, script));
    await phase.waitFor(`${MARKER} info ${hook} ${big.length}`);
    const args = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(args).not.toContain(hook);
    expect(args).not.toContain(MARKER);
    expect(args).not.toContain('x'.repeat(100));
    expect(await phase.exited).toBe(0);
    expect(phase.output()).toContain('done\n');
    // the file is private while it exists, and gone once the phase is done
    expect(existsSync(join(stateDir, 'phase.sh'))).toBe(false);
  });

  it('makes the next lock holder wait for a phase left running', async () => {
    const stateDir = join(work, 'phase-and-lock');
    const text = programText({
      path: '/usr/bin:/bin',
      marker: MARKER,
      script: detached(stateDir, sh`nr_say info started; sleep 2`),
    });
    const child = spawn('/bin/sh', ['-s']);
    children.push(child);
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('info started') && resolve());
      child.stdin.end(text);
    });
    child.kill('SIGKILL');
    const holder = startHolder(stateDir, 'next', 30);
    await holder.waitFor(`${MARKER} phase waiting for a release phase left running`);
    expect(holder.output()).not.toContain('locked');
    await holder.waitFor(`${MARKER} locked\n`);
    expect(readFileSync(join(stateDir, 'phase.rc'), 'utf8').trim()).toBe('0');
    holder.child.stdin.end();
    await holder.exited;
  });
});

describe('fetchTarget and moveCheckout, run locally against real git repositories', () => {
  const base = join(work, 'git');
  const origin = join(base, 'origin.git');
  const dev = join(base, 'dev');
  const repo = join(base, 'nas checkout');
  const env = {
    ...process.env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.com',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.com',
  };
  const gitIn = (cwd: string, ...args: string[]): string =>
    execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();
  const commit = (file: string, content: string): string => {
    writeFileSync(join(dev, file), content);
    gitIn(dev, 'add', '-A');
    gitIn(dev, 'commit', '-q', '-m', `change ${file}`);
    gitIn(dev, 'push', '-q', 'origin', 'HEAD:main');
    return gitIn(dev, 'rev-parse', 'HEAD');
  };
  const target = (over: Partial<CheckoutTarget> = {}): CheckoutTarget => ({
    repo,
    remote: 'origin',
    branch: 'main',
    ref: '',
    onDirty: 'fail',
    runLabel: 'run 7',
    ...over,
  });
  const fetch = (over: Partial<CheckoutTarget> = {}): Ran =>
    runProgram(fetchTarget(new Renderer(bareTools, false), target(over)), { env });
  const move = (commitSha: string, over: Partial<CheckoutTarget> = {}, dryRun = false): Ran =>
    runProgram(moveCheckout(new Renderer(bareTools, dryRun), target(over), commitSha), { env });

  let first = '';
  let second = '';
  it('finds the tip of the branch without touching the work tree, then moves the checkout there', () => {
    mkdirSync(base, { recursive: true });
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', origin], { env });
    execFileSync('git', ['clone', '-q', origin, dev], { env });
    gitIn(dev, 'checkout', '-q', '-b', 'main');
    first = commit('a.txt', 'one\n');
    execFileSync('git', ['clone', '-q', origin, repo], { env });
    second = commit('a.txt', 'two\n');

    const fetched = fetch();
    expect(fetched.status).toBe(0);
    expect(fetched.values.get('commit')).toBe(second);
    expect(fetched.values.get('subject')).toBe('change a.txt');
    expect(readFileSync(join(repo, 'a.txt'), 'utf8')).toBe('one\n');

    const moved = move(second);
    expect(moved.status).toBe(0);
    expect(moved.markers).toContain(`ok Repository at ${second.slice(0, 7)} on main`);
    expect(readFileSync(join(repo, 'a.txt'), 'utf8')).toBe('two\n');
    expect(gitIn(repo, 'rev-parse', 'main')).toBe(second);
  });

  it('finds a given commit on the branch, and refuses one that is not on it', () => {
    const fetched = fetch({ ref: first });
    expect(fetched.status).toBe(0);
    expect(fetched.values.get('commit')).toBe(first);

    gitIn(dev, 'checkout', '-q', '-b', 'side');
    writeFileSync(join(dev, 'side.txt'), 'x');
    gitIn(dev, 'add', '-A');
    gitIn(dev, 'commit', '-q', '-m', 'side');
    gitIn(dev, 'push', '-q', 'origin', 'side');
    const side = gitIn(dev, 'rev-parse', 'HEAD');
    gitIn(dev, 'checkout', '-q', 'main');
    const refused = fetch({ ref: side });
    expect(refused.status).toBe(20);
    expect(refused.markers).toContain(`fail ref ${side} is not on origin/main`);

    const unknown = fetch({ ref: 'f'.repeat(40) });
    expect(unknown.status).toBe(20);
    expect(unknown.markers).toContain(`fail ref ${'f'.repeat(40)} is not a commit fetched from origin`);
  });

  it('refuses a branch or a remote that does not exist', () => {
    const branch = fetch({ branch: 'nope' });
    expect(branch.status).toBe(20);
    expect(branch.markers).toContain('fail The remote has no branch nope (origin/nope not found)');
    const remote = fetch({ remote: 'upstream' });
    expect(remote.status).toBe(20);
    expect(remote.markers).toContain(`fail git fetch upstream failed in ${repo}`);
  });

  it('with local changes and on-dirty: fail, lists them and changes nothing', () => {
    writeFileSync(join(repo, 'a.txt'), 'local edit\n');
    writeFileSync(join(repo, 'new file.txt'), 'untracked\n');
    const result = move(first);
    expect(result.status).toBe(21);
    expect(result.markers.some((m) => m.startsWith('fail The checkout has local changes'))).toBe(true);
    expect(result.markers).toContain('info    M a.txt');
    expect(result.markers).toContain('info   ?? "new file.txt"');
    expect(readFileSync(join(repo, 'a.txt'), 'utf8')).toBe('local edit\n');
    expect(gitIn(repo, 'rev-parse', 'HEAD')).toBe(second);
  });

  it('in a dry run prints the stash and the checkout instead of running them', () => {
    const result = move(first, { onDirty: 'stash' }, true);
    expect(result.status).toBe(0);
    expect(
      result.markers.some((m) => m.startsWith('info dry-run, would run: git -C') && m.includes(' stash push ')),
    ).toBe(true);
    expect(
      result.markers.some(
        (m) => m.startsWith('info dry-run, would run: git -C') && m.includes(` checkout --quiet -B main ${first}`),
      ),
    ).toBe(true);
    expect(gitIn(repo, 'stash', 'list')).toBe('');
    expect(readFileSync(join(repo, 'a.txt'), 'utf8')).toBe('local edit\n');
    expect(gitIn(repo, 'rev-parse', 'HEAD')).toBe(second);
  });

  it('with on-dirty: stash, stashes the changes and moves', () => {
    const result = move(first, { onDirty: 'stash' });
    expect(result.status).toBe(0);
    expect(result.markers.some((m) => m.startsWith('warn Local changes in the checkout were stashed'))).toBe(true);
    expect(gitIn(repo, 'stash', 'list')).toContain('nas-release: local changes before run 7');
    expect(readFileSync(join(repo, 'a.txt'), 'utf8')).toBe('one\n');
    expect(existsSync(join(repo, 'new file.txt'))).toBe(false);
  });

  it('with on-dirty: reset, discards the changes and moves', () => {
    writeFileSync(join(repo, 'a.txt'), 'another edit\n');
    writeFileSync(join(repo, 'junk.txt'), 'junk\n');
    const result = move(second, { onDirty: 'reset' });
    expect(result.status).toBe(0);
    expect(result.markers).toContain('warn Local changes in the checkout were discarded (on-dirty: reset)');
    expect(readFileSync(join(repo, 'a.txt'), 'utf8')).toBe('two\n');
    expect(existsSync(join(repo, 'junk.txt'))).toBe(false);
  });

  it('switches a detached checkout back to the branch, with a warning', () => {
    gitIn(repo, 'checkout', '-q', '--detach', first);
    const result = move(second);
    expect(result.status).toBe(0);
    expect(
      result.markers.some(
        (m) =>
          m.startsWith(`warn The checkout was detached at ${first.slice(0, 7)}`) &&
          m.includes('switching it back to branch main.'),
      ),
    ).toBe(true);
    expect(gitIn(repo, 'symbolic-ref', '--short', 'HEAD')).toBe('main');
    expect(gitIn(repo, 'rev-parse', 'HEAD')).toBe(second);
    expect(gitIn(repo, 'rev-parse', '--abbrev-ref', 'main@{upstream}')).toBe('origin/main');
  });
});

describe('the health waits, run locally against a stand-in docker', () => {
  const dir = join(work, 'health');
  mkdirSync(dir, { recursive: true });
  /** `nr_docker inspect --format F NAME` prints the state kept in a file named after the container ("missing" when there is none). */
  const fakeDocker = sh`nr_docker() { cat ${dir}/"$4" 2>/dev/null; }`;
  const state = (name: string, text: string): void => writeFileSync(join(dir, name), `${text}\n`);
  const wait = (script: Shell): Ran => runProgram(lines(fakeDocker, HEALTH, script));

  it('a healthy container passes at once', () => {
    state('api', 'running healthy 0');
    const result = wait(sh`nr_wait_container api 10 ''`);
    expect(result.status).toBe(0);
    expect(result.markers).toEqual([]);
  });

  /** "At once": within the second it started, or the next one when the wait began just before a second's end. */
  const atOnce = (said: string) => expect.stringMatching(new RegExp(`^${escapeRegExp(said).replace('0s', '[01]s')}$`));

  it('an exited, unhealthy, restarting or missing container fails at once, saying so', () => {
    for (const [text, said] of [
      ['exited none 0', 'fail Container api is exited (after 0s)'],
      ['running unhealthy 0', 'fail Container api is unhealthy (after 0s)'],
      ['restarting none 1', 'fail Container api is restarting (after 0s)'],
    ]) {
      state('api', text);
      const result = wait(sh`nr_wait_container api 10 ''`);
      expect(result.status).toBe(1);
      expect(result.markers).toEqual([atOnce(said)]);
    }
    const missing = wait(sh`nr_wait_container ${'no such'} 10 ''`);
    expect(missing.status).toBe(1);
    expect(missing.markers).toEqual([atOnce('fail Container no such is missing (after 0s)')]);
  });

  it('a container that never becomes healthy fails after the timeout', () => {
    state('slow', 'running starting 0');
    const result = wait(sh`nr_wait_container slow 1 ''`);
    expect(result.status).toBe(1);
    expect(result.markers.at(-1)).toBe(
      'fail Container slow is not healthy after 1s (state: running, health: starting)',
    );
  });

  it('a stack passes when every container runs, healthy where it has a check', () => {
    state('a', 'running healthy 0');
    state('b', 'running none 3');
    const result = wait(sh`nr_wait_stack 10 a b`);
    expect(result.status).toBe(0);
    expect(result.markers).toEqual([atOnce('ok Health: 2/2 containers healthy (0s)')]);
  });

  it('a stack fails after the timeout, naming the containers that are not healthy', () => {
    state('a', 'running healthy 0');
    state('c', 'exited none 0');
    const result = wait(sh`nr_wait_stack 1 a c gone`);
    expect(result.status).toBe(1);
    expect(result.markers.at(-1)).toBe('fail Health: 1/3 containers healthy after 1s; not healthy: c gone');
    expect(result.values.get('unhealthy')).toBe(' c gone');
  });
});
