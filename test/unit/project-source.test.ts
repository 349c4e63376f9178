import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { readDeployBackend } from '../../src/inputs/backend.js';
import { readDeployMonitoring } from '../../src/inputs/monitoring.js';
import { InputError, InputReader } from '../../src/inputs/reader.js';
import { fetchTarget, moveCheckout } from '../../src/programs/checkout.js';
import { preflightQuestions } from '../../src/programs/preflight.js';
import { pruneReleases, putBackTree, receiveRelease, switchTree, takeTreeOf } from '../../src/programs/releases.js';
import { releasePaths } from '../../src/release/project-from-runner.js';
import { bareTools, Renderer } from '../../src/remote/command.js';
import { lines, Shell, sh } from '../../src/remote/shell.js';
import { runnerTree, stateDirOf } from '../../src/remote/state-dir.js';

const conn = { host: 'nas.local', username: 'deploy', password: 'pw', 'insecure-skip-host-key-check': 'true' };
const reader = (action: string, raw: Record<string, string>): InputReader =>
  new InputReader(action, (name) => ({ ...conn, ...raw })[name]);
const live = new Renderer(bareTools, false);
const dry = new Renderer(bareTools, true);
const COMMIT = 'abc1234'.padEnd(40, '0');

describe('project-source input', () => {
  it('git by default: repo-path is the work tree, the state in its .git', () => {
    const d = readDeployBackend(reader('deploy-backend', { 'repo-path': '/v/app/repo' }));
    expect(d.conn.repoPath).toBe('/v/app/repo');
    expect(d.conn.releaseRoot).toBeUndefined();
    expect(stateDirOf(d.conn.repoPath)).toBe('/v/app/repo/.git/nas-release');
  });

  it('runner: the work tree is a folder under repo-path named as it, so compose names the project alike', () => {
    const d = readDeployBackend(reader('deploy-backend', { 'repo-path': '/v/app/repo/', 'project-source': 'runner' }));
    expect(d.conn.releaseRoot).toBe('/v/app/repo');
    expect(d.conn.repoPath).toBe('/v/app/repo/repo');
    expect(stateDirOf(d.conn.repoPath)).toBe('/v/app/repo/.nas-release');
    // features read the same work tree: the backups' default folder stays beside it
    expect(d.backups.dir).toBe('/v/app/repo/backups');
  });

  it('refuses another value, and / as the folder of the releases, naming the input', () => {
    const error = (raw: Record<string, string>): InputError => {
      try {
        readDeployBackend(reader('deploy-backend', raw));
      } catch (err) {
        return err as InputError;
      }
      throw new Error('expected an InputError');
    };
    expect(error({ 'project-source': 'svn' }).input).toBe('project-source');
    expect(error({ 'project-source': 'runner', 'repo-path': '/' }).input).toBe('repo-path');
  });

  it('every action that ships takes it: deploy-monitoring too', () => {
    const m = readDeployMonitoring(reader('deploy-monitoring', { 'repo-path': '/v/mon', 'project-source': 'runner' }));
    expect(m.conn.repoPath).toBe('/v/mon/mon');
  });
});

describe('what a release ships from the runner', () => {
  const backend = { conn: { releaseRoot: '/r' }, target: { composeFile: 'backend/docker-compose.yml' } };
  it('the compose folder, and the build context and Dockerfile when the NAS builds', () => {
    expect(
      releasePaths({ ...backend, source: { kind: 'nas' }, buildContext: 'src', dockerfile: 'docker/api' } as never),
    ).toEqual(['backend', 'docker/api', 'src']);
    expect(
      releasePaths({ ...backend, source: { kind: 'nas' }, buildContext: 'backend', dockerfile: '' } as never),
    ).toEqual(['backend']);
    // an image from the registry or the runner: no build context on the NAS
    expect(
      releasePaths({ ...backend, source: { kind: 'registry' }, buildContext: 'src', dockerfile: '' } as never),
    ).toEqual(['backend']);
  });

  it("each service's build context; the monitoring stack's folder; `.` takes everything once", () => {
    expect(
      releasePaths({
        ...backend,
        source: { kind: 'nas' },
        buildContext: 'backend/api',
        dockerfile: '',
        services: [
          { buildContext: 'backend/api', dockerfile: '' },
          { buildContext: 'web', dockerfile: 'web/Dockerfile.prod' },
        ],
      } as never),
    ).toEqual(['backend', 'web']);
    expect(releasePaths({ conn: {}, stack: { composeFile: 'monitoring/docker-compose.yml' } } as never)).toEqual([
      'monitoring',
    ]);
    expect(
      releasePaths({
        conn: {},
        target: { composeFile: 'docker-compose.yml' },
        buildContext: 'x',
        dockerfile: '',
      } as never),
    ).toEqual(['.']);
  });
});

