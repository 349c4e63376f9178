import { chmodSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HEALTH_URL,
  connection,
  containerImage,
  containerState,
  historyLines,
  httpGet,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
} from './harness.js';
import { TcpProxy } from './support/proxy.js';
import { cutDuring, killDuring, type Broken, type Point as FaultPoint } from './support/faults.js';

/**
 * Proof under stress: the link to the NAS is cut (or the runner process is
 * killed) at each step of deploy-backend and rollback-backend; five
 * operations race for the lock; the Docker engine fails for the NAS user.
 * After each fault the backend must be running and healthy, the history must
 * read back, and the next deploy must succeed by itself within a minute.
 */

const CONTAINER = 'scanium-backend';
const IMAGE = 'scanium-backend';
const SOCKET = '/var/run/docker.sock';
const inputs = (extra: Record<string, string> = {}): Record<string, string> =>
  connection({ 'health-url': HEALTH_URL, 'health-timeout': '30', ...extra });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The sample backend in three variants. The slow one starts its server after
// 5 s: a start period makes that a long health wait, not a failure. The
// compose file checked out is also the one a rollback uses, so the good
// variants both carry it; the broken one fails its checks at once.
const HEALTHCHECK = `    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:18080/health"]
      interval: 1s
      timeout: 2s
      retries: 3
`;
const composeFile = (startPeriod: boolean): string => `version: "3.8"
services:
  api:
    build: .
    image: scanium-backend:\${BACKEND_TAG:-latest}
    container_name: scanium-backend
    network_mode: host
    restart: unless-stopped
    stop_grace_period: 1s
${HEALTHCHECK}${startPeriod ? '      start_period: 20s\n' : ''}`;
const FAST_DOCKERFILE =
  'FROM nas-base:latest\nCOPY www /www\nCMD ["httpd", "-f", "-p", "127.0.0.1:18080", "-h", "/www"]\n';
const SLOW_DOCKERFILE =
  'FROM nas-base:latest\nCOPY www /www\nCMD ["sh", "-c", "sleep 5; exec httpd -f -p 127.0.0.1:18080 -h /www"]\n';

type Variant = 'fast' | 'slow' | 'broken';
type Point = FaultPoint<Variant>;
let serial = 0;
/** Pushes a new commit of the sample backend; returns its SHA. */
function commit(variant: Variant): string {
  serial += 1;
  return pushCommit(
    {
      'backend/Dockerfile': variant === 'slow' ? SLOW_DOCKERFILE : FAST_DOCKERFILE,
      'backend/docker-compose.yml': composeFile(variant !== 'broken'),
      'backend/www/version': `${variant} ${serial}\n`,
      'backend/www/health': variant === 'broken' ? null : '{"status":"ok"}\n',
    },
    `${variant} release ${serial}`,
  );
}

const running = (): string => containerImage(CONTAINER).replace(`${IMAGE}:`, '');

/** Waits (up to `ms`) for the backend container to run and be healthy; returns its tag. */
async function healthyTag(ms = 60_000): Promise<string> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (containerState(CONTAINER) === 'running healthy') return running();
    await sleep(300);
  }
  expect.fail(
    `${CONTAINER} is not running healthy after ${ms / 1000}s: ${containerState(CONTAINER)} (${containerImage(CONTAINER)})`,
  );
}

/** The history reads back: every line is a whole record. */
function expectHistoryReadable(): Array<Record<string, string>> {
  const lines = historyLines(); // JSON.parse throws on a torn line
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    expect(line.action, JSON.stringify(line)).toMatch(/^(deploy|rollback)-(backend|monitoring)$/);
    expect(line.outcome, JSON.stringify(line)).toMatch(/^(success|failure|rolled-back|interrupted|noop)$/);
    expect(Date.parse(line.started)).not.toBeNaN();
    expect(Date.parse(line.ended)).not.toBeNaN();
  }
  return lines;
}

const runAndCut = (
  proxy: TcpProxy,
  action: string,
  extra: Record<string, string>,
  point: Point,
  base = inputs,
): Promise<Broken> => cutDuring(proxy, action, extra, point, base);
const runAndKill = (
  action: string,
  extra: Record<string, string>,
  at: string | RegExp,
  base = inputs,
): Promise<Broken> => killDuring(action, extra, at, base);

