import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from './harness.js';
import {
  NRG_REPO,
  PROXY_URL,
  UPSTREAM,
  get,
  nrgInputs,
  pushSample,
  resetSample,
  runningColors,
  sampleDocker,
  sampleHistory,
  tagOfSha,
} from './support/blue-green.js';
import { cutDuring, killDuring, type Broken, type Point } from './support/faults.js';
import { TcpProxy } from './support/proxy.js';

/**
 * The fault suite's cut link and killed runner (test/e2e/faults.test.ts), with
 * strategy blue-green, at the idle colour's start, its health wait, the switch
 * and the drain. Afterwards exactly one colour serves through the proxy,
 * healthy, and the next release goes through by itself.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
// a drain long enough for the fault to land inside it
const inputs = (extra: Record<string, string> = {}): Record<string, string> =>
  nrgInputs({ 'drain-seconds': '3', ...extra });

type Variant = 'fast' | 'slow';
const FAST =
  'FROM nas-base:latest\nCOPY www /www\nCMD ["sh", "-c", "exec httpd -f -p 127.0.0.1:$BACKEND_PORT -h /www"]\n';
// becomes healthy after 4 s: a health wait long enough to strike inside
const SLOW =
  'FROM nas-base:latest\nCOPY www /www\nCMD ["sh", "-c", "sleep 4; exec httpd -f -p 127.0.0.1:$BACKEND_PORT -h /www"]\n';
let serial = 0;
function release(variant: Variant): { sha: string; version: string } {
  serial += 1;
  const version = `${variant} ${serial}`;
  const sha = pushSample(
    { 'nrg/Dockerfile': variant === 'slow' ? SLOW : FAST, 'nrg/www/version': `${version}\n` },
    `${variant} release ${serial}`,
  );
  return { sha, version };
}

const colorPort: Record<string, string> = { blue: '18121', green: '18122' };

/** Waits until the phase left on the NAS is done: one colour runs, the proxy points at it and it answers. */
async function oneColourServes(ms = 60_000): Promise<{ color: string; version: string }> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    const colors = runningColors();
    const live = readFileSync(`${NRG_REPO}/.git/nas-release/live-color`, 'utf8').trim();
    const upstream = readFileSync(UPSTREAM, 'utf8');
    const answer = await get(`${PROXY_URL}/version`);
    const health =
      colors.length === 1 ? sampleDocker('inspect', '--format', '{{.State.Health.Status}}', `nrg-backend-${live}`) : '';
    last = `${colors.join(', ')} | live ${live} | ${upstream.trim()} | ${answer.status} ${answer.body.trim()} | ${health}`;
    if (
      colors.length === 1 &&
      colors[0].startsWith(`nrg-backend-${live} `) &&
      upstream === `server 127.0.0.1:${colorPort[live]};\n` &&
      answer.status === 200 &&
      health === 'healthy'
    )
      return { color: live, version: answer.body.trim() };
    await sleep(300);
  }
  expect.fail(`not exactly one healthy colour serving after ${ms / 1000}s: ${last}`);
}

let proxy: TcpProxy;
let serving = '';
let previousVersion = '';

beforeAll(async () => {
  resetSample();
  proxy = await TcpProxy.start({ targetPort: 2222 });
  const first = await runAction('deploy-backend', inputs());
  expect(first.code, first.stdout.slice(-2000)).toBe(0);
  serving = 'one';
});
afterAll(async () => {
  await proxy?.close();
});

/** What a user checks after a fault: one colour serves, old or new, healthy; the next deploy goes through. */
async function expectRecovery(fault: Broken, how: 'cut' | 'kill', allowed: string[]): Promise<void> {
  expect(fault.struck, `the ${how} never happened:\n${fault.stdout.slice(-2000)}`).toBe(true);
  if (how === 'kill') expect(fault.code).toBe(137);
  else if (fault.code !== 0) expect(fault.stdout).toMatch(/::error::.*connection to the NAS/);
  const now = await oneColourServes();
  expect(allowed).toContain(now.version);
  // the history reads back whole
  for (const line of sampleHistory()) expect(line.outcome).toMatch(/^(success|failure|rolled-back|interrupted|noop)$/);
  const next = release('fast');
  const t0 = Date.now();
  const run = await runAction('deploy-backend', inputs());
  expect(run.code, run.stdout.slice(-3000)).toBe(0);
  expect(Date.now() - t0, 'the next release took too long (a stale lock?)').toBeLessThan(60_000);
  expect(run.outputs.DEPLOYED_BACKEND_TAG).toBe(tagOfSha(next.sha));
  const after = await oneColourServes(10_000);
  expect(after.version).toBe(next.version);
  // what the fault left serving is the release before the running one: an empty-tag rollback's target
  previousVersion = now.version;
  serving = next.version;
}

