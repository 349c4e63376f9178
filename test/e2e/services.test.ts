import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ROOT,
  asNas,
  connection,
  containerImage,
  containerState,
  docker,
  httpGet,
  runAction,
  tagOf,
  pushCommit,
} from './harness.js';

/** The three-service sample application (test/nas/app/multi, seeded by test/nas/services.sh). */
const REPO = '/volume1/docker/nrs-multi/repo';
const ORIGIN = '/volume1/git/nrs-multi.git';
const HISTORY = join(REPO, '.git/nas-release/history.jsonl');

/** api and worker from one image (the inputs' image and build-context), web from another, checked by its URL. */
const SERVICES = `api tag-variable=API_TAG
worker tag-variable=WORKER_TAG
web image=nrs-web build-context=nrs/web tag-variable=WEB_TAG health-url=http://127.0.0.1:18102/health`;

const app = (extra: Record<string, string> = {}): Record<string, string> =>
  connection({
    'repo-path': REPO,
    'compose-file': 'nrs/docker-compose.yml',
    image: 'nrs-api',
    container: 'nrs-api',
    'build-context': 'nrs/api',
    ...extra,
  });
const deploy = (extra: Record<string, string> = {}) =>
  runAction('deploy-backend', app({ services: SERVICES, 'health-timeout': '30', ...extra }));
const rollback = (extra: Record<string, string> = {}) => {
  const { 'build-context': _, ...inputs } = app(extra);
  return runAction('rollback-backend', inputs);
};

function resetApp(): void {
  execFileSync('bash', [join(ROOT, 'test/nas/services.sh')], { stdio: 'pipe' });
}

/** The worker's container, named by compose (the sample gives it no container_name). */
function workerImage(): string {
  const id = docker(
    'ps',
    '-aq',
    '--filter',
    'label=com.docker.compose.project=nrs',
    '--filter',
    'label=com.docker.compose.service=worker',
  );
  return id ? containerImage(id.split('\n')[0]) : '';
}

/** What each service runs, as `image:tag`. */
function images(): { api: string; worker: string; web: string } {
  return { api: containerImage('nrs-api'), worker: workerImage(), web: containerImage('nrs-web') };
}

