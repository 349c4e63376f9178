import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HEALTH_URL,
  ROOT,
  STATE,
  connection,
  containerImage,
  containerState,
  historyLines,
  httpGet,
  hostFingerprint,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
  type ActionRun,
} from './harness.js';
import { TcpProxy } from './support/proxy.js';

/**
 * The jump host (issue #16), for real: test/nas/bastion.sh puts the runner in
 * a network namespace of its own (nr-runner) where the NAS's sshd
 * (127.0.0.1:2222 of the stand-in) cannot be reached, and starts a bastion
 * sshd at 10.201.0.1:2230 that may forward to the NAS's sshd and nowhere else.
 * Every action runs inside that namespace.
 */

const NETNS = 'nr-runner';
const BASTION = { host: '10.201.0.1', port: 2230, user: 'nasjump', dir: `${STATE}/bastion` };
/** A proxy in front of the bastion, on the namespace's link, for the cut-link tests (a port of this helper's range). */
const CUT_PORT = 2231;
/** A proxy in front of the NAS's sshd that the bastion may forward to (bastion.sh's PermitOpen), to cut the bastion's side. */
const NAS_CUT_PORT = 2232;
const CONTAINER = 'scanium-backend';

const bastionKey = (): string => readFileSync(`${BASTION.dir}/client_ed25519`, 'utf8');
const bastionFingerprint = (): string => readFileSync(`${BASTION.dir}/host_fingerprint`, 'utf8').trim();

/** The inputs of an action that reaches the stand-in through the bastion. */
const viaJump = (extra: Record<string, string> = {}): Record<string, string> =>
  connection({
    'jump-host': BASTION.host,
    'jump-port': String(BASTION.port),
    'jump-username': BASTION.user,
    'jump-private-key': bastionKey(),
    'jump-host-key': bastionFingerprint(),
    'health-url': HEALTH_URL,
    ...extra,
  });
const inRunner = (action: string, inputs: Record<string, string>, onStdout?: (chunk: string) => void) =>
  runAction(action, inputs, { netns: NETNS, ...(onStdout ? { onStdout } : {}) });

/** Lines of a log file of the stand-in (the sshd logs), to tell what reached which server. */
const logLines = (file: string): string[] => readFileSync(file, 'utf8').split('\n');
const nasConnections = (): number =>
  logLines(`${STATE}/sshd.log`).filter((l) => /Connection from \S+ port \d+ on 127\.0\.0\.1 port 2222/.test(l)).length;
const bastionLogins = (): number =>
  logLines(`${BASTION.dir}/sshd.log`).filter((l) => /Accepted publickey/.test(l)).length;

const errorOf = (run: ActionRun): string => run.stdout.split('\n').find((l) => l.startsWith('::error::')) ?? '';

function expectHealthy(tag: string): void {
  expect(containerImage(CONTAINER)).toBe(`${CONTAINER}:${tag}`);
  expect(containerState(CONTAINER)).toBe('running healthy');
}

describe('the stand-in keeps the NAS behind the bastion', () => {
  it('from the runner, a direct connection to the NAS is refused; through the bastion the same NAS answers', async () => {
    resetNas();
    for (const host of ['127.0.0.1', BASTION.host]) {
      const direct = await inRunner('cleanup-backend', connection({ host, 'connect-timeout': '2', keep: '5' }));
      expect(direct.code, direct.stdout).toBe(1);
      expect(errorOf(direct)).toMatch(
        new RegExp(`Could not connect to ${host.replace(/\./g, '\\.')}:2222 .*ECONNREFUSED`),
      );
    }
    const through = await inRunner('cleanup-backend', viaJump({ keep: '5' }));
    expect(through.code, through.stdout).toBe(0);
    // Both hops appear in the NAS group of the log, each with the host key it proved.
    const group = through.stdout.slice(through.stdout.indexOf('::group::NAS'));
    expect(group).toContain(
      `Jump:    ${BASTION.user}@${BASTION.host}:${BASTION.port} (host key ${bastionFingerprint()})`,
    );
    expect(group).toContain(`Host:    nas@127.0.0.1:2222 (host key ${hostFingerprint()})`);
  });
});