/** What a user checks after a fault, then the next (direct) deploy of `good`. */
async function expectRecovery(
  fault: Broken,
  how: 'cut' | 'kill',
  allowed: string[],
  good: { sha: string; tag: string },
  mayFinish = false,
): Promise<void> {
  expect(fault.struck, `the ${how} never happened:\n${fault.stdout.slice(-2000)}`).toBe(true);
  if (how === 'kill') expect(fault.code).toBe(137);
  else if (mayFinish && fault.code === 0) {
    // The end was already in: the release says it is complete.
    expect(fault.stdout).toMatch(/^(DEPLOYMENT|ROLLBACK) COMPLETE$/m);
  } else {
    // The step fails and says why in its annotation.
    expect(fault.code, fault.stdout.slice(-2000)).toBe(1);
    expect(fault.stdout).toMatch(/::error::.*connection to the NAS/);
  }
  // The phase left on the NAS finishes by itself: old or new tag, healthy.
  const waited = Date.now();
  const tag = await healthyTag();
  const healthyAfter = Date.now() - waited;
  expect(allowed, `runs ${tag}; history: ${JSON.stringify(historyLines().slice(-4))}`).toContain(tag);
  expectHistoryReadable();

  const t0 = Date.now();
  const next = await runAction('deploy-backend', inputs({ ref: good.sha }));
  const took = Date.now() - t0;
  expect(next.code, next.stdout.slice(-3000)).toBe(0);
  console.log(`${how}: run ${fault.ms} ms, healthy ${healthyAfter} ms later, next deploy ${took} ms`);
  expect(took, 'the next deploy took too long (a stale lock?)').toBeLessThan(60_000);
  expect(next.outputs.DEPLOYED_BACKEND_TAG).toBe(good.tag);
  expect(containerImage(CONTAINER)).toBe(`${IMAGE}:${good.tag}`);
  expect(containerState(CONTAINER)).toBe('running healthy');
  expect((await httpGet(HEALTH_URL)).status).toBe(200);
  expect(expectHistoryReadable().at(-1)).toMatchObject({ action: 'deploy-backend', tag: good.tag, outcome: 'success' });
}

let proxy: TcpProxy;
/** The last release known to be good: each recovery deploys it. */
let good = { sha: '', tag: '' };

beforeAll(async () => {
  resetNas();
  proxy = await TcpProxy.start({ targetPort: 2222 });
  const sha = commit('fast');
  const first = await runAction('deploy-backend', inputs());
  expect(first.code, first.stdout).toBe(0);
  good = { sha, tag: tagOf(sha) };
});

afterAll(async () => {
  chmodSync(SOCKET, 0o660);
  await proxy?.close();
});

const DEPLOY_POINTS: Array<[string, Point]> = [
  ['right after the lock is taken', { at: 'Release lock held' }],
  ['while the checkout moves', { at: 'Updating repository from' }],
  ['at the image tag', { at: '[3/8] Computing image tag' }],
  ['when the build starts', { at: '[4/8] Building' }],
  ['in the middle of the build', { at: /Step 2\/\d+ : COPY/ }],
  ['after the build', { at: '✓ Image built' }],
  ['while verifying the image tag', { at: '[5/8] Verifying image tag' }],
  ['when the recreate starts', { at: '[6/8] Deploying' }],
  ['in the middle of the recreate', { at: /Recreating scanium-backend \.\.\. *\n/ }],
  ['after the recreate', { at: 'Container recreated' }],
  ['when the health wait starts', { at: '[7/8] Waiting', variant: 'slow' }],
  ['in the middle of the health wait', { at: 'waiting...', variant: 'slow' }],
  // The last steps end the phase, and with it the release: a slow link keeps its end in flight when the cut lands.
  ['once healthy', { at: 'Backend is healthy', delayMs: 150, mayFinish: true }],
  ['while verifying the deployment', { at: '[8/8] Verifying', delayMs: 150, mayFinish: true }],
  [
    'as the phase records the release in the history',
    { at: 'Health endpoint responding', delayMs: 150, mayFinish: true },
  ],
  ['after a failed health check, before the automatic rollback', { at: 'Last 100 log lines', variant: 'broken' }],
  ['in the middle of the automatic rollback', { at: 'Rolling back to', variant: 'broken' }],
  // killed runners
  ['when the build starts', { at: '[4/8] Building', how: 'kill' }],
  ['in the middle of the recreate', { at: /Recreating scanium-backend \.\.\. *\n/, how: 'kill' }],
  ['in the middle of the health wait', { at: 'waiting...', variant: 'slow', how: 'kill' }],
  ['in the middle of the automatic rollback', { at: 'Rolling back to', variant: 'broken', how: 'kill' }],
];