describe('the checkout layer with project-source: runner', () => {
  const tree = runnerTree('/v/shipped');
  const checkout = { repo: tree, remote: 'origin', branch: 'main', ref: '', runner: { commit: COMMIT, subject: 'S' } };

  it("reports the runner's commit without git, and moves the work tree by taking the release folder's files", () => {
    const fetched = fetchTarget(live, checkout).text;
    expect(fetched).not.toMatch(/git|fetch/);
    expect(fetched).toContain(`nr_value commit ${COMMIT}`);
    const moved = moveCheckout(live, { ...checkout, onDirty: 'fail', runLabel: 'run' }, COMMIT).text;
    expect(moved).toContain(`nr_sync_tree ${COMMIT}`);
    expect(moved).not.toMatch(/\bgit\b/);
    // a git checkout is moved by git, as before
    expect(moveCheckout(live, { ...checkout, repo: '/v/repo', onDirty: 'fail', runLabel: 'run' }, COMMIT).text).toMatch(
      /git.*checkout/,
    );
  });

  it("checks the runner's compose file in the preflight, as the NAS has no git to show it", () => {
    const plan = { repo: tree, file: 'c.yml', services: [{ name: 'api', tagVariable: 'T' }] };
    const b64 = Buffer.from('services: {}\n').toString('base64');
    const withFile = preflightQuestions(plan, { ...checkout, runner: { ...checkout.runner, files: { 'c.yml': b64 } } });
    expect(withFile.after.text).toContain(b64);
    expect(withFile.after.text).not.toContain('nr_git');
    // a compose file the runner's checkout does not have is missing, not unreadable
    expect(preflightQuestions(plan, checkout).after.text).toContain('nr_value compose_error missing');
  });
});