const POINTS: Array<[string, Point<Variant> & { how: 'cut' | 'kill' }]> = [
  ['cut at the idle colour’s start', { at: /Starting nrg-backend:\S+ as the \w+ colour/, how: 'cut' }],
  ['cut in the health wait', { at: 'Waiting for the idle colour', variant: 'slow', how: 'cut' }],
  ['cut at the switch', { at: 'Switching the proxy', how: 'cut', delayMs: 100 }],
  ['cut right after the switch', { at: 'The proxy sends requests to the', how: 'cut', delayMs: 100 }],
  // the phase ends at the drain (the stop runs after it, in the background): a slow link keeps its end in flight
  ['cut in the drain', { at: 'Draining the', how: 'cut', delayMs: 150 }],
  ['killed at the idle colour’s start', { at: /Starting nrg-backend:\S+ as the \w+ colour/, how: 'kill' }],
  ['killed in the health wait', { at: 'Waiting for the idle colour', variant: 'slow', how: 'kill' }],
  ['killed at the switch', { at: 'Switching the proxy', how: 'kill' }],
  ['killed in the drain', { at: 'Draining the', how: 'kill' }],
];

describe('blue-green deploy-backend survives a cut link or a killed runner', () => {
  it.each(POINTS)('%s', async (_name, point) => {
    const before = serving;
    const next = release(point.variant ?? 'fast');
    const fault =
      point.how === 'cut'
        ? await cutDuring(proxy, 'deploy-backend', {}, point, (extra) => inputs({ ...extra, port: String(proxy.port) }))
        : await killDuring('deploy-backend', {}, point.at, inputs);
    await expectRecovery(fault, point.how, [before, next.version]);
  });
});

describe('blue-green rollback-backend survives a cut link or a killed runner', () => {
  it.each([
    ['cut at the switch', { at: 'Switching the proxy', how: 'cut', delayMs: 100 }],
    ['killed at the switch', { at: 'Switching the proxy', how: 'kill' }],
    ['cut in the drain', { at: 'Draining the', how: 'cut', delayMs: 150 }],
    ['killed in the drain', { at: 'Draining the', how: 'kill' }],
  ] as Array<[string, Point<Variant> & { how: 'cut' | 'kill' }]>)('%s', async (_name, point) => {
    const before = serving;
    const target = previousVersion;
    const fault =
      point.how === 'cut'
        ? await cutDuring(proxy, 'rollback-backend', {}, point, (extra) =>
            inputs({ ...extra, port: String(proxy.port) }),
          )
        : await killDuring('rollback-backend', {}, point.at, inputs);
    await expectRecovery(fault, point.how, [before, target]);
  });
});

describe('a warm blue-green rollback survives a killed runner at its switch', () => {
  it('killed at the switch back to the warm colour', async () => {
    // the release before keeps running warm beside the new one: the rollback is a switch alone
    const before = serving;
    const next = release('fast');
    const warm = await runAction('deploy-backend', inputs({ 'keep-warm': '120' }));
    expect(warm.code, warm.stdout.slice(-3000)).toBe(0);
    expect(runningColors()).toHaveLength(2);
    // keep-warm 0 on the rollback: once switched, the release it leaves stops after the drain
    const fault = await killDuring('rollback-backend', {}, 'Switching the proxy', inputs);
    expect(fault.stdout).toContain('(kept warm): switching only');
    serving = next.version;
    await expectRecovery(fault, 'kill', [before, next.version]);
  });
});