describe('deploy-backend survives a cut link or a killed runner at every step', () => {
  it('a cut while connecting: the action retries and deploys', async () => {
    const sha = commit('fast');
    // A handshake of several 80 ms round trips: the cut lands inside it.
    const fault = await runAndCut(
      proxy,
      'deploy-backend',
      {},
      { at: '[1/8] Taking the release lock', afterMs: 60, delayMs: 40 },
    );
    expect(fault.struck).toBe(true);
    expect(fault.stdout).toMatch(/connection attempt 1 failed/);
    expect(fault.code, fault.stdout.slice(-2000)).toBe(0);
    good = { sha, tag: tagOf(sha) };
    expect(await healthyTag()).toBe(good.tag);
    expect(expectHistoryReadable().at(-1)).toMatchObject({ tag: good.tag, outcome: 'success' });
  });

  it.each(DEPLOY_POINTS)('%s (%o)', async (_name, point) => {
    const how = point.how ?? 'cut';
    const variant = point.variant ?? 'fast';
    const before = running();
    const sha = commit(variant);
    const fault =
      how === 'cut'
        ? await runAndCut(proxy, 'deploy-backend', {}, point)
        : await runAndKill('deploy-backend', {}, point.at);
    if (variant !== 'broken') good = { sha, tag: tagOf(sha) };
    // A broken release is never left running: the phase on the NAS rolls it back by itself.
    await expectRecovery(fault, how, variant === 'broken' ? [before] : [before, tagOf(sha)], good, point.mayFinish);
  });
});

const ROLLBACK_POINTS: Array<[string, Point & { named?: boolean }]> = [
  ['right after the lock is taken', { at: 'Release lock held' }],
  ['after reading the history', { at: 'Target: the previous release' }],
  ['while verifying the image', { at: '[2/6] Verifying image' }],
  ['while checking the current deployment', { at: '[3/6] Checking current deployment' }],
  ['when the recreate starts', { at: 'and redeploying' }],
  ['in the middle of the recreate', { at: /Recreating scanium-backend \.\.\. *\n/ }],
  ['after the recreate', { at: 'Container recreated' }],
  ['in the middle of the health wait', { at: 'waiting...', named: true }],
  ['while verifying the rollback', { at: 'Verifying rollback', delayMs: 150, mayFinish: true }],
  // killed runners
  ['in the middle of the recreate', { at: /Recreating scanium-backend \.\.\. *\n/, how: 'kill' }],
  ['in the middle of the health wait', { at: 'waiting...', named: true, how: 'kill' }],
];

describe('rollback-backend survives a cut link or a killed runner at every step', () => {
  let previous = '';
  /** A release whose container becomes healthy slowly (for cuts in a rollback's health wait). */
  let slowTag = '';
  beforeAll(async () => {
    // A release that becomes healthy slowly (for a named rollback), then two
    // good releases in a row: the rollback target and the release running.
    const slow = commit('slow');
    expect((await runAction('deploy-backend', inputs())).code).toBe(0);
    slowTag = tagOf(slow);
    const p = commit('fast');
    expect((await runAction('deploy-backend', inputs())).code).toBe(0);
    previous = tagOf(p);
    const sha = commit('fast');
    expect((await runAction('deploy-backend', inputs())).code).toBe(0);
    good = { sha, tag: tagOf(sha) };
  });

  it.each(ROLLBACK_POINTS)('%s (%o)', async (_name, point) => {
    const how = point.how ?? 'cut';
    const before = running();
    expect(before).toBe(good.tag);
    const target = point.named ? slowTag : previous;
    const extra: Record<string, string> = point.named ? { tag: slowTag } : {};
    const fault =
      how === 'cut'
        ? await runAndCut(proxy, 'rollback-backend', extra, point)
        : await runAndKill('rollback-backend', extra, point.at);
    // An empty-tag rollback goes to the release before the running one, however long the history has grown.
    const chosen = /Target: the previous release, (\S+)/.exec(fault.stdout)?.[1];
    if (chosen) expect(chosen, 'the rollback chose another release than the one before the running one').toBe(previous);
    await expectRecovery(fault, how, [before, target], good, point.mayFinish);
    // A rollback that the NAS finished in spite of the fault is a release like any other (it ran, healthy):
    // with the recovery deploy after it, it is now the release before the running one.
    const [rolled, recovered] = historyLines().slice(-2);
    expect(recovered).toMatchObject({ action: 'deploy-backend', tag: good.tag, outcome: 'success' });
    if (rolled.action === 'rollback-backend' && rolled.outcome === 'success') {
      expect(rolled.tag).toBe(target);
      previous = target;
    }
  });
});

