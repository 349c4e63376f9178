import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ROOT,
  STATE,
  asNas,
  connection,
  containerImage,
  containerState,
  docker,
  httpGet,
  pushCommit,
  runAction,
  tagOf,
} from './harness.js';

/**
 * Several services (issue 14) whose images come from the loopback registry or
 * the runner's own engine (test/nas/image-sources.sh), on the three-service
 * sample of test/nas/services.sh: api and worker from one image, web from another.
 */
const REPO = '/volume1/docker/nrs-multi/repo';
const ORIGIN = '/volume1/git/nrs-multi.git';
const HISTORY = join(REPO, '.git/nas-release/history.jsonl');
const AUTH_DIR = join(REPO, '.git/nas-release/registry-auth');
const RUNNER_DOCKER = 'unix:///run/nas-runner/docker.sock';
const REGISTRY = '127.0.0.1:5000';
const REG_USER = readFileSync(join(STATE, 'registry/user'), 'utf8').trim();
const REG_PASSWORD = readFileSync(join(STATE, 'registry/password'), 'utf8').trim();
const API = `${REGISTRY}/nrs-api`;
const WEB = `${REGISTRY}/nrs-web`;

const servicesFor = (web: string): string => `api tag-variable=API_TAG
worker tag-variable=WORKER_TAG
web image=${web} build-context=nrs/web tag-variable=WEB_TAG health-url=http://127.0.0.1:18102/health`;

const app = (image: string, extra: Record<string, string> = {}): Record<string, string> =>
  connection({
    'repo-path': REPO,
    'compose-file': 'nrs/docker-compose.yml',
    image,
    container: 'nrs-api',
    'build-context': 'nrs/api',
    'health-timeout': '30',
    ...extra,
  });
const registryInputs = { 'registry-username': REG_USER, 'registry-password': REG_PASSWORD };
const fromRegistry = (imageTag: string) =>
  runAction(
    'deploy-backend',
    app(API, { services: servicesFor(WEB), 'image-source': 'registry', 'image-tag': imageTag, ...registryInputs }),
    { secrets: [REG_PASSWORD] },
  );

function runnerDocker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: RUNNER_DOCKER } }).trim();
}

/** Removes the images these tests made on the NAS (the registry's names) and on the runner's engine; nothing else. */
function removeOwnImages(): void {
  const own = (ref: string, names: readonly string[]): boolean => names.some((n) => ref.startsWith(`${n}:`));
  for (const [engine, names] of [
    [undefined, [API, WEB]],
    [RUNNER_DOCKER, [API, WEB, 'nrs-api', 'nrs-web']],
  ] as const) {
    const env = { ...process.env, ...(engine ? { DOCKER_HOST: engine } : {}) };
    const refs = execFileSync('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'], {
      encoding: 'utf8',
      env,
    })
      .split('\n')
      .filter((r) => own(r, names));
    if (refs.length) execFileSync('docker', ['image', 'rm', '--force', ...refs], { env, stdio: 'ignore' });
  }
}

/** The sample back to its seed (containers, images, origin, checkout), and none of these tests' images left. */
function resetApp(): void {
  execFileSync('bash', [join(ROOT, 'test/nas/services.sh')], { stdio: 'pipe' });
  removeOwnImages();
}

/** A runner's workspace: the origin checked out at `sha`, as actions/checkout leaves it. */
function workspaceAt(sha: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'nrs-ws-'));
  // the origin belongs to the NAS user: git reads it for root only with safe.directory in a global config
  const home = mkdtempSync(join(tmpdir(), 'nrs-home-'));
  writeFileSync(join(home, '.gitconfig'), '[safe]\n\tdirectory = *\n');
  execFileSync('git', ['clone', '-q', ORIGIN, dir], { env: { ...process.env, HOME: home } });
  rmSync(home, { recursive: true, force: true });
  execFileSync('git', ['-C', dir, 'checkout', '-q', sha]);
  return dir;
}

