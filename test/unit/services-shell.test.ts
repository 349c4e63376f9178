import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bareTools, Renderer } from '../../src/remote/command.js';
import { allAtOnce } from '../../src/programs/services.js';
import { Shell, sh } from '../../src/remote/shell.js';

/**
 * allAtOnce (the distinct images of a several-service release got at the
 * same time), run locally with real shells: dash, and BusyBox's sh with its
 * own mktemp, cat and rm (a NAS's userland).
 */
const work = mkdtempSync(join(tmpdir(), 'services-shell-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const busyboxBin = join(work, 'bb');
if (BUSYBOX) {
  mkdirSync(busyboxBin);
  for (const applet of ['sh', 'mktemp', 'cat', 'rm', 'sleep', 'touch']) symlinkSync(BUSYBOX, join(busyboxBin, applet));
}
const SHELLS: Array<[string, string, Record<string, string>]> = [
  ['dash', 'dash', {}],
  ...(BUSYBOX
    ? [['busybox', join(busyboxBin, 'sh'), { PATH: busyboxBin }] as [string, string, Record<string, string>]]
    : []),
];
const live = new Renderer(bareTools, false);

function run(shell: string, env: Record<string, string>, script: Shell): { code: number; out: string } {
  const r = spawnSync(shell, ['-c', `${script.text}\necho after`], {
    encoding: 'utf8',
    env: { ...process.env, ...env, TMPDIR: work },
    timeout: 20_000,
  });
  return { code: r.status ?? -1, out: r.stdout };
}

describe.each(SHELLS)('allAtOnce with %s', (_, shell, env) => {
  it('runs the parts at the same time and prints their output in the order of the list', () => {
    const dir = mkdtempSync(join(work, 'ok-'));
    // each part waits (up to 10 s) for the others to have started: one after the other, none would see the next
    const started = (n: number): string => `'${join(dir, `started-${n}`)}'`;
    const part = (n: number, others: number[]): Shell =>
      new Shell(`touch ${started(n)}
nr_i=0; while [ $nr_i -lt 100 ] && { false${others.map((o) => ` || ! [ -e ${started(o)} ]`).join('')}; }; do sleep 0.1; nr_i=$((nr_i + 1)); done
${others.map((o) => `[ -e ${started(o)} ] || { echo 'part ${n} ran alone'; exit 9; }`).join('\n')}
echo 'part ${n} done'`);
    const { code, out } = run(shell, env, allAtOnce(live, [part(0, [1, 2]), part(1, [0, 2]), part(2, [0, 1])]));
    expect(out).toBe('part 0 done\npart 1 done\npart 2 done\nafter\n');
    expect(code).toBe(0);
  });

  it('exits with the code of the first part that failed in the list, once every part has ended', () => {
    const dir = mkdtempSync(join(work, 'fail-'));
    const { code, out } = run(
      shell,
      env,
      allAtOnce(live, [
        sh`echo 'api built'`,
        sh`sleep 0.3; echo 'web failed'; exit 33`,
        sh`sleep 0.6; touch ${join(dir, 'third-ended')}; echo 'third built'; exit 34`,
      ]),
    );
    expect(code).toBe(33);
    expect(out).toBe('api built\nweb failed\n');
    // the phase did not go on while the third part still ran
    expect(existsSync(join(dir, 'third-ended'))).toBe(true);
  });

  it('a failing first part wins over a later one, and the files of the others are removed', () => {
    const dir = mkdtempSync(join(work, 'first-'));
    const record = join(dir, 'folder');
    const { code, out } = run(
      shell,
      env,
      allAtOnce(live, [sh`echo first; exit 35`, sh`printf '%s' "$nr_par" > ${record}; echo second; exit 36`]),
    );
    expect({ code, out }).toEqual({ code: 35, out: 'first\n' });
    const folder = readFileSync(record, 'utf8');
    expect(folder).not.toBe('');
    expect(existsSync(folder)).toBe(false);
  });

  it('without mktemp: one after the other, and the first failure ends it', () => {
    const parts = allAtOnce(live, [sh`echo one`, sh`echo two; exit 37`, sh`echo three`]);
    const { code, out } = run(shell, env, new Shell(`mktemp() { return 1; }\n${parts.text}`));
    expect({ code, out }).toEqual({ code: 37, out: 'one\ntwo\n' });
  });
});

it('a dry run or a single part runs the parts one after the other, as written', () => {
  const parts = [sh`echo one`, sh`echo two`];
  expect(allAtOnce(new Renderer(bareTools, true), parts).text).toBe('echo one\necho two');
  expect(allAtOnce(live, [parts[0]]).text).toBe('echo one');
});