describe('five operations at once', () => {
  it('3 deploys and 2 rollbacks take turns: one history line each, no overlap, all clean', async () => {
    const sha = commit('fast');
    good = { sha, tag: tagOf(sha) };
    const count = historyLines().length;
    const ops = ['deploy-backend', 'rollback-backend', 'deploy-backend', 'rollback-backend', 'deploy-backend'];
    const ids = ops.map((_, i) => `${Date.now()}${i}`);
    const runs = await Promise.all(
      ops.map((action, i) => runAction(action, inputs({ 'lock-timeout': '300' }), { env: { GITHUB_RUN_ID: ids[i] } })),
    );
    for (const run of runs) {
      if (run.code !== 0) expect(run.stdout).toMatch(/::error::The release lock .* is held by/);
    }
    expect(runs.filter((r) => r.code === 0).length, runs.map((r) => r.stdout.slice(-800)).join('\n----\n')).toBe(5);
    // Some waited, and said for whom.
    expect(
      runs.some((r) =>
        /Waiting for the release lock of .* held by (deploy|rollback)-backend by e2e-tester/.test(r.stdout),
      ),
    ).toBe(true);

    const added = historyLines()
      .slice(count)
      .filter((l) => ids.includes(l.id));
    expect(added.map((l) => l.action).sort()).toEqual([
      'deploy-backend',
      'deploy-backend',
      'deploy-backend',
      'rollback-backend',
      'rollback-backend',
    ]);
    expect(added.every((l) => l.outcome === 'success')).toBe(true);
    const spans = added
      .map((l) => ({
        started: Date.parse(l.started),
        ended: Date.parse(l.ended),
        what: `${l.action} ${l.tag} ${l.started}..${l.ended}`,
      }))
      .sort((a, b) => a.started - b.started);
    for (let i = 1; i < spans.length; i++) {
      expect(spans[i].started, `${spans[i - 1].what} overlaps ${spans[i].what}`).toBeGreaterThanOrEqual(
        spans[i - 1].ended,
      );
    }
    expect(await healthyTag(30_000)).toMatch(/^\d{4}\.\d{2}\.\d{2}-[0-9a-f]{7}$/);
  });
});

describe('the Docker engine fails for the NAS user', () => {
  const mode = statSync(SOCKET).mode & 0o777;
  /** The NAS user loses access to the engine (root, running these checks, keeps it). */
  const engineDown = (): void => chmodSync(SOCKET, 0o000);
  const engineUp = (): void => chmodSync(SOCKET, mode);

  it('before the release: a clear failure, nothing changed; the next run deploys', async () => {
    const before = running();
    const sha = commit('fast');
    engineDown();
    let run;
    try {
      run = await runAction('deploy-backend', inputs());
    } finally {
      engineUp();
    }
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /::error::docker on the NAS cannot reach the engine: permission denied.*Nothing was changed/,
    );
    expect(running()).toBe(before);
    expect(containerState(CONTAINER)).toBe('running healthy');
    good = { sha, tag: tagOf(sha) };
    const next = await runAction('deploy-backend', inputs());
    expect(next.code, next.stdout.slice(-2000)).toBe(0);
    expect(running()).toBe(good.tag);
  });

  it('in the middle of the recreate: a clear failure that says what happened; the next run deploys', async () => {
    const before = running();
    const sha = commit('fast');
    let log = '';
    let run;
    try {
      // pre-deploy only holds the phase still for a moment: the engine goes away right before the recreate.
      run = await runAction('deploy-backend', inputs({ 'pre-deploy': 'sleep 2' }), {
        onStdout: (chunk) => {
          log += chunk;
          if (log.includes('Running pre-deploy')) engineDown();
        },
      });
    } finally {
      engineUp();
    }
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('docker compose up failed');
    const error = run.stdout.split('\n').find((l) => l.startsWith('::error::')) ?? '';
    // The annotation must not claim a rollback to no tag, nor blame a health check that never ran.
    expect(error).not.toMatch(/rolled back to scanium-backend:(%0A|\s|$)/);
    expect(error).not.toMatch(/health check/);
    expect(error).toMatch(/Permission denied|docker|compose/i);
    // Nothing could change the container: the old release still serves.
    expect(running()).toBe(before);
    expect(containerState(CONTAINER)).toBe('running healthy');
    expectHistoryReadable();
    good = { sha, tag: tagOf(sha) };
    const next = await runAction('deploy-backend', inputs());
    expect(next.code, next.stdout.slice(-2000)).toBe(0);
    expect(running()).toBe(good.tag);
    expect(containerState(CONTAINER)).toBe('running healthy');
  });
});