/** Pushes a commit to the application's origin as a developer would; returns its SHA. */
function push(files: Record<string, string | null>, message: string): string {
  return pushCommit(files, message, ORIGIN);
}
const head = (): string => asNas(['git', '-C', ORIGIN, 'rev-parse', 'main']).trim();
const history = (): Array<Record<string, unknown>> =>
  existsSync(HISTORY)
    ? readFileSync(HISTORY, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

/** Two releases, A then B, all three services healthy on B. */
async function twoReleases(): Promise<{ a: string; b: string }> {
  const a = tagOf(head());
  const first = await deploy();
  expect(first.code, first.stdout + first.stderr).toBe(0);
  const b = tagOf(push({ 'nrs/api/www/version': 'api two\n', 'nrs/web/www/version': 'web two\n' }, 'Second release'));
  const second = await deploy();
  expect(second.code, second.stdout + second.stderr).toBe(0);
  return { a, b };
}

describe('several services in one release (issue 14)', () => {
  beforeEach(() => resetApp());

  it('deploys three services from two images, each image built once, every one healthy', async () => {
    const tag = tagOf(head());
    const run = await deploy();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(images()).toEqual({ api: `nrs-api:${tag}`, worker: `nrs-api:${tag}`, web: `nrs-web:${tag}` });
    expect(containerState('nrs-api')).toBe('running healthy');
    expect((await httpGet('http://127.0.0.1:18101/health')).status).toBe(200);
    expect((await httpGet('http://127.0.0.1:18102/version')).body).toBe('web one\n');
    expect(JSON.parse(run.outputs.DEPLOYED_SERVICES)).toEqual({
      api: { tag, image: 'nrs-api', previous: '' },
      worker: { tag, image: 'nrs-api', previous: '' },
      web: { tag, image: 'nrs-web', previous: '' },
    });
    expect(run.outputs).toMatchObject({
      DEPLOYED_BACKEND_TAG: tag,
      BACKEND_IMAGE: `nrs-api:${tag}`,
      ROLLED_BACK: 'false',
    });
    // two images for three services: two builds
    expect(run.stdout.match(/::group::docker build /g)).toHaveLength(2);
    expect(history().at(-1)).toMatchObject({
      action: 'deploy-backend',
      outcome: 'success',
      tag,
      services: { api: { tag, image: 'nrs-api' }, worker: { tag }, web: { tag, image: 'nrs-web' } },
    });
  });

  it('a metrics guard that breaches once all three are healthy puts every one back; the phase writes the history line', async () => {
    const a = tagOf(head());
    const first = await deploy();
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const watched = tagOf(push({ 'nrs/api/www/version': 'api two\n', 'nrs/web/www/version': 'web two\n' }, 'Watched'));
    // a guard against the stand-in's real Prometheus that holds from the first poll: it breaches after 2 s
    const run = await deploy({
      guards: 'canary: vector(1) > 0 for 2s',
      'metrics-url': 'http://127.0.0.1:9090',
      watch: '30s',
      'watch-interval': '1s',
    });
    expect(run.code, run.stdout).not.toBe(0);
    expect(run.stdout).toContain('Every service is healthy');
    expect(images(), run.stdout).toEqual({ api: `nrs-api:${a}`, worker: `nrs-api:${a}`, web: `nrs-web:${a}` });
    expect(containerState('nrs-api')).toBe('running healthy');
    expect((await httpGet('http://127.0.0.1:18102/version')).body).toBe('web one\n');
    expect(run.outputs).toMatchObject({ ROLLED_BACK: 'true', WATCH_STATUS: 'rolled-back', DEPLOYED_BACKEND_TAG: a });
    expect(JSON.parse(run.outputs.WATCH_REPORT)).toMatchObject({ guards: [{ name: 'canary', breached: true }] });
    const error = run.stdout.split('\n').find((l) => l.startsWith('::error::')) ?? '';
    expect(error).toContain(
      `The release ${watched} passed its health check but its metrics watch failed: guard canary breached`,
    );
    expect(error).toContain('Every service was put back to what ran before');
    // one line, written by the phase, with each service on what it runs now
    expect(history().filter((r) => r.tag === watched && r.outcome)).toEqual([
      expect.objectContaining({
        outcome: 'rolled-back',
        detail: 'metrics guard breached during the watch',
        services: expect.objectContaining({
          api: expect.objectContaining({ tag: a }),
          web: expect.objectContaining({ tag: a }),
        }),
      }),
    ]);
  });

  it("one service's failed health puts all three back on what ran before, naming it with its logs", async () => {
    const { b } = await twoReleases();
    const broken = tagOf(push({ 'nrs/web/www/health': null }, 'Break the web health'));
    const run = await deploy();
    expect(run.code).not.toBe(0);
    expect(images(), run.stdout).toEqual({ api: `nrs-api:${b}`, worker: `nrs-api:${b}`, web: `nrs-web:${b}` });
    expect(containerState('nrs-api')).toBe('running healthy');
    expect((await httpGet('http://127.0.0.1:18102/health')).status).toBe(200);
    expect(run.outputs.ROLLED_BACK).toBe('true');
    expect(JSON.parse(run.outputs.DEPLOYED_SERVICES)).toMatchObject({
      api: { tag: b, previous: b },
      web: { tag: b, previous: b },
    });
    const error = run.stdout.split('\n').find((l) => l.startsWith('::error::')) ?? '';
    expect(error).toContain(`The release ${broken} failed: web did not become healthy`);
    expect(error).toContain('Last log lines of web');
    expect(history().at(-1)).toMatchObject({ outcome: 'rolled-back', tag: broken });
  });

  // svcbench: the two images are built at the same time
  it('a failed build of one image, built beside the other, changes no container and names the image', async () => {
    const { b } = await twoReleases();
    const broken = tagOf(
      push(
        { 'nrs/web/Dockerfile': 'FROM nas-base:latest\nRUN echo web cannot build >&2; exit 3\n' },
        'Break the web build',
      ),
    );
    const run = await deploy();
    expect(run.code).not.toBe(0);
    expect(images(), run.stdout).toEqual({ api: `nrs-api:${b}`, worker: `nrs-api:${b}`, web: `nrs-web:${b}` });
    const error = run.stdout.split('\n').find((l) => l.startsWith('::error::')) ?? '';
    expect(error).toContain('failed before any container changed');
    expect(error).toContain('web cannot build');
    expect(run.stdout).toContain(`Build of nrs-web:${broken} failed`);
    // the other image was built all the same, and its log comes first, whole
    expect(run.stdout).toMatch(
      new RegExp(
        `::group::docker build nrs-api:${broken}[^]*Image nrs-api:${broken} built[^]*::group::docker build nrs-web:${broken}[^]*web cannot build`,
      ),
    );
    expect(history().at(-1)).toMatchObject({ outcome: 'failure', detail: 'build failed' });
  });

  it('keep-images after a several-service release keeps the newest per image and the rollback tags', async () => {
    const { a, b } = await twoReleases();
    const c = tagOf(push({ 'nrs/api/www/version': 'api three\n', 'nrs/web/www/version': 'web three\n' }, 'Third'));
    const run = await deploy({ 'keep-images': '1' });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const tags = (image: string): string[] =>
      docker('images', image, '--format', '{{.Tag}}').split('\n').filter(Boolean).sort();
    // C runs, B is every service's rollback target, A goes
    expect(tags('nrs-api'), run.stdout).toEqual([b, c].sort());
    expect(tags('nrs-web')).toEqual([b, c].sort());
    expect(run.stdout).toContain(`removed nrs-api:${a}`);
  });
  // end svcbench

  it('rolls back one service to a named tag and leaves the others untouched', async () => {
    const { a, b } = await twoReleases();
    const apiId = docker('inspect', '--format', '{{.Id}}', 'nrs-api');
    const run = await rollback({ services: 'web', tag: a });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(images()).toEqual({ api: `nrs-api:${b}`, worker: `nrs-api:${b}`, web: `nrs-web:${a}` });
    expect((await httpGet('http://127.0.0.1:18102/version')).body).toBe('web one\n');
    // not recreated at all
    expect(docker('inspect', '--format', '{{.Id}}', 'nrs-api')).toBe(apiId);
    expect(JSON.parse(run.outputs.DEPLOYED_SERVICES)).toMatchObject({
      web: { tag: a, previous: b },
      api: { tag: b, previous: b },
    });
  });

  it('an empty-tag rollback of one service goes to its own previous release; unknown names change nothing', async () => {
    const { a, b } = await twoReleases();
    const c = tagOf(push({ 'nrs/api/www/version': 'api three\n' }, 'Third release'));
    expect((await deploy()).code).toBe(0);
    // worker back to B (its previous), then again to A; api and web stay on C
    const once = await rollback({ services: 'worker' });
    expect(once.code, once.stdout + once.stderr).toBe(0);
    expect(images()).toEqual({ api: `nrs-api:${c}`, worker: `nrs-api:${b}`, web: `nrs-web:${c}` });
    const twice = await rollback({ services: 'worker' });
    expect(twice.code, twice.stdout + twice.stderr).toBe(0);
    expect(images()).toEqual({ api: `nrs-api:${c}`, worker: `nrs-api:${a}`, web: `nrs-web:${c}` });
    // the api's own previous release is still B: the worker's rollbacks did not move it
    const api = await rollback({ services: 'api' });
    expect(api.code, api.stdout + api.stderr).toBe(0);
    expect(images()).toEqual({ api: `nrs-api:${b}`, worker: `nrs-api:${a}`, web: `nrs-web:${c}` });

    const before = history().length;
    const unknown = await rollback({ services: 'api, mailer' });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stdout).toMatch(/no service mailer .*its services are: api, worker, web\. Nothing was changed/);
    expect(images()).toEqual({ api: `nrs-api:${b}`, worker: `nrs-api:${a}`, web: `nrs-web:${c}` });
    expect(
      history()
        .slice(before)
        .every((r) => r.outcome === 'failure'),
    ).toBe(true);
  });

  it('cleanup keeps the newest per image and never a running or rollback tag of any service', async () => {
    const { a, b } = await twoReleases();
    const c = tagOf(push({ 'nrs/api/www/version': 'api three\n' }, 'Third release'));
    expect((await deploy()).code).toBe(0);
    // web back to A: A is web's running tag, and nothing's rollback target is B any more for web
    expect((await rollback({ services: 'web', tag: a })).code).toBe(0);
    const run = await runAction(
      'cleanup-backend',
      connection({
        'repo-path': REPO,
        'compose-file': 'nrs/docker-compose.yml',
        image: 'nrs-api',
        container: 'nrs-api',
        services: SERVICES.split('\n')
          .map((l) => l.replace(/ build-context=\S+/, ''))
          .join('\n'),
        keep: '1',
      }),
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const tags = (image: string): string[] =>
      docker('images', image, '--format', '{{.Tag}}').split('\n').filter(Boolean).sort();
    // nrs-api: C runs (api, worker), B is their rollback target, A goes
    expect(tags('nrs-api'), run.stdout).toEqual([b, c].sort());
    // nrs-web: A runs; its previous release by the history is C (A was a named rollback from C); B goes
    expect(tags('nrs-web')).toEqual([a, c].sort());
    expect(JSON.parse(run.outputs.REMOVED_TAGS)).toEqual(expect.arrayContaining([`nrs-api:${a}`, `nrs-web:${b}`]));
  });
});
