import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
  originHead,
} from './harness.js';
import { TcpProxy } from './support/proxy.js';

/**
 * Releases guarded by metrics (issue 17), against the stand-in's real
 * Prometheus (test/nas/prometheus.sh: 127.0.0.1:9090, scraping the sample
 * backend every second). The sample backend counts 10 requests a second, and
 * the share that failed is what its commit's www/error-ratio says.
 */
const PROMETHEUS = 'http://127.0.0.1:9090';
const IMAGE = 'scanium-backend';
const CONTAINER = 'scanium-backend';
const ERRORS = 'sum(rate(sample_http_requests_total{code="500"}[5s])) / sum(rate(sample_http_requests_total[5s]))';
/** The guide's error rule, in seconds: above 1% for 4 s, polled every 2 s. */
const FOR = 4;
const INTERVAL = 2;
const GUARD = `errors: ${ERRORS} > 0.01 for ${FOR}s`;

const watchInputs = (extra: Record<string, string> = {}): Record<string, string> =>
  connection({
    'health-url': HEALTH_URL,
    guards: GUARD,
    'metrics-url': PROMETHEUS,
    watch: '12s',
    'watch-interval': `${INTERVAL}s`,
    ...extra,
  });

interface Report {
  status: string;
  guards: Array<{
    name: string;
    query: string;
    worst: number | string | null;
    breached: boolean;
    errors: number;
    samples: Array<{ at: number; value?: number | string; error?: string }>;
  }>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The first release, deployed without a watch: what a rollback goes back to. */
async function firstRelease(): Promise<string> {
  const tag = tagOf(originHead());
  const run = await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }));
  expect(run.code, run.stdout).toBe(0);
  return tag;
}

/** A release whose error ratio is `ratio` from its start. */
function releaseWithErrors(ratio: string, message: string): string {
  return tagOf(pushCommit({ 'backend/www/error-ratio': `${ratio}\n`, 'backend/www/version': `${message}\n` }, message));
}

async function expectRunning(tag: string): Promise<void> {
  expect(containerImage(CONTAINER)).toBe(`${IMAGE}:${tag}`);
  expect(containerState(CONTAINER)).toBe('running healthy');
  expect((await httpGet(HEALTH_URL)).status).toBe(200);
}

