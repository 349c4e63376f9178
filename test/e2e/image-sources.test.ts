import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  HEALTH_URL,
  ORIGIN,
  REPO,
  ROOT,
  STATE,
  connection,
  containerImage,
  containerState,
  docker,
  historyLines,
  httpGet,
  originHead,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
  commandLinesDuring,
  asNas,
} from './harness.js';

/** The runner's own engine and the registry of test/nas/image-sources.sh. */
const RUNNER_DOCKER = 'unix:///run/nas-runner/docker.sock';
const REGISTRY = '127.0.0.1:5000';
const REG_USER = readFileSync(join(STATE, 'registry/user'), 'utf8').trim();
const REG_PASSWORD = readFileSync(join(STATE, 'registry/password'), 'utf8').trim();
const PULLED = `${REGISTRY}/nrr-backend`;
const BUILT = 'nrr-backend';

function runnerDocker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: RUNNER_DOCKER } }).trim();
}

/** Removes the images these tests made, on the NAS and on the runner (nothing else). */
function removeOwnImages(): void {
  for (const engine of [undefined, RUNNER_DOCKER]) {
    const env = { ...process.env, ...(engine ? { DOCKER_HOST: engine } : {}) };
    // an image a re-pushed tag left without a name (`<none>`) goes by its id
    const refs = execFileSync('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'], {
      encoding: 'utf8',
      env,
    })
      .split('\n')
      .filter((r) => r.startsWith(`${PULLED}:`) || r.startsWith(`${BUILT}:`))
      .map((r) => (r.split(' ')[0].endsWith(':<none>') ? r.split(' ')[1] : r.split(' ')[0]));
    if (refs.length) execFileSync('docker', ['image', 'rm', '--force', ...refs], { env, stdio: 'ignore' });
  }
}

/** The sample compose file, releasing `image` instead of scanium-backend. */
function composeFor(image: string): string {
  const seed = readFileSync(join(ROOT, 'test/nas/app/backend/docker-compose.yml'), 'utf8');
  expect(seed).toContain('image: scanium-backend:${BACKEND_TAG:-latest}');
  return seed.replace('image: scanium-backend:', `image: ${image}:`);
}

/** A runner's workspace: the origin checked out at `sha`, as actions/checkout leaves it. */
function workspaceAt(sha: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'nrr-ws-'));
  // the origin belongs to the NAS user: git reads it for root only with safe.directory in a global config
  const home = mkdtempSync(join(tmpdir(), 'nrr-home-'));
  writeFileSync(join(home, '.gitconfig'), '[safe]\n\tdirectory = *\n');
  execFileSync('git', ['clone', '-q', ORIGIN, dir], { env: { ...process.env, HOME: home } });
  rmSync(home, { recursive: true, force: true });
  execFileSync('git', ['-C', dir, 'checkout', '-q', sha]);
  return dir;
}

/**
 * Rewrites the architecture in an image's config on the runner's engine (docker save, edit, docker load):
 * an image "built for" another platform without a registry from outside or an emulator. Its files stay amd64.
 */