const STACK = ['scanium-grafana', 'scanium-mimir', 'scanium-loki', 'scanium-tempo', 'scanium-alloy'];
const monitoringInputs = (extra: Record<string, string> = {}): Record<string, string> =>
  connection({ 'health-timeout': '60', ...extra });

/** Waits (up to `ms`) until every container of the monitoring stack runs, healthy where it has a healthcheck. */
async function stackUp(ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  const states = (): string[] => STACK.map((c) => containerState(c).trim());
  while (Date.now() < end) {
    if (states().every((s) => s === 'running' || s === 'running healthy')) return;
    await sleep(300);
  }
  expect.fail(
    `the monitoring stack is not up after ${ms / 1000}s: ${STACK.map((c, i) => `${c} ${states()[i]}`).join(', ')}`,
  );
}

const MONITORING_POINTS: Array<
  [string, { action: 'deploy-monitoring' | 'rollback-monitoring'; at: string; how?: 'cut' | 'kill' }]
> = [
  ['deploy-monitoring, in the middle of the restart', { action: 'deploy-monitoring', at: 'Restarting the stack' }],
  [
    'deploy-monitoring, in the middle of the health wait',
    { action: 'deploy-monitoring', at: 'Waiting for the stack to be healthy' },
  ],
  ['deploy-monitoring, while verifying', { action: 'deploy-monitoring', at: 'Verifying the stack' }],
  ['deploy-monitoring, while tagging', { action: 'deploy-monitoring', at: 'Tagging the release' }],
  ['rollback-monitoring, right after the checkout', { action: 'rollback-monitoring', at: 'Checked out monitoring-' }],
  ['rollback-monitoring, in the middle of the restart', { action: 'rollback-monitoring', at: 'Restarting the stack' }],
  [
    'deploy-monitoring, killed in the middle of the restart',
    { action: 'deploy-monitoring', at: 'Restarting the stack', how: 'kill' },
  ],
];

describe('deploy-monitoring and rollback-monitoring survive a cut link or a killed runner', () => {
  let head = '';
  beforeAll(async () => {
    // Two monitoring releases: the rollback target and the one running.
    expect((await runAction('deploy-monitoring', monitoringInputs())).code).toBe(0);
    head = pushCommit(
      { 'monitoring/alloy/config.alloy': `// revision: faults ${Date.now()}\n` },
      'Monitoring: a second configuration',
    );
    const second = await runAction('deploy-monitoring', monitoringInputs());
    expect(second.code, second.stdout.slice(-2000)).toBe(0);
  });

  it.each(MONITORING_POINTS)('%s', async (_name, point) => {
    const how = point.how ?? 'cut';
    const fault =
      how === 'cut'
        ? await runAndCut(proxy, point.action, {}, point, monitoringInputs)
        : await runAndKill(point.action, {}, point.at, monitoringInputs);
    expect(fault.struck, `the ${how} never happened:\n${fault.stdout.slice(-2000)}`).toBe(true);
    if (how === 'kill') expect(fault.code).toBe(137);
    else {
      expect(fault.code, fault.stdout.slice(-2000)).toBe(1);
      expect(fault.stdout).toMatch(/::error::.*connection to the NAS/);
    }
    await stackUp();
    expectHistoryReadable();
    const t0 = Date.now();
    const next = await runAction('deploy-monitoring', monitoringInputs());
    const took = Date.now() - t0;
    console.log(`${how}: run ${fault.ms} ms, next deploy-monitoring ${took} ms`);
    expect(next.code, next.stdout.slice(-3000)).toBe(0);
    expect(took).toBeLessThan(60_000);
    expect(next.outputs).toMatchObject({
      DEPLOYED_MONITORING_TAG: `monitoring-${tagOf(head)}`,
      MONITORING_COMMIT: head,
      VERIFY_STATUS: 'passed',
    });
    await stackUp(5_000);
    expect(expectHistoryReadable().at(-1)).toMatchObject({
      action: 'deploy-monitoring',
      commit: head,
      outcome: 'success',
    });
  });
});