describe('deploy-backend watches its metrics guards against a real Prometheus', () => {
  beforeAll(async () => {
    const ready = await httpGet(`${PROMETHEUS}/-/ready`);
    expect(ready.status, 'Prometheus of the stand-in is not up: run test/nas/up.sh').toBe(200);
  });
  beforeEach(() => resetNas());

  it('a release whose error ratio stays at 0 passes its watch (BusyBox userland, wget)', async () => {
    const first = await firstRelease();
    const tag = releaseWithErrors('0', 'Healthy release');
    const run = await runAction('deploy-backend', watchInputs({ username: 'nasbb', 'remote-path': '/usr/local/bin' }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: tag, PREVIOUS_BACKEND_TAG: first, ROLLED_BACK: 'false' });
    expect(run.outputs.WATCH_STATUS).toBe('passed');
    const report = JSON.parse(run.outputs.WATCH_REPORT) as Report;
    expect(report.status).toBe('passed');
    const [errors] = report.guards;
    expect(errors).toMatchObject({ name: 'errors', query: ERRORS, breached: false });
    // It watched for the whole time, a poll every interval, and saw the ratio at 0.
    expect(errors.samples.at(-1)?.at).toBeGreaterThanOrEqual(12);
    expect(errors.samples.length).toBeGreaterThanOrEqual(12 / INTERVAL);
    const values = errors.samples.filter((s) => typeof s.value === 'number');
    expect(values.length, JSON.stringify(errors.samples)).toBeGreaterThan(errors.samples.length / 2);
    expect(values.every((s) => s.value === 0)).toBe(true);
    expect(errors.worst).toBe(0);
    // The log shows each poll in a collapsed group; the summary a table of worst values.
    expect(run.stdout).toMatch(/::group::Watching 1 guard\(s\) for 12s, every 2s/);
    expect(run.stdout).toMatch(/errors = 0 \(limit > 0\.01\): ok \(1 series\)/);
    expect(run.stdout).toContain('Watch passed: no guard breached in 12s');
    expect(run.summary).toContain('### Metrics watch: passed');
    expect(run.summary).toMatch(/\| errors \| .* \| 0 \| \d+ \| \d+ \| ok \|/);
    await expectRunning(tag);
    expect(historyLines().at(-1)).toMatchObject({ tag, outcome: 'success', detail: 'watch passed' });
  });

  it('a release whose error ratio climbs to 5% is rolled back within one poll of the guard duration', async () => {
    const first = await firstRelease();
    const bad = releaseWithErrors('0.05', 'Release that fails 5% of requests');
    const run = await runAction('deploy-backend', watchInputs({ watch: '60s' }));
    expect(run.code).toBe(1);
    expect(run.outputs).toMatchObject({
      ROLLED_BACK: 'true',
      WATCH_STATUS: 'rolled-back',
      DEPLOYED_BACKEND_TAG: first,
      PREVIOUS_BACKEND_TAG: first,
    });
    const report = JSON.parse(run.outputs.WATCH_REPORT) as Report;
    const [errors] = report.guards;
    expect(errors.breached).toBe(true);
    expect(errors.worst).toBeCloseTo(0.05, 2);
    // The breach came at most one poll after the ratio had been above 1% for the guard's duration.
    const over = errors.samples.filter((s) => typeof s.value === 'number' && s.value > 0.01);
    const held = over.at(-1)!.at - over[0].at;
    expect(held).toBeGreaterThanOrEqual(FOR);
    expect(held).toBeLessThanOrEqual(FOR + INTERVAL + 1);
    // It did not wait for the end of the 60 s watch.
    expect(errors.samples.at(-1)!.at).toBeLessThan(30);
    // The error names the guard, the values it saw and the query.
    const annotation = run.stdout.split('\n').find((l) => l.startsWith('::error::')) ?? '';
    expect(annotation).toContain('guard errors breached');
    expect(annotation).toContain(ERRORS);
    expect(annotation).toMatch(/values over time .*\d+s 0\.05/);
    expect(annotation).toContain(`rolled back to ${IMAGE}:${first}`);
    expect(run.summary).toMatch(/\| errors \| .* \| 0\.05\d* \| \d+ \| \d+ \| breached \|/);
    // The previous release runs again, and the history says so.
    await expectRunning(first);
    expect((await httpGet('http://127.0.0.1:18080/version')).body).not.toContain('5%');
    expect(historyLines().at(-1)).toMatchObject({
      tag: bad,
      previous: first,
      outcome: 'rolled-back',
      detail: 'metrics guard breached during the watch',
    });
    expect(historyLines().filter((l) => l.tag === bad)).toHaveLength(1);
  });

  it('a watch that never got an answer ends inconclusive; a broken PromQL is refused before connecting; a refused query rolls back with on-query-error=fail', async () => {
    const first = await firstRelease();
    // Nothing listens on 9091: every query fails, and the default only warns, but the watch cannot say it passed.
    const good = releaseWithErrors('0', 'Release watched through a dead endpoint');
    const warned = await runAction(
      'deploy-backend',
      watchInputs({ 'metrics-url': 'http://127.0.0.1:9091', watch: '4s' }),
    );
    expect(warned.code, warned.stdout).toBe(0);
    expect(warned.outputs).toMatchObject({
      WATCH_STATUS: 'inconclusive',
      ROLLED_BACK: 'false',
      DEPLOYED_BACKEND_TAG: good,
    });
    expect(warned.stdout).toMatch(/::warning::Guard errors: query failed: no answer from http:\/\/127\.0\.0\.1:9091/);
    expect(warned.stdout).toMatch(
      /::warning::Watch inconclusive: guard\(s\) errors never got one good answer in 4s; the release stays/,
    );
    expect(warned.stdout).not.toContain('Watch passed');
    const report = JSON.parse(warned.outputs.WATCH_REPORT) as Report;
    expect(report.status).toBe('inconclusive');
    expect(report.guards[0].errors).toBe(report.guards[0].samples.length);
    expect(report.guards[0].worst).toBeNull();
    expect(warned.summary).toContain('### Metrics watch: inconclusive');
    expect(historyLines().at(-1)).toMatchObject({ tag: good, outcome: 'success', detail: 'watch inconclusive' });
    await expectRunning(good);

    // A guard whose PromQL does not parse is refused before anything connects, naming the guard and where.
    pushCommit({ 'backend/www/version': 'three\n' }, 'Release with a broken guard');
    const proxy = await TcpProxy.start({ targetPort: 2222 });
    try {
      const broken = await runAction(
        'deploy-backend',
        watchInputs({
          port: String(proxy.port),
          guards: 'errors: sum(rate(sample_http_requests_total[5s]) > 0.01 for 4s',
        }),
      );
      expect(broken.code).toBe(1);
      expect(broken.stdout).toMatch(
        /^::error::Input 'guards': guard errors: its PromQL does not parse at character 41 of "sum\(rate\(sample_http_requests_total\[5s\]\)" \(it ends there: something is missing\)\. Nothing was changed on the NAS/m,
      );
      expect(proxy.connections).toBe(0);
    } finally {
      await proxy.close();
    }
    await expectRunning(good);

    // A query that parses but that Prometheus refuses (rate of an instant vector), with on-query-error=fail:
    // rolled back, saying what Prometheus said.
    const failed = await runAction(
      'deploy-backend',
      watchInputs({ guards: 'errors: rate(sample_http_requests_total) > 0.01 for 4s', 'on-query-error': 'fail' }),
    );
    expect(failed.code).toBe(1);
    expect(failed.outputs).toMatchObject({
      ROLLED_BACK: 'true',
      WATCH_STATUS: 'rolled-back',
      DEPLOYED_BACKEND_TAG: good,
    });
    expect(failed.stdout).toMatch(/::error::.*the query of guard errors failed and on-query-error is fail/);
    expect(failed.stdout).toMatch(/HTTP 400: .*parse error: expected type range vector/);
    await expectRunning(good);
    expect(first).not.toBe(good);
  });
});

