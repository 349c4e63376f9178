import { beforeAll, describe, expect, it } from 'vitest';
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
} from './harness.js';

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
});
