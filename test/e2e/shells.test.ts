import { beforeAll, describe, expect, it } from 'vitest';
import {
  BROKEN_HEALTH,
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
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

  it('project-source: runner releases twice, rolls back and cleans up on a NAS without git, into a folder that is no checkout', async () => {
    resetNas();
    const root = '/volume1/docker/scanium/shipped';
    sh(`rm -rf ${root} && install -d -o nas -g nas ${root}`);
    const conn = (more: Record<string, string> = {}): Record<string, string> =>
      connection({
        port: '2225',
        'remote-path': '/nonexistent',
        'project-source': 'runner',
        'repo-path': root,
        'health-url': HEALTH_URL,
        ...more,
      });
    const link = (): string => sh(`readlink ${root}/current`).trim();
    const first = originHead();
    const ws1 = runnerWorkspace(first);
    // an untracked file of the runner's checkout (a secret, say) never leaves the runner
    writeFileSync(join(ws1, 'backend/untracked.secret'), 'hunter2\n');
    // a dry run of the first release ships and switches nothing
    const dry = await runAction('deploy-backend', conn({ 'dry-run': 'true' }), {
      env: { GITHUB_WORKSPACE: ws1, GITHUB_SHA: first },
    });
    expect(dry.code, dry.stdout).toBe(0);
    expect(dry.stdout).toContain(`would switch current to releases/${tagOf(first)}`);
    expect(existsSync(`${root}/releases`) || existsSync(`${root}/current`)).toBe(false);
    const d1 = await runAction('deploy-backend', conn(), { env: { GITHUB_WORKSPACE: ws1, GITHUB_SHA: first } });
    expect(d1.code, d1.stdout).toBe(0);
    expect(d1.stdout).toContain('git:     none');
    expect(d1.outputs.DEPLOYED_BACKEND_TAG).toBe(tagOf(first));
    expect(link()).toBe(`releases/${tagOf(first)}`);
    expect(existsSync(`${root}/.git`)).toBe(false);
    expect(existsSync(`${root}/releases/${tagOf(first)}/backend/Dockerfile`)).toBe(true);
    expect(existsSync(`${root}/releases/${tagOf(first)}/backend/untracked.secret`)).toBe(false);
    expect(
      docker('inspect', '--format', '{{index .Config.Labels "com.docker.compose.project"}}', 'scanium-backend'),
    ).toBe('backend');

    const second = pushCommit({ 'backend/www/version': 'two\n' }, 'Second release');
    const ws2 = runnerWorkspace(second);
    const d2 = await runAction('deploy-backend', conn(), { env: { GITHUB_WORKSPACE: ws2, GITHUB_SHA: second } });
    expect(d2.code, d2.stdout).toBe(0);
    expect(d2.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: tagOf(second), PREVIOUS_BACKEND_TAG: tagOf(first) });
    // the NAS built the image from the shipped build context
    expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe('two\n');
    expect(link()).toBe(`releases/${tagOf(second)}`);

    // a release that fails its health check comes back on the folder of the release before it
    const broken = pushCommit(BROKEN_HEALTH, 'Break the health endpoint');
    const ws3 = runnerWorkspace(broken);
    const d3 = await runAction('deploy-backend', conn({ 'health-timeout': '60' }), {
      env: { GITHUB_WORKSPACE: ws3, GITHUB_SHA: broken },
    });
    expect(d3.code).not.toBe(0);
    expect(d3.outputs).toMatchObject({ ROLLED_BACK: 'true', DEPLOYED_BACKEND_TAG: tagOf(second) });
    expect(link()).toBe(`releases/${tagOf(second)}`);
    expect(existsSync(`${root}/releases/${tagOf(broken)}/backend/www/version`)).toBe(true);
    expect(existsSync(`${root}/releases/${tagOf(broken)}/backend/www/health`)).toBe(false);

    const rb = await runAction('rollback-backend', conn());
    expect(rb.code, rb.stdout).toBe(0);
    expect(rb.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: tagOf(first), PREVIOUS_BACKEND_TAG: tagOf(second) });
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${tagOf(first)}`);
    expect(link()).toBe(`releases/${tagOf(first)}`);
    expect((await httpGet('http://127.0.0.1:18080/version')).body).not.toBe('two\n');

    // first runs and has no rollback target: the second and the broken releases go, their images and their folders
    const cl = await runAction('cleanup-backend', conn({ keep: '0' }));
    expect(cl.code, cl.stdout).toBe(0);
    expect(JSON.parse(cl.outputs.REMOVED_TAGS).sort()).toEqual([tagOf(second), tagOf(broken)].sort());
    expect(existsSync(`${root}/releases/${tagOf(second)}`)).toBe(false);
    expect(existsSync(`${root}/releases/${tagOf(broken)}`)).toBe(false);
    expect(existsSync(`${root}/releases/${tagOf(first)}/backend/docker-compose.yml`)).toBe(true);
    expect(containerState('scanium-backend')).toBe('running healthy');
    const history = historyLines(`${root}/.nas-release`).map((r) => [r.action, r.outcome, r.tag ?? '', r.commit ?? '']);
    expect(history).toEqual([
      ['deploy-backend', 'success', tagOf(first), first],
      ['deploy-backend', 'success', tagOf(second), second],
      ['deploy-backend', 'rolled-back', tagOf(broken), broken],
      ['rollback-backend', 'success', tagOf(first), ''],
      ['cleanup-backend', 'success', '', ''],
    ]);
    for (const ws of [ws1, ws2, ws3]) rmSync(ws, { recursive: true, force: true });
    sh(`rm -rf ${root}`);
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
});