describe('a release cycle through the bastion', () => {
  beforeAll(() => resetNas());

  it('deploys, deploys again, rolls back, cleans up, releases and verifies monitoring, all through the jump host', async () => {
    const logins = bastionLogins();
    const first = await inRunner('deploy-backend', viaJump());
    expect(first.code, first.stdout).toBe(0);
    const firstTag = first.outputs.DEPLOYED_BACKEND_TAG;
    expectHealthy(firstTag);

    const sha = pushCommit({ 'backend/www/version': 'through the bastion\n' }, 'Through the bastion');
    const second = await inRunner('deploy-backend', viaJump());
    expect(second.code, second.stdout).toBe(0);
    expect(second.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: tagOf(sha), PREVIOUS_BACKEND_TAG: firstTag });
    expectHealthy(tagOf(sha));
    expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe('through the bastion\n');

    const back = await inRunner('rollback-backend', viaJump());
    expect(back.code, back.stdout).toBe(0);
    expect(back.outputs.DEPLOYED_BACKEND_TAG).toBe(firstTag);
    expectHealthy(firstTag);

    const cleanup = await inRunner('cleanup-backend', viaJump({ keep: '1' }));
    expect(cleanup.code, cleanup.stdout).toBe(0);

    const monitoring = await inRunner('deploy-monitoring', viaJump({ 'health-url': '', 'health-timeout': '60' }));
    expect(monitoring.code, monitoring.stdout).toBe(0);
    expect(monitoring.outputs.VERIFY_STATUS).toBe('passed');
    const verify = await inRunner('verify-monitoring', viaJump({ 'health-url': '' }));
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.outputs.VERIFY_STATUS).toBe('passed');

    expect(historyLines().map((h) => [h.action, h.outcome])).toEqual([
      ['deploy-backend', 'success'],
      ['deploy-backend', 'success'],
      ['rollback-backend', 'success'],
      ['cleanup-backend', 'success'],
      ['deploy-monitoring', 'success'],
    ]);
    // Every one of the six runs logged in at the bastion (none found another way to the NAS).
    expect(bastionLogins() - logins).toBe(6);
  });
});

describe('nas-release from a terminal through the bastion', () => {
  it('takes the same options as --jump-host and so on, the key and host keys from files', async () => {
    resetNas();
    const args = [
      'netns',
      'exec',
      NETNS,
      process.execPath,
      join(ROOT, 'dist/cli/index.js'),
      'deploy-backend',
      '--host=127.0.0.1',
      '--port=2222',
      '--username=nas',
      `--private-key-file=${STATE}/client_ed25519`,
      `--host-key-file=${STATE}/host_fingerprint`,
      `--jump-host=${BASTION.host}`,
      `--jump-port=${BASTION.port}`,
      `--jump-username=${BASTION.user}`,
      `--jump-private-key-file=${BASTION.dir}/client_ed25519`,
      `--jump-host-key-file=${BASTION.dir}/host_fingerprint`,
      `--health-url=${HEALTH_URL}`,
    ];
    const { stdout } = await promisify(execFile)('ip', args, { maxBuffer: 64 * 1024 * 1024 });
    expect(stdout).toMatch(/^DEPLOYED_BACKEND_TAG=\d{4}\.\d\d\.\d\d-[0-9a-f]{7}$/m);
    expect(stdout).toContain(`Jump:    ${BASTION.user}@${BASTION.host}:${BASTION.port}`);
    expect(containerState(CONTAINER)).toBe('running healthy');
  });
});

describe('the bastion is pinned as the NAS is', () => {
  beforeAll(() => resetNas());

  it('a wrong jump-host-key is refused before anything reaches the NAS, showing the fingerprint presented', async () => {
    const history = historyLines();
    const reached = nasConnections();
    const logins = bastionLogins();
    // A real key, but the NAS's: the bastion is not who the workflow pinned.
    const run = await inRunner('deploy-backend', viaJump({ 'jump-host-key': hostFingerprint() }));
    expect(run.code).toBe(1);
    const error = errorOf(run);
    expect(error).toContain(
      `HOST KEY MISMATCH: the jump host presented its ssh-ed25519 key ${bastionFingerprint()}, which is not the pinned jump-host-key (${hostFingerprint()}). Nothing was sent to the NAS.`,
    );
    expect(run.stdout).toContain('update jump-host-key');
    expect(run.stdout).not.toMatch(/connection attempt \d failed/);
    // Nothing reached the NAS: its sshd saw no connection, the history is as it was, and nobody logged in at the bastion.
    expect(nasConnections()).toBe(reached);
    expect(historyLines()).toEqual(history);
    expect(bastionLogins()).toBe(logins);
  });

  it('no jump-host-key: refused with the fingerprint to pin, and insecure-skip-host-key-check does not lift it', async () => {
    const reached = nasConnections();
    for (const skip of ['false', 'true']) {
      const run = await inRunner(
        'cleanup-backend',
        viaJump({ 'jump-host-key': '', 'insecure-skip-host-key-check': skip, keep: '5' }),
      );
      expect(run.code).toBe(1);
      expect(errorOf(run)).toContain('No jump-host-key is set, so the jump host cannot be trusted');
      expect(run.stdout).toContain(`The jump host presented the host key ${bastionFingerprint()}.`);
      expect(run.stdout).toContain(`ssh-keyscan -p ${BASTION.port} ${BASTION.host}`);
    }
    expect(nasConnections()).toBe(reached);
  });

  it('behind a trusted bastion, the NAS key is still checked', async () => {
    const run = await inRunner('cleanup-backend', viaJump({ 'host-key': bastionFingerprint(), keep: '5' }));
    expect(run.code).toBe(1);
    expect(errorOf(run)).toContain(`HOST KEY MISMATCH: the NAS presented its ssh-ed25519 key ${hostFingerprint()}`);
  });

  it('a NAS port the bastion may not forward to is refused at once, saying why', async () => {
    const run = await inRunner('cleanup-backend', viaJump({ port: '2223', keep: '5' }));
    expect(run.code).toBe(1);
    expect(run.stdout).not.toMatch(/connection attempt \d failed/);
    expect(errorOf(run)).toMatch(
      /The jump host 10\.201\.0\.1:2230 could not reach the NAS .* at 127\.0\.0\.1:2223: its sshd does not allow forwarding there/,
    );
  });
});