/**
 * One series of value 0 whose label fills the first 999,9xx bytes of the answer (label_replace repeating
 * it tenfold, five times over), then, sorted after it, one of value 0.5: past the first 1,000,000 bytes.
 */
function longAnswerQuery(): string {
  let q = 'label_replace(vector(0), "pad", "xxxxxxxxx", "", "")';
  for (const extra of [9, 9, 8, 7, 0]) {
    const tenfold = '${1}'.repeat(10) + 'x'.repeat(extra);
    q = `label_replace(${q}, "pad", "${tenfold}", "pad", "(.*)")`;
  }
  return `sort(${q} or label_replace(vector(0.5), "late", "yes", "", ""))`;
}

describe('data safety 10: an answer too long to read whole', () => {
  beforeEach(() => resetNas());

  it('is a failed query that names the guard and the cap, never a cut answer that passes', async () => {
    const first = await firstRelease();
    releaseWithErrors('0', 'Release watched by a guard with a long answer');
    const run = await runAction(
      'deploy-backend',
      watchInputs({ guards: `long: ${longAnswerQuery()} > 0.01 for 2s`, 'on-query-error': 'fail', watch: '4s' }),
    );
    expect(run.stdout).toMatch(
      /Guard long: query failed: the answer is 1000\d\d\d bytes, over the 1000000 the watch reads: aggregate the query/,
    );
    expect(run.code).toBe(1);
    expect(run.outputs).toMatchObject({
      ROLLED_BACK: 'true',
      WATCH_STATUS: 'rolled-back',
      DEPLOYED_BACKEND_TAG: first,
    });
    await expectRunning(first);
  });
});

describe('a cut link during the watch still ends in passed or rolled back', () => {
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await TcpProxy.start({ targetPort: 2222 });
  });
  afterAll(async () => {
    await proxy?.close();
  });
  beforeEach(() => resetNas());

  /** Deploys through the proxy and cuts the link at the watch's second poll. */
  async function deployAndCut(extra: Record<string, string>): Promise<{ code: number; stdout: string; cut: boolean }> {
    let log = '';
    let cut = false;
    const run = await runAction('deploy-backend', watchInputs({ port: String(proxy.port), ...extra }), {
      onStdout: (chunk) => {
        log += chunk;
        if (!cut && /poll 2 at/.test(log)) cut = proxy.cut() > 0;
      },
    });
    return { code: run.code, stdout: run.stdout, cut };
  }

  /** Waits for the release's own history line, written on the NAS by the phase the runner left behind. */
  async function historyOf(tag: string, ms = 90_000): Promise<Record<string, string>> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const line = historyLines().find((l) => l.tag === tag && l.action === 'deploy-backend');
      if (line) return line;
      await sleep(500);
    }
    return expect.fail(`no history line for ${tag}: ${JSON.stringify(historyLines().slice(-3))}`);
  }

  it('a breaching release cut off mid-watch rolls back by itself, and the history says rolled-back', async () => {
    const first = await firstRelease();
    const bad = releaseWithErrors('0.05', 'Bad release, runner cut off');
    const fault = await deployAndCut({ watch: '60s' });
    expect(fault.cut, fault.stdout.slice(-2000)).toBe(true);
    expect(fault.code).toBe(1);
    expect(fault.stdout).toMatch(/::error::.*connection to the NAS/);
    const line = await historyOf(bad);
    expect(line).toMatchObject({
      outcome: 'rolled-back',
      previous: first,
      detail: 'metrics guard breached during the watch',
    });
    await expectRunning(first);
  });

  it('a healthy release cut off mid-watch completes its watch, and the history says passed', async () => {
    await firstRelease();
    const tag = releaseWithErrors('0', 'Good release, runner cut off');
    const fault = await deployAndCut({ watch: '10s' });
    expect(fault.cut, fault.stdout.slice(-2000)).toBe(true);
    expect(fault.code).toBe(1);
    const line = await historyOf(tag);
    expect(line).toMatchObject({ outcome: 'success', detail: 'watch passed' });
    await expectRunning(tag);
  });
});
