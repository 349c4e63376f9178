import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, pushCommit, runAction } from './harness.js';
import { get, sampleDocker, tagOfSha } from './support/blue-green.js';
import { LoadGenerator, type LoadReport } from './support/load.js';

/**
 * Several services released as blue-green colours on the stand-in NAS
 * (test/nas/bluegreen-services.sh): an API and a worker from one image in each
 * colour, nginx in front, a shared PostgreSQL and a shared volume, under a
 * steady ~50 requests a second through the proxy.
 */

const REPO = '/volume1/docker/nrq/repo';
const ORIGIN = '/volume1/git/nrq.git';
const PROXY = 'http://127.0.0.1:18130';
const STATE = '/var/lib/nas-standin';

function inputs(extra: Record<string, string> = {}): Record<string, string> {
  return {
    host: '127.0.0.1',
    port: '2222',
    username: 'nas',
    'private-key': readFileSync(join(STATE, 'client_ed25519'), 'utf8'),
    'host-key': readFileSync(join(STATE, 'host_fingerprint'), 'utf8').trim(),
    'repo-path': REPO,
    image: 'nrq-app',
    'compose-file': 'nrq/docker-compose.yml',
    'build-context': 'nrq',
    'tag-variable': 'APP_TAG',
    services: 'api\nworker',
    'health-url': `${PROXY}/health`,
    'health-timeout': '30',
    strategy: 'blue-green',
    'proxy-upstream-file': 'nrq/nginx/upstream.conf',
    'port-variable': 'APP_PORT',
    'blue-port': '18131',
    'green-port': '18132',
    'drain-seconds': '1',
    'keep-warm': '0',
    ...extra,
  };
}
const deploy = (extra: Record<string, string> = {}) => runAction('deploy-backend', inputs(extra));
const rollback = (extra: Record<string, string> = {}) =>
  runAction('rollback-backend', { ...inputs(extra), services: extra.services ?? '' });
const version = async (): Promise<string> => (await get(`${PROXY}/version`)).body.trim();
const push = (files: Record<string, string | null>, message: string): string => pushCommit(files, message, ORIGIN);

/** `<project> <service> <image>` of every running container of the sample, sorted. */
function running(): string[] {
  return sampleDocker(
    'ps',
    '--filter',
    'label=com.docker.compose.project.working_dir=/volume1/docker/nrq/repo/nrq',
    '--format',
    '{{.Label "com.docker.compose.project"}} {{.Label "com.docker.compose.service"}} {{.Image}}',
  )
    .split('\n')
    .filter(Boolean)
    .sort();
}
/** The colours' containers (not the shared ones), once only one colour runs (the old stops after its drain). */
async function oneColour(ms = 20_000): Promise<string[]> {
  const end = Date.now() + ms;
  const colours = (): string[] => running().filter((l) => /^nrq-(blue|green) /.test(l));
  let now = colours();
  while (new Set(now.map((l) => l.split(' ')[0])).size !== 1 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    now = colours();
  }
  return now;
}
const dbId = (): string =>
  sampleDocker(
    'ps',
    '-q',
    '--no-trunc',
    '--filter',
    'label=com.docker.compose.project=nrq',
    '--filter',
    'label=com.docker.compose.service=db',
  );
const dbStarted = (): string => sampleDocker('inspect', '--format', '{{.State.StartedAt}}', dbId());
const workerLog = (): string =>
  execFileSync('docker', ['run', '--rm', '-v', 'nrq_data:/data', 'nas-base:latest', 'cat', '/data/worker.log'], {
    encoding: 'utf8',
  });

async function underLoad(fn: () => Promise<void>): Promise<LoadReport> {
  const load = new LoadGenerator(`${PROXY}/version`, 50).start();
  try {
    await fn();
  } finally {
    await new Promise((r) => setTimeout(r, 1000));
  }
  return load.stop();
}