describe('a cut link through the bastion behaves like a cut without one', () => {
  let proxy: TcpProxy;
  const sha = (): string => pushCommit({ 'backend/www/version': `cut ${Date.now()}\n` }, 'A release to cut');
  /** Through the proxy in front of the bastion; cuts every connection once the log shows `at` (after `afterMs`). */
  async function runAndCut(at: string | RegExp, delayMs = 0, afterMs = 0) {
    let log = '';
    let struck = false;
    let armed = true;
    proxy.delayMs = delayMs;
    const run = await inRunner(
      'deploy-backend',
      viaJump({ 'jump-port': String(CUT_PORT), 'health-timeout': '30' }),
      (chunk) => {
        log += chunk;
        if (armed && (typeof at === 'string' ? log.includes(at) : at.test(log))) {
          armed = false;
          setTimeout(() => (struck = proxy.cut() > 0), afterMs);
        }
      },
    );
    proxy.delayMs = 0;
    return { ...run, struck };
  }

  /** What faults.test.ts checks after a cut: the phase left on the NAS ends healthy by itself, the history reads, the next deploy works. */
  async function expectRecovered(before: string, next: string): Promise<void> {
    const end = Date.now() + 60_000;
    while (containerState(CONTAINER) !== 'running healthy' && Date.now() < end)
      await new Promise((r) => setTimeout(r, 300));
    expect(containerState(CONTAINER)).toBe('running healthy');
    expect([before, tagOf(next)]).toContain(containerImage(CONTAINER).replace(`${CONTAINER}:`, ''));
    for (const line of historyLines()) expect(line.outcome).toMatch(/^(success|failure|rolled-back|interrupted|noop)$/);
    // The next run through the bastion deploys within a minute (no stale lock).
    const t0 = Date.now();
    const again = await inRunner('deploy-backend', viaJump());
    expect(again.code, again.stdout.slice(-3000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expectHealthy(tagOf(next));
    expect(historyLines().at(-1)).toMatchObject({ action: 'deploy-backend', tag: tagOf(next), outcome: 'success' });
  }

  beforeAll(async () => {
    resetNas();
    proxy = await TcpProxy.start({
      listenHost: BASTION.host,
      listenPort: CUT_PORT,
      targetHost: BASTION.host,
      targetPort: BASTION.port,
    });
    const first = await inRunner('deploy-backend', viaJump());
    expect(first.code, first.stdout).toBe(0);
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('a cut while connecting: the action retries and deploys', async () => {
    const next = sha();
    // The handshakes of two hops over a slow link: the cut lands inside them.
    const run = await runAndCut('[1/8] Taking the release lock', 40, 60);
    expect(run.struck).toBe(true);
    expect(run.stdout).toMatch(/connection attempt 1 failed/);
    expect(run.code, run.stdout.slice(-2000)).toBe(0);
    expectHealthy(tagOf(next));
  });

  it('defect: a cut between the bastion and the NAS went unnoticed (the tunnel stayed half open); now the same failure and recovery as a direct cut', async () => {
    const inner = await TcpProxy.start({ listenPort: NAS_CUT_PORT, targetPort: 2222 });
    try {
      const before = containerImage(CONTAINER).replace(`${CONTAINER}:`, '');
      const next = sha();
      let log = '';
      let struck = false;
      // The link to the bastion stays up: only the NAS's side of the tunnel drops.
      const run = await inRunner(
        'deploy-backend',
        viaJump({ port: String(NAS_CUT_PORT), 'health-timeout': '30' }),
        (chunk) => {
          log += chunk;
          if (!struck && /Recreating scanium-backend \.\.\. *\n/.test(log)) struck = inner.cut() > 0;
        },
      );
      expect(struck, run.stdout.slice(-2000)).toBe(true);
      expect(run.code, run.stdout.slice(-2000)).toBe(1);
      expect(run.stdout).toMatch(/::error::.*connection to the NAS/);
      await expectRecovered(before, next);
    } finally {
      await inner.close();
    }
  });

  it('a cut in the middle of the recreate: the step fails saying the connection to the NAS was lost, the NAS finishes by itself, the next deploy works', async () => {
    const before = containerImage(CONTAINER).replace(`${CONTAINER}:`, '');
    const next = sha();
    const run = await runAndCut(/Recreating scanium-backend \.\.\. *\n/);
    expect(run.struck, run.stdout.slice(-2000)).toBe(true);
    expect(run.code, run.stdout.slice(-2000)).toBe(1);
    expect(run.stdout).toMatch(/::error::.*connection to the NAS/);
    await expectRecovered(before, next);
  });
});