/** What the workflow does before a registry release: build each named image on the runner and push it as `tag`. */
function buildAndPush(sha: string, tag: string, images: readonly ('api' | 'web')[]): void {
  const ws = workspaceAt(sha);
  const config = mkdtempSync(join(tmpdir(), 'nrs-cfg-'));
  const env = { ...process.env, DOCKER_HOST: RUNNER_DOCKER, DOCKER_CONFIG: config };
  try {
    execFileSync('docker', ['login', '--username', REG_USER, '--password-stdin', REGISTRY], {
      input: REG_PASSWORD,
      env,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    for (const which of images) {
      const ref = `${which === 'api' ? API : WEB}:${tag}`;
      runnerDocker('build', '--quiet', '--tag', ref, join(ws, 'nrs', which));
      execFileSync('docker', ['push', ref], { env, stdio: 'ignore' });
    }
  } finally {
    rmSync(config, { recursive: true, force: true });
    rmSync(ws, { recursive: true, force: true });
  }
}

/** Pushes `image:tag` that cannot start (no command: in real life a broken entrypoint, a wrong architecture). */
function pushBroken(image: string, tag: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'nrs-broken-'));
  const config = mkdtempSync(join(tmpdir(), 'nrs-cfg-'));
  const env = { ...process.env, DOCKER_HOST: RUNNER_DOCKER, DOCKER_CONFIG: config };
  try {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM nas-base:latest\nLABEL broken=no-command\n');
    runnerDocker('build', '--quiet', '--tag', `${image}:${tag}`, dir);
    execFileSync('docker', ['login', '--username', REG_USER, '--password-stdin', REGISTRY], {
      input: REG_PASSWORD,
      env,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    execFileSync('docker', ['push', `${image}:${tag}`], { env, stdio: 'ignore' });
  } finally {
    rmSync(config, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The sample's compose file naming the registry's images. */
function composeFromRegistry(): string {
  const seed = readFileSync(join(ROOT, 'test/nas/app/multi/docker-compose.yml'), 'utf8');
  expect(seed).toContain('image: nrs-api:${API_TAG');
  expect(seed).toContain('image: nrs-web:${WEB_TAG');
  return seed.replace(/image: nrs-(api|web):/g, `image: ${REGISTRY}/nrs-$1:`);
}

/** The worker's container, named by compose (the sample gives it no container_name). */
function workerContainer(): string {
  return docker(
    'ps',
    '-aq',
    '--filter',
    'label=com.docker.compose.project=nrs',
    '--filter',
    'label=com.docker.compose.service=worker',
  ).split('\n')[0];
}
function images(): { api: string; worker: string; web: string } {
  const worker = workerContainer();
  return {
    api: containerImage('nrs-api'),
    worker: worker ? containerImage(worker) : '',
    web: containerImage('nrs-web'),
  };
}
/** When each service's container started: unchanged means not recreated. */
function startedAt(): string[] {
  return ['nrs-api', workerContainer(), 'nrs-web'].map((c) => docker('inspect', '--format', '{{.State.StartedAt}}', c));
}
function nasHas(ref: string): boolean {
  try {
    execFileSync('docker', ['image', 'inspect', ref], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const head = (): string => asNas(['git', '-C', ORIGIN, 'rev-parse', 'main']).trim();
const history = (): Array<Record<string, unknown>> =>
  existsSync(HISTORY)
    ? readFileSync(HISTORY, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
const count = (text: string, pattern: RegExp): number => (text.match(pattern) ?? []).length;

describe('several services with image-source registry or runner (issue 14)', () => {
  beforeEach(() => resetApp());
  afterAll(() => resetApp());

  it('registry: each distinct image pulled once, all three run the release tag; a missing tag of one image changes nothing; rollback pulls a lost image', async () => {
    const sha = pushCommit({ 'nrs/docker-compose.yml': composeFromRegistry() }, 'Release from the registry', ORIGIN);
    expect(head()).toBe(sha);
    buildAndPush(sha, sha, ['api', 'web']);
    const tag = tagOf(sha);
    const run = await fromRegistry(sha);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(images()).toEqual({ api: `${API}:${tag}`, worker: `${API}:${tag}`, web: `${WEB}:${tag}` });
    expect(containerState('nrs-api')).toBe('running healthy');
    expect((await httpGet('http://127.0.0.1:18102/version')).body).toBe('web one\n');
    // two images for three services: each pulled once, nothing built on the NAS
    expect(count(run.stdout, /::group::docker pull /g)).toBe(2);
    expect(run.stdout).toContain(`::group::docker pull ${API}:${sha}`);
    expect(run.stdout).toContain(`::group::docker pull ${WEB}:${sha}`);
    expect(run.stdout).not.toContain('::group::docker build');
    for (const image of [API, WEB])
      expect(docker('image', 'inspect', '--format', '{{.Id}}', `${image}:${tag}`)).toBe(
        docker('image', 'inspect', '--format', '{{.Id}}', `${image}:${sha}`),
      );
    expect(JSON.parse(run.outputs.DEPLOYED_SERVICES)).toEqual({
      api: { tag, image: API, previous: '' },
      worker: { tag, image: API, previous: '' },
      web: { tag, image: WEB, previous: '' },
    });
    expect(history().at(-1)).toMatchObject({
      outcome: 'success',
      tag,
      pulled: sha,
      services: { api: { tag, pulled: sha }, worker: { tag, pulled: sha }, web: { tag, image: WEB, pulled: sha } },
    });
    // data safety 9: and the digest each image was pulled as, which a rollback pulls rather than the tag
    const digests = history().at(-1)?.digests as Record<string, string>;
    expect(Object.keys(digests).sort()).toEqual([API, WEB].sort());
    for (const image of [API, WEB])
      expect(docker('image', 'inspect', '--format', '{{join .RepoDigests " "}}', `${image}:${tag}`)).toContain(
        `${image}@${digests[image]}`,
      );
    expect(run.stdout).toContain(`::add-mask::${REG_PASSWORD}`);
    expect(readFileSync(HISTORY, 'utf8')).not.toContain(REG_PASSWORD);
    expect(existsSync(AUTH_DIR)).toBe(false);

    // the next release pushed only the api's image: it fails before any container changes, naming web's image
    const next = pushCommit({ 'nrs/web/www/version': 'web two\n' }, 'Web two', ORIGIN);
    buildAndPush(next, next, ['api']);
    const before = startedAt();
    const missing = await fromRegistry(next);
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toContain(
      `::error::deploy-backend failed before any container changed: pulling ${WEB}:${next} failed: the tag is missing from the registry`,
    );
    expect(missing.stdout).toContain('(the image of web)');
    expect(images()).toEqual({ api: `${API}:${tag}`, worker: `${API}:${tag}`, web: `${WEB}:${tag}` });
    expect(startedAt()).toEqual(before);
    expect(nasHas(`${WEB}:${tagOf(next)}`)).toBe(false);
    expect(history().at(-1)).toMatchObject({ outcome: 'failure', detail: 'image pull failed' });
    expect(existsSync(AUTH_DIR)).toBe(false);

    // once pushed, it is released; then web's first image is lost on the NAS and a rollback of web pulls it again
    buildAndPush(next, next, ['web']);
    const second = await fromRegistry(next);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    const two = tagOf(next);
    expect(images()).toEqual({ api: `${API}:${two}`, worker: `${API}:${two}`, web: `${WEB}:${two}` });
    expect((await httpGet('http://127.0.0.1:18102/version')).body).toBe('web two\n');
    docker('image', 'rm', `${WEB}:${tag}`, `${WEB}:${sha}`);
    const apiStarted = docker('inspect', '--format', '{{.State.StartedAt}}', 'nrs-api');
    const { 'build-context': _, ...rollbackInputs } = app(API, {
      services: 'web',
      'image-source': 'registry',
      ...registryInputs,
    });
    const back = await runAction('rollback-backend', rollbackInputs, { secrets: [REG_PASSWORD] });
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(back.stdout).toContain(
      `Image ${WEB}:${tag} (service web) is not on the NAS: it is pulled from the registry (${WEB}:${sha})`,
    );
    expect(back.stdout).toContain(`by the digest it was released with (${WEB}@${digests[WEB]})`);
    expect(images()).toEqual({ api: `${API}:${two}`, worker: `${API}:${two}`, web: `${WEB}:${tag}` });
    expect((await httpGet('http://127.0.0.1:18102/version')).body).toBe('web one\n');
    expect(docker('inspect', '--format', '{{.State.StartedAt}}', 'nrs-api')).toBe(apiStarted);
    expect(history().at(-1)).toMatchObject({
      action: 'rollback-backend',
      outcome: 'success',
      services: { web: { tag, pulled: sha } },
    });
    expect(existsSync(AUTH_DIR)).toBe(false);
  });

  it('data safety 31: the first registry release of renamed images that cannot start brings every NAS-built service back', async () => {
    const built = await runAction('deploy-backend', app('nrs-api', { services: servicesFor('nrs-web') }));
    expect(built.code, built.stdout + built.stderr).toBe(0);
    const ids = (): string[] =>
      ['nrs-api', workerContainer(), 'nrs-web'].map((c) => docker('inspect', '--format', '{{.Image}}', c));
    const before = ids();
    const ran = images();

    const sha = pushCommit({ 'nrs/docker-compose.yml': composeFromRegistry() }, 'Images from the registry', ORIGIN);
    pushBroken(API, sha);
    buildAndPush(sha, sha, ['web']);
    const run = await fromRegistry(sha);
    expect(run.code).not.toBe(0);
    expect(run.outputs.ROLLED_BACK).toBe('true');
    expect(run.stdout).toContain('No command specified'); // compose's own error
    expect(ids()).toEqual(before);
    expect(containerState('nrs-api')).toBe('running healthy');
    expect(containerState(workerContainer())).toBe('running healthy');
    expect((await httpGet('http://127.0.0.1:18102/health')).status).toBe(200);
    expect(history().at(-1)).toMatchObject({
      outcome: 'rolled-back',
      services: { api: { ran: { image: ran.api } }, web: { ran: { image: ran.web } } },
    });
  });

  it("runner: each distinct image built on the runner's engine and sent over SSH once, all three run the release tag", async () => {
    const sha = pushCommit(
      { 'nrs/api/www/version': 'api from the runner\n', 'nrs/web/www/version': 'web from the runner\n' },
      'Built on the runner',
      ORIGIN,
    );
    const tag = tagOf(sha);
    const ws = workspaceAt(sha);
    try {
      expect(nasHas(`nrs-api:${tag}`) || nasHas(`nrs-web:${tag}`)).toBe(false);
      const run = await runAction(
        'deploy-backend',
        app('nrs-api', { services: servicesFor('nrs-web'), 'image-source': 'runner' }),
        { env: { DOCKER_HOST: RUNNER_DOCKER, GITHUB_WORKSPACE: ws } },
      );
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(images()).toEqual({ api: `nrs-api:${tag}`, worker: `nrs-api:${tag}`, web: `nrs-web:${tag}` });
      expect(containerState('nrs-api')).toBe('running healthy');
      expect((await httpGet('http://127.0.0.1:18101/version')).body).toBe('api from the runner\n');
      expect((await httpGet('http://127.0.0.1:18102/version')).body).toBe('web from the runner\n');
      // built by the runner's engine, and on the NAS only because each crossed the SSH connection, once
      for (const image of ['nrs-api', 'nrs-web'])
        expect(docker('image', 'inspect', '--format', '{{.Id}}', `${image}:${tag}`)).toBe(
          runnerDocker('image', 'inspect', '--format', '{{.Id}}', `${image}:${tag}`),
        );
      expect(count(run.stdout, /Sent nrs-api:\S+ to the NAS: /g)).toBe(1);
      expect(count(run.stdout, /Sent nrs-web:\S+ to the NAS: /g)).toBe(1);
      expect(run.stdout).toContain(
        `[2/10] Building the image on the runner and sending it to the NAS (nrs-api:${tag}, for api, worker)...`,
      );
      expect(run.stdout).toContain(
        `[3/10] Building the image on the runner and sending it to the NAS (nrs-web:${tag}, for web)...`,
      );
      // built on the runner only: no build on the NAS
      expect(run.stdout).not.toMatch(/::group::docker build \S+ \(for /);
      expect(count(run.stdout, /::group::docker build \S+ \(on the runner\)/g)).toBe(2);
      // each built for the NAS's platform, and the compose file's three services checked before anything changed
      expect(count(run.stdout, /Built nrs-(api|web):\S+ on the runner for the NAS's platform linux\/amd64/g)).toBe(2);
      expect(run.stdout).toMatch(/service api reads \S+, service worker reads \S+, service web reads \S+/);
      expect(history().at(-1)).toMatchObject({ outcome: 'success', tag, services: { web: { tag } } });
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });
});