describe('several services as blue-green colours behind nginx, a shared database and volume', () => {
  const tags: string[] = [];
  let db = '';
  beforeAll(async () => {
    execFileSync('bash', [join(ROOT, 'test/nas/bluegreen-services.sh'), '--reset'], { stdio: 'pipe' });
    db = dbStarted();
    const first = await deploy();
    expect(first.code, first.stdout.slice(-3000)).toBe(0);
    expect(first.outputs.LIVE_COLOR).toBe('blue');
    tags.push(first.outputs.DEPLOYED_BACKEND_TAG);
  });

  it('a release of the API and the worker switches colours under load, losing no request; the database and the volume are shared', async () => {
    const sha = push({ 'nrq/www/version': 'two\n' }, 'Release two');
    let run!: Awaited<ReturnType<typeof deploy>>;
    const report = await underLoad(async () => {
      run = await deploy();
    });
    expect(run.code, run.stdout.slice(-3000)).toBe(0);
    expect(report.sent).toBeGreaterThan(50);
    expect(report.failed, report.failures.join('\n')).toBe(0);
    tags.push(run.outputs.DEPLOYED_BACKEND_TAG);
    expect(run.outputs).toMatchObject({ LIVE_COLOR: 'green', DEPLOYED_BACKEND_TAG: tagOfSha(sha) });
    expect(JSON.parse(run.outputs.DEPLOYED_SERVICES)).toEqual({
      api: { tag: tags[1], image: 'nrq-app', previous: tags[0] },
      worker: { tag: tags[1], image: 'nrq-app', previous: tags[0] },
    });
    expect(await version()).toBe('two');
    // both services in the new colour, the old colour stopped; the shared services only under nrq, never recreated
    expect(await oneColour()).toEqual([`nrq-green api nrq-app:${tags[1]}`, `nrq-green worker nrq-app:${tags[1]}`]);
    expect(running().filter((l) => l.startsWith('nrq '))).toEqual([
      'nrq db nas-postgres:latest',
      'nrq proxy nrg-nginx:latest',
    ]);
    expect(dbStarted()).toBe(db);
    // one volume: both colours' workers wrote to it, and compose made no colour's own
    const log = workerLog();
    expect(log).toMatch(/^blue one$/m);
    expect(log).toMatch(/^green two$/m);
    expect(sampleDocker('volume', 'ls', '-q', '--filter', 'name=nrq').split('\n').sort()).toEqual([
      'nrq_data',
      'nrq_pgdata',
    ]);
  });

  it('a release whose worker fails its health: the live colour serves on, the idle colour is stopped, the database untouched', async () => {
    push({ 'nrq/www/version': 'three\n', 'nrq/worker-ok': 'broken\n' }, 'A worker that never becomes healthy');
    let run!: Awaited<ReturnType<typeof deploy>>;
    const report = await underLoad(async () => {
      run = await deploy({ 'health-timeout': '20' });
    });
    expect(run.code, run.stdout.slice(-3000)).toBe(1);
    expect(run.outputs, run.stdout.slice(-3000)).toMatchObject({ ROLLED_BACK: 'true' });
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect(run.outputs).toMatchObject({ ROLLED_BACK: 'true', LIVE_COLOR: 'green', DEPLOYED_BACKEND_TAG: tags[1] });
    expect(run.stdout).toMatch(/::error::.*was not switched to \(health check failed\).* Not healthy: worker\./);
    expect(run.stdout).toContain("Last 100 log lines of the blue colour's worker");
    expect(await version()).toBe('two');
    expect(await oneColour()).toEqual([`nrq-green api nrq-app:${tags[1]}`, `nrq-green worker nrq-app:${tags[1]}`]);
    expect(dbStarted()).toBe(db);
    push({ 'nrq/worker-ok': 'ok\n' }, 'The worker back');
  });

  it('a per-service rollback starts the idle colour with the worker at its previous release and the API at the live one, then switches', async () => {
    let run!: Awaited<ReturnType<typeof rollback>>;
    const report = await underLoad(async () => {
      run = await rollback({ services: 'worker' });
    });
    expect(run.code, run.stdout.slice(-3000)).toBe(0);
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect(run.outputs.LIVE_COLOR).toBe('blue');
    expect(JSON.parse(run.outputs.DEPLOYED_SERVICES)).toEqual({
      api: { tag: tags[1], image: 'nrq-app', previous: tags[1] },
      worker: { tag: tags[0], image: 'nrq-app', previous: tags[1] },
    });
    expect(await version()).toBe('two');
    expect(await oneColour()).toEqual([`nrq-blue api nrq-app:${tags[1]}`, `nrq-blue worker nrq-app:${tags[0]}`]);
    expect(dbStarted()).toBe(db);
  });
});
