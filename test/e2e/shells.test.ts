import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HEALTH_URL,
  REPO,
  asNas,
  connection,
  containerImage,
  containerState,
  originHead,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
  docker,
  historyLines,
  httpGet,
  runnerWorkspace,
  sh,
} from './harness.js';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NRG_ORIGIN, PROXY_URL, get, nrgInputs, pushVersion, resetSample } from './support/blue-green.js';

/**
 * The NAS shells operators meet (issue "Real NAS shells"): a Synology-like
 * login whose PATH lacks docker, a BusyBox login shell and userland, a user
 * outside the docker group who uses sudo, and a NAS without git.
 */
const SYNOLOGY = { port: '2223' };
// The BusyBox login keeps GNU tools out of reach: only /usr/local/bin (docker, compose) goes in front of its PATH.
const BUSYBOX = { username: 'nasbb', 'remote-path': '/usr/local/bin' };

async function releaseCycle(extra: Record<string, string>): Promise<void> {
  const conn = (more: Record<string, string> = {}) => connection({ ...extra, ...more });
  const first = tagOf(originHead());
  const d1 = await runAction('deploy-backend', conn({ 'health-url': HEALTH_URL }));
  expect(d1.code, d1.stdout).toBe(0);
  expect(d1.stdout).toMatch(/docker: +\/usr\/local\/bin\/docker/);
  const second = tagOf(
    pushCommit(
      { 'backend/www/version': 'two\n', 'monitoring/alloy/config.alloy': '// revision: two\n' },
      'Second release',
    ),
  );
  const d2 = await runAction('deploy-backend', conn({ 'health-url': HEALTH_URL }));
  expect(d2.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: second, PREVIOUS_BACKEND_TAG: first });
  const rb = await runAction('rollback-backend', conn({ 'health-url': HEALTH_URL }));
  expect(rb.code, rb.stdout).toBe(0);
  expect(containerImage('scanium-backend')).toBe(`scanium-backend:${first}`);
  const cl = await runAction('cleanup-backend', conn({ keep: '1' }));
  expect(cl.code, cl.stdout).toBe(0);
  expect(JSON.parse(cl.outputs.KEPT_TAGS)).toEqual(expect.arrayContaining([first]));

  // monitoring: release the seed's configuration, then the second, verify, roll back to the first
  asNas(['git', '-C', REPO, 'checkout', '-q', 'main']);
  const m1 = await runAction(
    'deploy-monitoring',
    conn({ ref: asNas(['git', '-C', REPO, 'rev-parse', 'HEAD~1']).trim(), 'health-timeout': '60' }),
  );
  expect(m1.code, m1.stdout).toBe(0);
  const m2 = await runAction('deploy-monitoring', conn({ 'health-timeout': '60' }));
  expect(m2.code, m2.stdout).toBe(0);
  const v = await runAction('verify-monitoring', conn());
  expect(v.code, v.stdout).toBe(0);
  expect(v.outputs.VERIFY_STATUS).toBe('passed');
  const mr = await runAction('rollback-monitoring', conn({ 'health-timeout': '60' }));
  expect(mr.code, mr.stdout).toBe(0);
  expect(mr.outputs.DEPLOYED_MONITORING_TAG).toBe(m1.outputs.DEPLOYED_MONITORING_TAG);
  for (const c of ['scanium-grafana', 'scanium-mimir', 'scanium-loki', 'scanium-tempo', 'scanium-alloy'])
    expect(containerState(c)).toMatch(/^running/);
}

