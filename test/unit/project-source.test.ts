import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { readBackupBackend, readDeployBackend, readRollbackBackend } from '../../src/inputs/backend.js';
import { readDeployMonitoring } from '../../src/inputs/monitoring.js';
import { InputError, InputReader } from '../../src/inputs/reader.js';
import {
  composeProjectOf,
  pruneReleases,
  receiveRelease,
  switchFunction,
  switchRelease,
} from '../../src/programs/releases.js';
import { bareTools, Renderer } from '../../src/remote/command.js';
import { lines, Shell, sh } from '../../src/remote/shell.js';
import { stateDirOf } from '../../src/remote/state-dir.js';
import { projectArchive, runnerCheckout, shippedPaths } from '../../src/runner/project.js';

const conn = { host: 'nas.local', username: 'deploy', password: 'pw', 'insecure-skip-host-key-check': 'true' };
const reader = (action: string, raw: Record<string, string>): InputReader =>
  new InputReader(action, (name) => ({ ...conn, ...raw })[name]);

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError, nothing was thrown');
}

describe('project-source input', () => {
  it('is git by default, runner when asked, and nothing else', () => {
    expect(readDeployBackend(reader('deploy-backend', {})).conn.projectSource).toBe('git');
    expect(readDeployBackend(reader('deploy-backend', { 'project-source': 'runner' })).conn.projectSource).toBe(
      'runner',
    );
    expect(inputError(() => readDeployBackend(reader('deploy-backend', { 'project-source': 'svn' }))).input).toBe(
      'project-source',
    );
  });

  it('refuses, naming the input, what a release shipped from the runner does not do yet', () => {
    const runner = { 'project-source': 'runner' };
    expect(
      inputError(() => readDeployBackend(reader('deploy-backend', { ...runner, 'env-file-content': 'A=1' }))).input,
    ).toBe('env-file-content');
    expect(
      inputError(() => readRollbackBackend(reader('rollback-backend', { ...runner, 'restore-backup': 'auto' }))).input,
    ).toBe('restore-backup');
    expect(inputError(() => readBackupBackend(reader('backup-backend', runner))).message).toMatch(
      /project-source.*not supported by backup-backend/,
    );
    expect(inputError(() => readDeployMonitoring(reader('deploy-monitoring', runner))).message).toMatch(
      /project-source.*not supported by deploy-monitoring/,
    );
  });

  it('keeps the state beside the releases when there is no .git', () => {
    expect(stateDirOf('/v/app')).toBe('/v/app/.git/nas-release');
    expect(stateDirOf('/v/app', 'runner')).toBe('/v/app/.nas-release');
  });

  it('pins the compose project a git checkout would have, and ships the folders a release needs', () => {
    expect(composeProjectOf('/v/app', 'backend/docker-compose.yml')).toBe('backend');
    expect(composeProjectOf('/v/My App', 'docker-compose.yml')).toBe('myapp');
    expect(shippedPaths({ composeFile: 'backend/docker-compose.yml', buildContext: 'backend' })).toEqual(['backend']);
    expect(shippedPaths({ composeFile: 'docker-compose.yml' })).toEqual(['.']);
    expect(
      shippedPaths({ composeFile: 'deploy/compose.yml', buildContext: './src', dockerfile: 'docker/api.Dockerfile' }),
    ).toEqual(['deploy', 'src', 'docker/api.Dockerfile']);
  });
});