/** The release folders' shell, run with real shells: dash, and BusyBox's sh with its own userland (a NAS's). */
const work = mkdtempSync(join(tmpdir(), 'releases-shell-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const busyboxBin = join(work, 'bb');
if (BUSYBOX) {
  mkdirSync(busyboxBin);
  for (const applet of [
    'sh',
    'mkdir',
    'rm',
    'mv',
    'ln',
    'tar',
    'gunzip',
    'cat',
    '[',
    'find',
    'awk',
    'sed',
    'grep',
    'sort',
    'cp',
    'touch',
    'printf',
  ])
    symlinkSync(BUSYBOX, join(busyboxBin, applet));
}
const SHELLS: Array<[string, string, Record<string, string>]> = [
  ['dash', 'dash', {}],
  ...(BUSYBOX
    ? [['busybox', join(busyboxBin, 'sh'), { PATH: busyboxBin }] as [string, string, Record<string, string>]]
    : []),
];
// nr_docker answers the image tags of NR_TAGS (prune asks which commits still have images)
const STUBS = new Shell(`nr_say() { printf '%s %s\\n' "$1" "$2"; }
nr_value() { printf 'value %s=%s\\n' "$1" "$2"; }
nr_docker() { printf '%s\\n' $NR_TAGS; }`);

function run(shell: string, env: Record<string, string>, script: Shell, input?: Buffer): { code: number; out: string } {
  const r = spawnSync(shell, ['-c', lines(STUBS, script).text], {
    encoding: 'utf8',
    input,
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

/** A gzip-compressed tar of files (path → content), made by the system's tar. */
function archive(files: Record<string, string>): Buffer {
  const src = mkdtempSync(join(work, 'src-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), content);
  }
  return gzipSync(spawnSync('tar', ['-cf', '-', '-C', src, '.']).stdout);
}
const commit = (c: string): string => c.padEnd(40, '0');
const read = (path: string): string | undefined => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);

describe.each(SHELLS)('release folders with %s', (_, shell, env) => {
  it('receives a whole archive into releases/<commit> with its paths, a cut one not at all', () => {
    const root = mkdtempSync(join(work, 'root-'));
    const whole = archive({ 'backend/docker-compose.yml': 'services: {}\n' });
    const ok = run(shell, env, receiveRelease(root, commit('a1'), ['backend']).script, whole);
    expect(ok.code, ok.out).toBe(0);
    expect(read(join(root, `releases/${commit('a1')}/backend/docker-compose.yml`))).toBe('services: {}\n');
    expect(read(join(root, `releases/${commit('a1')}.paths`))).toBe('backend\n');
    const cut = run(
      shell,
      env,
      receiveRelease(root, commit('b2'), ['backend']).script,
      whole.subarray(0, whole.length - 9),
    );
    expect(cut.code).not.toBe(0);
    expect(cut.out).toContain('cut or corrupt');
    expect(readdirSync(join(root, 'releases')).sort()).toEqual([commit('a1'), `${commit('a1')}.paths`]);
    // the same commit again: kept as it is
    const again = run(shell, env, receiveRelease(root, commit('a1'), ['backend']).script, whole);
    expect(again.out).toContain('value existed=yes');
    // the same commit for another stack's folder: its folder takes both
    const mon = run(
      shell,
      env,
      receiveRelease(root, commit('a1'), ['monitoring']).script,
      archive({ 'monitoring/docker-compose.yml': 'm\n' }),
    );
    expect(mon.code, mon.out).toBe(0);
    expect(read(join(root, `releases/${commit('a1')}/backend/docker-compose.yml`))).toBe('services: {}\n');
    expect(read(join(root, `releases/${commit('a1')}/monitoring/docker-compose.yml`))).toBe('m\n');
    expect(read(join(root, `releases/${commit('a1')}.paths`))).toBe('backend\nmonitoring\n');
  });

  it('gives the work tree a release as git checkout would: files written and removed under its paths, others left alone', () => {
    const root = mkdtempSync(join(work, 'root-'));
    const tree = runnerTree(root);
    const receive = (c: string, paths: string[], files: Record<string, string>): void => {
      const got = run(shell, env, receiveRelease(root, commit(c), paths).script, archive(files));
      expect(got.code, got.out).toBe(0);
    };
    const take = (c: string): { code: number; out: string } =>
      run(shell, env, switchTree(live, tree, commit(c), sh`exit 22`) ?? sh`exit 99`);
    receive('a1', ['backend'], { 'backend/app': 'one\n', 'backend/old': 'old\n' });
    expect(take('a1').code).toBe(0);
    // what the NAS keeps in the work tree (an environment file, the proxy's upstream file) and another stack's files
    writeFileSync(join(tree, 'backend/.env'), 'SECRET=1\n');
    receive('m1', ['monitoring'], { 'monitoring/prom.yml': 'p\n' });
    expect(take('m1').code).toBe(0);
    receive('b2', ['backend'], { 'backend/app': 'two\n' });
    const b2 = take('b2');
    expect(b2.code, b2.out).toBe(0);
    expect(read(join(tree, 'backend/app'))).toBe('two\n');
    expect(read(join(tree, 'backend/old'))).toBeUndefined();
    expect(read(join(tree, 'backend/.env'))).toBe('SECRET=1\n');
    expect(read(join(tree, 'monitoring/prom.yml'))).toBe('p\n');
    expect(read(join(stateDirOf(tree), 'tree'))).toBe(`${commit('b2')}\n`);
    // a rollback by tag puts the first release's files back
    const back = run(shell, env, putBackTree(live, tree, `2026.01.09-${'a1'.padEnd(7, '0')}`) ?? sh`exit 99`);
    expect(back.code, back.out).toBe(0);
    expect(read(join(tree, 'backend/old'))).toBe('old\n');
    expect(read(join(tree, 'backend/app'))).toBe('one\n');
    // no folder: a rollback that needs one ends, the files as they were
    const none = run(shell, env, takeTreeOf(live, tree, `monitoring-2026.01.09-${'f'.repeat(7)}`, sh`exit 22`) ?? sh``);
    expect(none.code).toBe(22);
    expect(read(join(tree, 'backend/app'))).toBe('one\n');
    // a missing folder changes nothing either
    expect(take('c3').code).toBe(22);
    expect(read(join(stateDirOf(tree), 'tree'))).toBe(`${commit('a1')}\n`);
  });

  it('prunes the folders of removed images, never the one in use or one an image still names', () => {
    const root = mkdtempSync(join(work, 'root-'));
    const tree = runnerTree(root);
    for (const c of ['a1', 'b2', 'c3', 'd4']) {
      const got = run(shell, env, receiveRelease(root, commit(c), ['x']).script, archive({ 'x/f': c }));
      expect(got.code, got.out).toBe(0);
    }
    expect(run(shell, env, switchTree(live, tree, commit('a1'), sh`exit 22`) ?? sh``).code).toBe(0);
    const tag = (c: string): string => `2026.01.09-${c.padEnd(7, '0')}`;
    const prune = pruneReleases(live, tree, [tag('a1'), tag('b2'), tag('c3')], [tag('d4')]);
    // c3's image still has another tag (another service's image, say)
    const out = run(shell, { ...env, NR_TAGS: `latest ${tag('d4')} 2026.01.10-${'c3'.padEnd(7, '0')}` }, prune!.script);
    expect(out.code, out.out).toBe(0);
    expect(
      readdirSync(join(root, 'releases'))
        .filter((f) => !f.endsWith('.paths'))
        .sort(),
    ).toEqual([commit('a1'), commit('c3'), commit('d4')]);
    expect(out.out).toContain(`value gone= ${commit('b2')}`);
    // nothing named or a git checkout: no program at all
    expect(pruneReleases(live, tree, [], [])).toBeUndefined();
    expect(pruneReleases(live, '/v/repo', [tag('a1')], [])).toBeUndefined();
    expect(pruneReleases(dry, tree, [tag('b2')], [])!.script.text).toContain('dry-run: would remove');
  });
});
