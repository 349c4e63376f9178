import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { envFileStep, type EnvFileStep } from '../../src/programs/env-file.js';
import { Renderer, bareTools } from '../../src/remote/command.js';
import { PRELUDE } from '../../src/remote/program.js';
import { lines, sh, type Shell } from '../../src/remote/shell.js';

const T1 = '2026.01.10-1111111';
const T2 = '2026.01.20-2222222';
const SHELLS: string[][] = [['dash'], ['busybox', 'sh']];

describe.each(SHELLS)('the environment file step, run by %s', (...shell) => {
  const work = mkdtempSync(join(tmpdir(), 'env-step-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const r = new Renderer(bareTools, false);

  /** Runs the step's shell and says what nr_env_changed ended as. */
  function run(part: Shell): string {
    const text = lines(sh`NR_M=MARK`, PRELUDE, part, sh`echo "CHANGED=$nr_env_changed"`).text;
    const out = execFileSync(shell[0], [...shell.slice(1), '-c', text], { encoding: 'utf8' });
    return /CHANGED=(.*)/.exec(out)?.[1] ?? '';
  }

  it('writes the release file, keeps the one of before, and its undo puts that back; a rollback puts the target back', () => {
    const repo = join(work, 'repo');
    mkdirSync(join(repo, 'backend'), { recursive: true });
    mkdirSync(join(repo, '.git'), { recursive: true });
    const file = join(repo, 'backend/.env');
    writeFileSync(file, 'A=before\n');
    const plan = { repo, path: 'backend/.env', stateDir: join(repo, '.git/nas-release') };
    const release: EnvFileStep = { plan, content: 'A=release\n' };

    const step = envFileStep(r, release, { tag: T2, previous: T1 });
    // nothing kept for T2 yet: a colour already running T2 did not start with this content
    expect(run(step.before)).toBe('1');
    expect(readFileSync(file, 'utf8')).toBe('A=release\n');
    expect(readFileSync(join(plan.stateDir, `env/${T2}.env`), 'utf8')).toBe('A=release\n');
    expect(readFileSync(join(plan.stateDir, `env/${T1}.env`), 'utf8')).toBe('A=before\n');
    // the same content again (a re-run): a warm colour of T2 read the same file
    expect(run(step.before)).toBe('');
    run(step.undo);
    expect(readFileSync(file, 'utf8')).toBe('A=before\n');

    // a rollback to T2 without content: its kept file comes back; its undo, the one of T1
    const back = envFileStep(r, { plan, content: '' }, { tag: T2, previous: T1 });
    run(back.before);
    expect(readFileSync(file, 'utf8')).toBe('A=release\n');
    run(back.undo);
    expect(readFileSync(file, 'utf8')).toBe('A=before\n');
  });

  it('the undo of an operation whose services ran different releases puts back exactly the file of before', () => {
    const repo = join(work, 'mixed');
    mkdirSync(join(repo, '.git'), { recursive: true });
    mkdirSync(join(repo, 'backend'), { recursive: true });
    const file = join(repo, 'backend/.env');
    writeFileSync(file, 'A=hand-made\n');
    const plan = { repo, path: 'backend/.env', stateDir: join(repo, '.git/nas-release') };
    const step = envFileStep(r, { plan, content: 'A=new\n' }, { tag: T2, previous: `before-${T2}` });
    run(step.before);
    expect(readFileSync(file, 'utf8')).toBe('A=new\n');
    run(step.undo);
    expect(readFileSync(file, 'utf8')).toBe('A=hand-made\n');
  });
});