function claimArchitecture(ref: string, architecture: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'nrr-arch-'));
  const env = { ...process.env, DOCKER_HOST: RUNNER_DOCKER };
  try {
    execFileSync('sh', ['-c', 'docker save "$1" | tar -x -C "$2"', 'sh', ref, dir], { env });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      Config: string;
      RepoTags: string[];
    }[];
    const config = JSON.parse(readFileSync(join(dir, manifest[0].Config), 'utf8')) as Record<string, unknown>;
    const text = JSON.stringify({ ...config, architecture });
    const id = createHash('sha256').update(text).digest('hex');
    rmSync(join(dir, manifest[0].Config));
    writeFileSync(join(dir, `${id}.json`), text);
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify([{ ...manifest[0], Config: `${id}.json`, RepoTags: [ref] }]),
    );
    rmSync(join(dir, 'repositories'), { force: true });
    execFileSync('sh', ['-c', 'tar -c -C "$1" . | docker load', 'sh', dir], { env, stdio: 'ignore' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the workflow does before a registry release: build on the runner and push `image:tag` (of `architecture`). */
function buildAndPush(sha: string, tag: string, architecture?: string): void {
  const ws = workspaceAt(sha);
  try {
    push(join(ws, 'backend'), tag, architecture);
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

/** Pushes an image that cannot start (no command: in real life a broken entrypoint, a wrong architecture). */
function pushBroken(tag: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'nrr-broken-'));
  try {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM nas-base:latest\nLABEL broken=no-command\n');
    push(dir, tag);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function push(context: string, tag: string, architecture?: string): void {
  const config = mkdtempSync(join(tmpdir(), 'nrr-cfg-'));
  try {
    runnerDocker('build', '--quiet', '--tag', `${PULLED}:${tag}`, context);
    if (architecture) claimArchitecture(`${PULLED}:${tag}`, architecture);
    execFileSync('docker', ['login', '--username', REG_USER, '--password-stdin', REGISTRY], {
      input: REG_PASSWORD,
      env: { ...process.env, DOCKER_HOST: RUNNER_DOCKER, DOCKER_CONFIG: config },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    execFileSync('docker', ['push', `${PULLED}:${tag}`], {
      env: { ...process.env, DOCKER_HOST: RUNNER_DOCKER, DOCKER_CONFIG: config },
      stdio: 'ignore',
    });
  } finally {
    rmSync(config, { recursive: true, force: true });
  }
}

function nasHas(ref: string): boolean {
  try {
    docker('image', 'inspect', ref);
    return true;
  } catch {
    return false;
  }
}

const registryInputs = (tag: string, password = REG_PASSWORD): Record<string, string> => ({
  'health-url': HEALTH_URL,
  image: PULLED,
  'image-source': 'registry',
  'image-tag': tag,
  'registry-username': REG_USER,
  'registry-password': password,
});
const deploy = (inputs: Record<string, string>, env: Record<string, string> = {}) =>
  runAction('deploy-backend', connection(inputs), { secrets: [REG_PASSWORD, 'wrong-password-123'], env });

describe('image-source: registry and runner against the stand-in NAS and its registry', () => {
  beforeEach(() => {
    resetNas();
    removeOwnImages();
  });
  afterAll(() => {
    resetNas();
    removeOwnImages();
  });

  it('registry: pulls image:image-tag on the NAS, tags it YYYY.MM.DD-<sha7>, runs it; the password is nowhere', async () => {
    const sha = pushCommit({ 'backend/docker-compose.yml': composeFor(PULLED) }, 'Release from the registry');
    buildAndPush(sha, sha);
    expect(nasHas(`${PULLED}:${sha}`)).toBe(false);
    const { result: run, seen } = await commandLinesDuring(() => deploy(registryInputs(sha)));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const tag = tagOf(sha);
    expect(run.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: tag, BACKEND_IMAGE: `${PULLED}:${tag}` });
    expect(containerImage('scanium-backend')).toBe(`${PULLED}:${tag}`);
    expect(containerState('scanium-backend')).toBe('running healthy');
    expect((await httpGet(HEALTH_URL)).status).toBe(200);
    expect(docker('image', 'inspect', '--format', '{{.Id}}', `${PULLED}:${tag}`)).toBe(
      docker('image', 'inspect', '--format', '{{.Id}}', `${PULLED}:${sha}`),
    );
    expect(run.stdout).toContain(`Pulling backend image (${PULLED}:${tag})`);
    expect(run.stdout).toContain(`Logged in to ${REGISTRY}`);
    // masked, and never on a command line of the NAS, in the history, or left in a docker config
    expect(run.stdout).toContain(`::add-mask::${REG_PASSWORD}`);
    expect([...seen].filter((l) => l.includes(REG_PASSWORD))).toEqual([]);
    expect([...seen].some((l) => l.includes('nas-release/phase.sh'))).toBe(true); // the sampling saw the release phase run
    expect(readFileSync(join(REPO, '.git/nas-release/history.jsonl'), 'utf8')).not.toContain(REG_PASSWORD);
    expect(existsSync(join(REPO, '.git/nas-release/registry-auth'))).toBe(false);
    const userConfig = '/home/nas/.docker/config.json';
    expect(existsSync(userConfig) ? readFileSync(userConfig, 'utf8') : '').not.toContain(REGISTRY);
    expect(historyLines().at(-1)).toMatchObject({ action: 'deploy-backend', tag, outcome: 'success' });

    // defect 14.1: a registry-qualified image with a port kept no previous tag (the shell cut the name at its first colon)
    const second = pushCommit({ 'backend/www/version': 'from the registry, two\n' }, 'Second registry release');
    buildAndPush(second, second);
    const run2 = await deploy(registryInputs(second));
    expect(run2.code, run2.stdout).toBe(0);
    expect(run2.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: tagOf(second), PREVIOUS_BACKEND_TAG: tag });
    expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe('from the registry, two\n');
    expect(historyLines().at(-1)).toMatchObject({ tag: tagOf(second), pulled: second });

    // a rollback to a release whose image is gone from the NAS pulls it again (the history knows its registry tag)
    docker('image', 'rm', `${PULLED}:${tag}`, `${PULLED}:${sha}`);
    const back = await runAction(
      'rollback-backend',
      connection({
        'health-url': HEALTH_URL,
        image: PULLED,
        'image-source': 'registry',
        'registry-username': REG_USER,
        'registry-password': REG_PASSWORD,
      }),
      { secrets: [REG_PASSWORD] },
    );
    expect(back.code, back.stdout).toBe(0);
    expect(back.stdout).toContain(
      `Image ${PULLED}:${tag} is not on the NAS: it is pulled from the registry (${PULLED}:${sha})`,
    );
    expect(containerImage('scanium-backend')).toBe(`${PULLED}:${tag}`);
    expect(containerState('scanium-backend')).toBe('running healthy');
    expect(existsSync(join(REPO, '.git/nas-release/registry-auth'))).toBe(false);
  });

  it('registry: a wrong password or a tag never pushed fails before any container changes, naming the image', async () => {
    const sha = pushCommit({ 'backend/docker-compose.yml': composeFor(PULLED) }, 'Release from the registry');
    buildAndPush(sha, sha);
    expect((await deploy(registryInputs(sha))).code).toBe(0);
    const running = `${PULLED}:${tagOf(sha)}`;
    const started = docker('inspect', '--format', '{{.State.StartedAt}}', 'scanium-backend');

    const next = pushCommit({ 'backend/www/version': 'three\n' }, 'Next release');
    buildAndPush(next, next);
    const wrong = await deploy(registryInputs(next, 'wrong-password-123'));
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout).toMatch(
      new RegExp(
        `::error::deploy-backend failed before any container changed: logging in to ${REGISTRY} as ${REG_USER} failed, so ${PULLED}:${next} was not pulled`,
      ),
    );
    expect(containerImage('scanium-backend')).toBe(running);
    expect(docker('inspect', '--format', '{{.State.StartedAt}}', 'scanium-backend')).toBe(started);
    expect(nasHas(`${PULLED}:${tagOf(next)}`)).toBe(false);
    expect(historyLines().at(-1)).toMatchObject({ outcome: 'failure', detail: 'registry login failed' });
    expect(existsSync(join(REPO, '.git/nas-release/registry-auth'))).toBe(false);

    const missing = await deploy(registryInputs('never-pushed'));
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toContain(`pulling ${PULLED}:never-pushed failed: the tag is missing from the registry`);
    expect(containerImage('scanium-backend')).toBe(running);
    expect(docker('inspect', '--format', '{{.State.StartedAt}}', 'scanium-backend')).toBe(started);
    expect(historyLines().at(-1)).toMatchObject({ outcome: 'failure', detail: 'image pull failed' });
    expect((await httpGet(HEALTH_URL)).status).toBe(200);
  });

  it('registry: an image whose config says another architecture is refused before anything changes, naming both', async () => {
    const seed = originHead();
    const sha = pushCommit({ 'backend/docker-compose.yml': composeFor(PULLED) }, 'Release an ARM image');
    buildAndPush(sha, sha, 'arm64');
    const run = await deploy(registryInputs(sha));
    expect(run.code).not.toBe(0);
    expect(run.stdout).toContain(
      `::error::deploy-backend failed before any container changed: the image ${PULLED}:${sha} is built for linux/arm64, but the NAS runs linux/amd64`,
    );
    // nothing changed: the checkout is where it was, no dated tag, no container, no backup folder
    expect(asNas(['git', '-C', REPO, 'rev-parse', 'HEAD']).trim()).toBe(seed);
    expect(nasHas(`${PULLED}:${tagOf(sha)}`)).toBe(false);
    expect(containerImage('scanium-backend')).toBe('');
    expect(historyLines().at(-1)).toMatchObject({ outcome: 'failure', detail: 'image of another platform' });
    expect(existsSync(join(REPO, '.git/nas-release/registry-auth'))).toBe(false);
  });

  it('data safety 31: a registry release that cannot start under a renamed image brings back the NAS-built release; an empty-tag rollback crosses the rename', async () => {
    const built = originHead();
    const first = await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }));
    expect(first.code, first.stdout).toBe(0);
    const before = `scanium-backend:${tagOf(built)}`;
    const id = docker('image', 'inspect', '--format', '{{.Id}}', before);

    const sha = pushCommit({ 'backend/docker-compose.yml': composeFor(PULLED) }, 'Images from the registry');
    pushBroken(sha);
    const run = await deploy(registryInputs(sha));
    expect(run.code).not.toBe(0);
    expect(run.stdout).toContain('No command specified'); // compose's own error
    expect(run.outputs.ROLLED_BACK).toBe('true');
    expect(run.stdout).toMatch(/::error::The release .* could not be created .* and was rolled back to /);
    expect(docker('inspect', '--format', '{{.Image}}', 'scanium-backend')).toBe(id);
    expect(containerState('scanium-backend')).toBe('running healthy');
    expect((await httpGet(HEALTH_URL)).status).toBe(200);
    expect(historyLines().at(-1)).toMatchObject({
      tag: tagOf(sha),
      outcome: 'rolled-back',
      detail: 'container not created',
      ran: { image: before, id },
    });

    // the image fixed: the rename succeeds, then an empty-tag rollback goes back to the NAS-built release
    const fixed = pushCommit({ 'backend/www/version': 'from the registry\n' }, 'Fixed image');
    buildAndPush(fixed, fixed);
    expect((await deploy(registryInputs(fixed))).code).toBe(0);
    expect(containerImage('scanium-backend')).toBe(`${PULLED}:${tagOf(fixed)}`);
    const back = await runAction('rollback-backend', connection({ 'health-url': HEALTH_URL, image: PULLED }));
    expect(back.code, back.stdout).toBe(0);
    expect(back.outputs.DEPLOYED_BACKEND_TAG).toBe(tagOf(built));
    expect(docker('inspect', '--format', '{{.Image}}', 'scanium-backend')).toBe(id);
    expect(containerState('scanium-backend')).toBe('running healthy');
  });

  it('data safety 31: a backend started by hand (no history) comes back when the first registry release cannot start', async () => {
    const app = join(REPO, 'backend');
    docker('build', '--quiet', '--tag', 'scanium-backend:latest', app);
    execFileSync('docker-compose', ['--file', join(app, 'docker-compose.yml'), 'up', '--detach', '--no-build'], {
      cwd: app,
      stdio: 'ignore',
    });
    const id = docker('inspect', '--format', '{{.Image}}', 'scanium-backend');
    expect(historyLines()).toEqual([]);

    const sha = pushCommit({ 'backend/docker-compose.yml': composeFor(PULLED) }, 'Images from the registry');
    pushBroken(sha);
    const run = await deploy(registryInputs(sha));
    expect(run.code).not.toBe(0);
    expect(run.outputs.ROLLED_BACK).toBe('true');
    expect(run.stdout).not.toContain('left for inspection');
    expect(docker('inspect', '--format', '{{.Image}}', 'scanium-backend')).toBe(id);
    expect(containerState('scanium-backend')).toBe('running healthy');
    expect(historyLines().at(-1)).toMatchObject({
      outcome: 'rolled-back',
      ran: { image: 'scanium-backend:latest', id },
    });
  });

  it('runner: builds with the runner engine, streams the image over SSH into the NAS, runs it', async () => {
    const sha = pushCommit(
      { 'backend/docker-compose.yml': composeFor(BUILT), 'backend/www/version': 'built on the runner\n' },
      'Release built on the runner',
    );
    const tag = tagOf(sha);
    const ws = workspaceAt(sha);
    expect(nasHas(`${BUILT}:${tag}`)).toBe(false);
    try {
      const run = await deploy(
        { 'health-url': HEALTH_URL, image: BUILT, 'image-source': 'runner' },
        { DOCKER_HOST: RUNNER_DOCKER, GITHUB_WORKSPACE: ws },
      );
      expect(run.code, run.stdout + run.stderr).toBe(0);
      // built by the runner's engine, and on the NAS only because it crossed the SSH connection
      expect(runnerDocker('image', 'inspect', '--format', '{{.Id}}', `${BUILT}:${tag}`)).toMatch(/^sha256:/);
      expect(docker('image', 'inspect', '--format', '{{.Id}}', `${BUILT}:${tag}`)).toBe(
        runnerDocker('image', 'inspect', '--format', '{{.Id}}', `${BUILT}:${tag}`),
      );
      expect(containerImage('scanium-backend')).toBe(`${BUILT}:${tag}`);
      expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe('built on the runner\n');
      expect(run.stdout).toContain('[2/9] Building the image on the runner and sending it to the NAS...');
      // built for the platform the NAS's engine reported in the first round trip
      const nasPlatform = docker('version', '--format', '{{.Server.Os}}/{{.Server.Arch}}');
      expect(run.stdout).toContain(`Built ${BUILT}:${tag} on the runner for the NAS's platform ${nasPlatform}`);
      expect(runnerDocker('image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', `${BUILT}:${tag}`)).toBe(
        nasPlatform,
      );
      expect(run.stdout).toMatch(
        new RegExp(`Sent ${BUILT}:${tag.replace(/\./g, '\\.')} to the NAS: [\\d.]+ MB compressed .* MB/s`),
      );
      expect(historyLines().at(-1)).toMatchObject({ tag, outcome: 'success' });
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });

  it('runner: a workspace at another commit fails before anything is built or sent', async () => {
    const old = workspaceAt(pushCommit({ 'backend/docker-compose.yml': composeFor(BUILT) }, 'Old'));
    const sha = pushCommit({ 'backend/www/version': 'newer\n' }, 'Newer');
    try {
      const run = await deploy(
        { 'health-url': HEALTH_URL, image: BUILT, 'image-source': 'runner' },
        { DOCKER_HOST: RUNNER_DOCKER, GITHUB_WORKSPACE: old },
      );
      expect(run.code).not.toBe(0);
      expect(run.stdout).toContain(`but this release is ${sha.slice(0, 7)}`);
      expect(nasHas(`${BUILT}:${tagOf(sha)}`)).toBe(false);
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });
});

describe('data safety 9: a registry rollback gets back what the release ran', () => {
  beforeEach(() => {
    resetNas();
    removeOwnImages();
  });
  afterAll(() => {
    resetNas();
    removeOwnImages();
  });

  it('a tag re-pushed with other content since: the rollback pulls the digest of the release, not the tag', async () => {
    const one = pushCommit(
      { 'backend/docker-compose.yml': composeFor(PULLED), 'backend/www/version': 'one\n' },
      'Release one, pushed as moving',
    );
    buildAndPush(one, 'moving');
    const first = await deploy(registryInputs('moving'));
    expect(first.code, first.stdout).toBe(0);
    const id = docker('image', 'inspect', '--format', '{{.Id}}', `${PULLED}:${tagOf(one)}`);
    const recorded = historyLines().at(-1) ?? {};
    expect(recorded).toMatchObject({ tag: tagOf(one), pulled: 'moving', outcome: 'success' });

    // the same tag now names other content, and release one's image is gone from the NAS
    const two = pushCommit({ 'backend/www/version': 'two\n' }, 'Release two, pushed as moving too');
    buildAndPush(two, 'moving');
    const second = await deploy(registryInputs('moving'));
    expect(second.code, second.stdout).toBe(0);
    expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe('two\n');
    docker('image', 'rm', `${PULLED}:${tagOf(one)}`);
    expect(nasHas(id)).toBe(false);

    const back = await runAction(
      'rollback-backend',
      connection({
        'health-url': HEALTH_URL,
        image: PULLED,
        'image-source': 'registry',
        'registry-username': REG_USER,
        'registry-password': REG_PASSWORD,
      }),
      { secrets: [REG_PASSWORD] },
    );
    expect(back.code, back.stdout).toBe(0);
    expect(containerImage('scanium-backend')).toBe(`${PULLED}:${tagOf(one)}`);
    expect(docker('image', 'inspect', '--format', '{{.Id}}', `${PULLED}:${tagOf(one)}`)).toBe(id);
    expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe('one\n');
    // the history kept the digest release one was pulled as, and the rollback says it pulled that
    expect(recorded.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(back.stdout).toContain(
      `it is pulled from the registry (${PULLED}:moving) by the digest it was released with (${PULLED}@${recorded.digest})`,
    );
  });
});