describe('NAS shells', () => {
  beforeAll(() => resetNas());

  it('Synology-like: docker only in /usr/local/bin; the default remote-path finds it', async () => {
    resetNas();
    await releaseCycle(SYNOLOGY);
  });

  it('BusyBox-like: BusyBox sh login and applets, plus git and flock', async () => {
    resetNas();
    await releaseCycle(BUSYBOX);
  });

  it('without docker on the PATH, the action names what is missing and where NAS users get it, and changes nothing', async () => {
    resetNas();
    const run = await runAction('deploy-backend', connection({ ...SYNOLOGY, 'remote-path': '/nonexistent' }));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/The NAS has no 'docker' on the PATH .*Container Manager.*Nothing was changed/);
    expect(containerState('scanium-backend')).toBe('missing');
  });

  it('a NAS with no git gets a one-line explanation and no change', async () => {
    resetNas();
    const head = asNas(['git', '-C', REPO, 'rev-parse', 'HEAD']).trim();
    pushCommit({ 'backend/www/version': 'x\n' }, 'A change that must not be deployed');
    const run = await runAction('deploy-backend', connection({ port: '2225', 'remote-path': '/nonexistent' }));
    expect(run.code).toBe(1);
    const error = run.stdout.split('\n').find((l) => l.startsWith('::error::')) ?? '';
    expect(error).toMatch(/^::error::The NAS has no 'git' on the PATH .*Package Center.*Nothing was changed\.$/);
    expect(asNas(['git', '-C', REPO, 'rev-parse', 'HEAD']).trim()).toBe(head);
    expect(containerState('scanium-backend')).toBe('missing');
  });

  it('sudo: a user outside the docker group releases through sudo -n; without sudo it is told why', async () => {
    resetNas();
    const denied = await runAction('deploy-backend', connection({ username: 'nassudo', 'health-url': HEALTH_URL }));
    expect(denied.code).toBe(1);
    expect(denied.stdout).toMatch(/cannot reach the engine.*permission denied.*docker group.*sudo: true/i);
    const run = await runAction(
      'deploy-backend',
      connection({ username: 'nassudo', sudo: 'true', 'health-url': HEALTH_URL }),
    );
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('through sudo -n');
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${run.outputs.DEPLOYED_BACKEND_TAG}`);
    const cl = await runAction('cleanup-backend', connection({ username: 'nassudo', sudo: 'true' }));
    expect(cl.code, cl.stdout).toBe(0);
  });

  it('sudo that asks for a password fails before any change, saying how to allow it', async () => {
    resetNas();
    const run = await runAction('deploy-backend', connection({ username: 'naspw', sudo: 'true' }));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /sudo on the NAS refused to run docker without a password.*NOPASSWD:SETENV:.*docker group.*Nothing was changed/,
    );
    expect(containerState('scanium-backend')).toBe('missing');
  });
  describe('project-source: runner, on a NAS without git', () => {
    /** The inputs of a release from the runner's checkout, into `root` over the port whose PATH has no git. */
    const runner = (root: string, more: Record<string, string> = {}): Record<string, string> => ({
      port: '2225',
      'remote-path': '/nonexistent',
      'project-source': 'runner',
      'repo-path': root,
      ...more,
    });
    const fresh = (root: string): void => void sh(`rm -rf ${root} && install -d -o nas -g nas ${root}`);
    const workspaces: string[] = [];
    const workspace = (sha: string, origin?: string): { GITHUB_WORKSPACE: string; GITHUB_SHA: string } => {
      workspaces.push(runnerWorkspace(sha, origin));
      return { GITHUB_WORKSPACE: workspaces[workspaces.length - 1], GITHUB_SHA: sha };
    };
    afterAll(() => {
      for (const ws of workspaces) rmSync(ws, { recursive: true, force: true });
    });

    it('releases twice, rolls back to the previous release and cleans up, into a folder that is no checkout', async () => {
      resetNas();
      const root = '/volume1/docker/scanium/shipped';
      const tree = `${root}/shipped`;
      fresh(root);
      const conn = (more: Record<string, string> = {}): Record<string, string> =>
        connection(runner(root, { 'health-url': HEALTH_URL, ...more }));
      const first = originHead();
      const ws1 = workspace(first);
      // an untracked file of the runner's checkout (a secret, say) never leaves the runner
      writeFileSync(join(ws1.GITHUB_WORKSPACE, 'backend/untracked.secret'), 'hunter2\n');
      const d1 = await runAction('deploy-backend', conn(), { env: ws1 });
      expect(d1.code, d1.stdout).toBe(0);
      expect(d1.stdout).toContain('git:     not used (project-source: runner)');
      expect(d1.outputs.DEPLOYED_BACKEND_TAG).toBe(tagOf(first));
      expect(existsSync(`${root}/.git`) || existsSync(`${tree}/.git`)).toBe(false);
      expect(existsSync(`${root}/releases/${first}/backend/Dockerfile`)).toBe(true);
      expect(existsSync(`${tree}/backend/untracked.secret`)).toBe(false);
      // compose names the project after the compose file's folder, as in a checkout
      expect(
        docker('inspect', '--format', '{{index .Config.Labels "com.docker.compose.project"}}', 'scanium-backend'),
      ).toBe('backend');
      const version1 = (await httpGet('http://127.0.0.1:18080/version')).body;
      // a file the NAS keeps beside the compose file stays, as an untracked file of a checkout does
      asNas(['sh', '-c', `echo kept > ${tree}/backend/local.txt`]);

      const second = pushCommit({ 'backend/www/version': 'two\n', 'backend/www/extra': 'x\n' }, 'Second release');
      const d2 = await runAction('deploy-backend', conn(), { env: workspace(second) });
      expect(d2.code, d2.stdout).toBe(0);
      expect(d2.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: tagOf(second), PREVIOUS_BACKEND_TAG: tagOf(first) });
      // the NAS built the image from the shipped build context
      expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe('two\n');
      expect(readFileSync(`${tree}/backend/www/extra`, 'utf8')).toBe('x\n');

      // an empty tag: the previous release, its files back with its image
      const rb = await runAction('rollback-backend', conn());
      expect(rb.code, rb.stdout).toBe(0);
      expect(rb.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: tagOf(first), PREVIOUS_BACKEND_TAG: tagOf(second) });
      expect(containerImage('scanium-backend')).toBe(`scanium-backend:${tagOf(first)}`);
      expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe(version1);
      expect(readFileSync(`${tree}/backend/www/version`, 'utf8')).toBe(version1);
      expect(existsSync(`${tree}/backend/www/extra`)).toBe(false);
      expect(readFileSync(`${tree}/backend/local.txt`, 'utf8')).toBe('kept\n');

      // first runs and is no rollback target's: the second release goes, its image and its folder
      const cl = await runAction('cleanup-backend', conn({ keep: '0' }));
      expect(cl.code, cl.stdout).toBe(0);
      expect(JSON.parse(cl.outputs.REMOVED_TAGS)).toEqual([tagOf(second)]);
      expect(existsSync(`${root}/releases/${second}`)).toBe(false);
      expect(existsSync(`${root}/releases/${first}/backend/docker-compose.yml`)).toBe(true);
      expect(containerState('scanium-backend')).toBe('running healthy');
      const history = historyLines(`${root}/.nas-release`).map((r) => [r.action, r.outcome, r.tag ?? '']);
      expect(history).toEqual([
        ['deploy-backend', 'success', tagOf(first)],
        ['deploy-backend', 'success', tagOf(second)],
        ['rollback-backend', 'success', tagOf(first)],
        ['cleanup-backend', 'success', ''],
      ]);
      sh(`rm -rf ${root}`);
    });

    it('monitoring beside the backend: deploys twice with its tag through the GitHub API, rolls back and verifies', async () => {
      resetNas();
      const root = '/volume1/docker/scanium/shipped';
      const tree = `${root}/shipped`;
      fresh(root);
      const requests: Array<{ url: string; body: Record<string, unknown> }> = [];
      const api = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          requests.push({ url: req.url ?? '', body: JSON.parse(body || '{}') as Record<string, unknown> });
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ sha: 'a'.repeat(40) }));
        });
      });
      await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
      const env = (sha: string) => ({
        ...workspace(sha),
        GITHUB_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}`,
        GITHUB_REPOSITORY: 'example/app',
      });
      const conn = (more: Record<string, string> = {}) =>
        connection(runner(root, { 'health-timeout': '60', 'github-token': 'ghs_tagtoken', ...more }));
      try {
        const first = originHead();
        const b1 = await runAction('deploy-backend', conn({ 'health-url': HEALTH_URL }), { env: env(first) });
        expect(b1.code, b1.stdout).toBe(0);
        const m1 = await runAction('deploy-monitoring', conn(), { env: env(first), secrets: ['ghs_tagtoken'] });
        expect(m1.code, m1.stdout).toBe(0);
        const tag1 = `monitoring-${tagOf(first)}`;
        expect(m1.outputs).toMatchObject({ DEPLOYED_MONITORING_TAG: tag1, VERIFY_STATUS: 'passed' });
        expect(requests.find((r) => r.url === '/repos/example/app/git/tags')?.body).toMatchObject({
          tag: tag1,
          object: first,
        });
        expect(requests.find((r) => r.url === '/repos/example/app/git/refs')?.body).toMatchObject({
          ref: `refs/tags/${tag1}`,
        });
        // one work tree: the monitoring release left the backend's files alone
        expect(existsSync(`${tree}/backend/docker-compose.yml`)).toBe(true);
        expect((await httpGet('http://127.0.0.1:12345/config')).body).toContain('revision: seed');

        const second = pushCommit({ 'monitoring/alloy/config.alloy': '// revision: two\n' }, 'Alloy two');
        const m2 = await runAction('deploy-monitoring', conn(), { env: env(second), secrets: ['ghs_tagtoken'] });
        expect(m2.code, m2.stdout).toBe(0);
        expect((await httpGet('http://127.0.0.1:12345/config')).body).toContain('revision: two');

        const rb = await runAction('rollback-monitoring', conn());
        expect(rb.code, rb.stdout).toBe(0);
        expect(rb.outputs).toMatchObject({ DEPLOYED_MONITORING_TAG: tag1, MONITORING_COMMIT: first });
        expect((await httpGet('http://127.0.0.1:12345/config')).body).toContain('revision: seed');
        expect(existsSync(`${tree}/backend/docker-compose.yml`)).toBe(true);
        const verified = await runAction('verify-monitoring', conn());
        expect(verified.code, verified.stdout).toBe(0);
      } finally {
        api.close();
        sh(`rm -rf ${root}`);
      }
    });

    it('releases several services at once', async () => {
      execFileSync('bash', [join(__dirname, '../nas/services.sh')], { stdio: 'pipe' });
      const root = '/volume1/docker/nrs-multi/shipped';
      fresh(root);
      const origin = '/volume1/git/nrs-multi.git';
      const sha = asNas(['git', '-C', origin, 'rev-parse', 'main']).trim();
      const run = await runAction(
        'deploy-backend',
        connection(
          runner(root, {
            'compose-file': 'nrs/docker-compose.yml',
            image: 'nrs-api',
            container: 'nrs-api',
            'build-context': 'nrs/api',
            'health-timeout': '30',
            services: `api tag-variable=API_TAG
worker tag-variable=WORKER_TAG
web image=nrs-web build-context=nrs/web tag-variable=WEB_TAG health-url=http://127.0.0.1:18102/health`,
          }),
        ),
        { env: workspace(sha, origin) },
      );
      expect(run.code, run.stdout).toBe(0);
      expect(containerImage('nrs-api')).toBe(`nrs-api:${tagOf(sha)}`);
      expect(containerImage('nrs-web')).toBe(`nrs-web:${tagOf(sha)}`);
      expect(existsSync(`${root}/releases/${sha}/nrs/web/Dockerfile`)).toBe(true);
      execFileSync('bash', [join(__dirname, '../nas/services.sh'), '--down'], { stdio: 'pipe' });
      sh(`rm -rf ${root}`);
    });

    it('blue-green: the proxy follows each release and a rollback, its upstream file kept in the work tree', async () => {
      resetSample();
      const root = '/volume1/docker/nrg/shipped';
      fresh(root);
      const inputs = nrgInputs(runner(root));
      const one = asNas(['git', '-C', NRG_ORIGIN, 'rev-parse', 'main']).trim();
      const first = await runAction('deploy-backend', inputs, { env: workspace(one, NRG_ORIGIN) });
      expect(first.code, first.stdout.slice(-3000)).toBe(0);
      expect(first.outputs.LIVE_COLOR).toBe('blue');
      const two = pushVersion('runner-two');
      const second = await runAction('deploy-backend', inputs, { env: workspace(two, NRG_ORIGIN) });
      expect(second.code, second.stdout.slice(-3000)).toBe(0);
      expect(second.outputs.LIVE_COLOR).toBe('green');
      expect((await get(`${PROXY_URL}/version`)).body.trim()).toBe('runner-two');
      expect(readFileSync(`${root}/shipped/nrg/nginx/upstream.conf`, 'utf8')).toContain('18122');
      // an empty-tag rollback: the first release's colour serves again, its files back in the work tree
      const back = await runAction('rollback-backend', inputs);
      expect(back.code, back.stdout.slice(-3000)).toBe(0);
      expect(back.outputs.DEPLOYED_BACKEND_TAG).toBe(first.outputs.DEPLOYED_BACKEND_TAG);
      const firstVersion = readFileSync(`${root}/releases/${one}/nrg/www/version`, 'utf8');
      expect((await get(`${PROXY_URL}/version`)).body).toBe(firstVersion);
      expect(readFileSync(`${root}/shipped/nrg/www/version`, 'utf8')).toBe(firstVersion);
      sh(`rm -rf ${root}`);
    });
  });
});