/** The release folders' shell, run with real shells: dash, and BusyBox's sh with its own userland (a NAS's). */
const work = mkdtempSync(join(tmpdir(), 'releases-shell-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const busyboxBin = join(work, 'bb');
if (BUSYBOX) {
  mkdirSync(busyboxBin);
  for (const applet of ['sh', 'mkdir', 'rm', 'mv', 'ln', 'readlink', 'tar', 'gunzip', 'cat', '['])
    symlinkSync(BUSYBOX, join(busyboxBin, applet));
}
const SHELLS: Array<[string, string, Record<string, string>]> = [
  ['dash', 'dash', {}],
  ...(BUSYBOX
    ? [['busybox', join(busyboxBin, 'sh'), { PATH: busyboxBin }] as [string, string, Record<string, string>]]
    : []),
];
const live = new Renderer(bareTools, false);
const STUBS = new Shell(`nr_say() { printf '%s %s\\n' "$1" "$2"; }
nr_value() { printf 'value %s=%s\\n' "$1" "$2"; }`);

function run(shell: string, env: Record<string, string>, script: Shell, input?: Buffer): { code: number; out: string } {
  const r = spawnSync(shell, ['-c', lines(STUBS, script).text], {
    encoding: 'utf8',
    input,
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

/** A gzip-compressed tar of one file, made by the system's tar. */
function archive(file: string, content: string): Buffer {
  const src = mkdtempSync(join(work, 'src-'));
  mkdirSync(join(src, 'backend'));
  writeFileSync(join(src, 'backend', file), content);
  const tar = spawnSync('tar', ['-cf', '-', '-C', src, 'backend']);
  return gzipSync(tar.stdout);
}

describe.each(SHELLS)('release folders with %s', (_, shell, env) => {
  it('receives a whole archive into releases/<tag>, and a cut one not at all', () => {
    const root = mkdtempSync(join(work, 'root-'));
    const whole = archive('docker-compose.yml', 'services: {}\n');
    const ok = run(shell, env, receiveRelease(root, '2026.01.09-abc1234').script, whole);
    expect(ok.code, ok.out).toBe(0);
    expect(readFileSync(join(root, 'releases/2026.01.09-abc1234/backend/docker-compose.yml'), 'utf8')).toBe(
      'services: {}\n',
    );
    const cut = run(shell, env, receiveRelease(root, '2026.01.10-def5678').script, whole.subarray(0, whole.length - 9));
    expect(cut.code).not.toBe(0);
    expect(cut.out).toContain('cut or corrupt');
    // no release folder and no leftover of the cut stream
    expect(readdirSync(join(root, 'releases'))).toEqual(['2026.01.09-abc1234']);
    // a folder already there is kept as it is
    const again = run(shell, env, receiveRelease(root, '2026.01.09-abc1234').script, archive('other', 'x'));
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('value existed=yes');
    expect(existsSync(join(root, 'releases/2026.01.09-abc1234/backend/other'))).toBe(false);
  });

  it('switches current between release folders, and changes nothing for a missing folder or a current that is no link', () => {
    const root = mkdtempSync(join(work, 'root-'));
    for (const t of ['a', 'b']) mkdirSync(join(root, 'releases', t), { recursive: true });
    const to = (tag: string): { code: number; out: string } =>
      run(
        shell,
        env,
        sh`${switchFunction(root)}
${switchRelease(live, tag)}`,
      );
    expect(to('a').code).toBe(0);
    expect(readlinkSync(join(root, 'current'))).toBe('releases/a');
    expect(to('b').code).toBe(0);
    expect(readlinkSync(join(root, 'current'))).toBe('releases/b');
    expect(to('gone').code).not.toBe(0);
    expect(readlinkSync(join(root, 'current'))).toBe('releases/b');
    // the link is renamed over the old one: no stray link left beside it
    expect(readdirSync(root).sort()).toEqual(['current', 'releases']);
    rmSync(join(root, 'current'));
    mkdirSync(join(root, 'current'));
    const refused = to('a');
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain('is not a link');
    expect(lstatSync(join(root, 'current')).isDirectory()).toBe(true);
    expect(readdirSync(join(root, 'current'))).toEqual([]);
  });

  it('prunes the folders of removed tags, never the current one', () => {
    const root = mkdtempSync(join(work, 'root-'));
    for (const t of ['a', 'b', 'c']) mkdirSync(join(root, 'releases', t), { recursive: true });
    symlinkSync('releases/b', join(root, 'current'));
    const pruned = run(shell, env, pruneReleases(live, root, ['a', 'b']).script);
    expect(pruned.code, pruned.out).toBe(0);
    expect(pruned.out).toContain('value gone= a');
    expect(readdirSync(join(root, 'releases')).sort()).toEqual(['b', 'c']);
  });
});

/** The runner's side: a real git checkout in a temporary folder as GITHUB_WORKSPACE. */
describe('the runner ships its checkout', () => {
  const git = (dir: string, ...args: string[]): string =>
    spawnSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).stdout;
  function checkout(): { dir: string; sha: string } {
    const dir = mkdtempSync(join(work, 'ws-'));
    git(dir, 'init', '-q');
    mkdirSync(join(dir, 'backend'));
    writeFileSync(join(dir, 'backend/docker-compose.yml'), 'services: {}\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'First: compose');
    writeFileSync(join(dir, 'backend/.env'), 'SECRET=1\n');
    return { dir, sha: git(dir, 'rev-parse', 'HEAD').trim() };
  }
  async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }
  const saved = { ws: process.env.GITHUB_WORKSPACE, sha: process.env.GITHUB_SHA };
  afterAll(() => {
    process.env.GITHUB_WORKSPACE = saved.ws;
    process.env.GITHUB_SHA = saved.sha;
    if (saved.ws === undefined) delete process.env.GITHUB_WORKSPACE;
    if (saved.sha === undefined) delete process.env.GITHUB_SHA;
  });

  it('names the release by the checkout, and refuses a ref it does not hold before connecting', async () => {
    const { dir, sha } = checkout();
    process.env.GITHUB_WORKSPACE = dir;
    delete process.env.GITHUB_SHA;
    expect(await runnerCheckout('')).toEqual({ commit: sha, subject: 'First: compose', git: true });
    await expect(runnerCheckout('f'.repeat(40))).rejects.toThrow(/ref is fffffff, but the runner's checkout .* is at/);
    process.env.GITHUB_WORKSPACE = mkdtempSync(join(work, 'plain-'));
    await expect(runnerCheckout('')).rejects.toThrow(/not a git checkout and GITHUB_SHA is not set/);
  });

  it('archives the tracked files only, and fails the stream for a path the checkout does not have', async () => {
    const { dir } = checkout();
    process.env.GITHUB_WORKSPACE = dir;
    const tar = gunzipSync(await collect(projectArchive(['backend'], true))).toString('latin1');
    expect(tar).toContain('backend/docker-compose.yml');
    expect(tar).not.toContain('backend/.env');
    await expect(collect(projectArchive(['nowhere'], true))).rejects.toThrow(/git archive of nowhere failed/);
    await expect(collect(projectArchive(['nowhere'], false))).rejects.toThrow(/tar of nowhere failed/);
  });
});
