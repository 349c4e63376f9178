import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, STATE, runAction } from './harness.js';
import { WATCH_ROLLBACK_DETAIL } from '../../src/programs/backend.js';
import { envSha256 } from '../../src/programs/env-file.js';
import {
  NRG_IMAGE,
  NRG_ORIGIN,
  NRG_REPO,
  PROXY_URL,
  UPSTREAM,
  asNas,
  get,
  nrgInputs,
  nrgRecreateInputs,
  oneColourRuns,
  pushSample,
  pushVersion,
  resetSample,
  runningColors,
  sampleDocker,
  sampleHistory,
  tagOfSha,
  toRecreate,
} from './support/blue-green.js';
import { LoadGenerator, type LoadReport } from './support/load.js';

/**
 * Zero-downtime releases (issue 15) on the stand-in NAS: a real nginx in
 * front of the sample's two colours, and a steady ~50 requests a second
 * through it while the actions run.
 */

const deploy = (extra: Record<string, string> = {}) => runAction('deploy-backend', nrgInputs(extra));
const rollback = (extra: Record<string, string> = {}) => runAction('rollback-backend', nrgInputs(extra));
const version = async (): Promise<string> => (await get(`${PROXY_URL}/version`)).body.trim();
/**
 * With a user's switch-command the wait for nginx's reload is the user's: their hook (below) returns as soon as
 * `nginx -s reload` does, so for a moment the old workers may still answer. Asks until the answer is `want`, for
 * up to 3 s. The built-in switch needs no such wait: it returns once the old workers stopped accepting.
 */
async function settledVersion(want: string): Promise<string> {
  let got = await version();
  for (let i = 0; i < 30 && got !== want; i++) {
    await new Promise((r) => setTimeout(r, 100));
    got = await version();
  }
  return got;
}
/** What the post-deploy smoke test of defect 15.1 read through the proxy. */
const AFTER_SWITCH = '/tmp/nrg-after-switch';
const upstream = (): string => readFileSync(UPSTREAM, 'utf8');
/** The colour the state file records as live. */
const liveColor = (): string => readFileSync(`${NRG_REPO}/.git/nas-release/live-color`, 'utf8').trim();
/** The sample's own proxy configuration, as seeded. */
const GOOD_NGINX = readFileSync(join(__dirname, '../nas/app-bluegreen/nrg/nginx/nginx.conf'), 'utf8');

/** Runs `fn` under load through the proxy and reports what the load saw. */
async function underLoad(fn: (load: LoadGenerator) => Promise<void>): Promise<LoadReport> {
  const load = new LoadGenerator(`${PROXY_URL}/version`, 50).start();
  try {
    await fn(load);
  } finally {
    // a last second of requests after the release: what runs then must answer too
    await new Promise((r) => setTimeout(r, 1000));
  }
  return load.stop();
}

describe('blue-green deploys and rollbacks behind nginx', () => {
  const tags: string[] = [];
  beforeAll(async () => {
    resetSample();
    const first = await deploy();
    expect(first.code, first.stdout.slice(-3000)).toBe(0);
    tags.push(first.outputs.DEPLOYED_BACKEND_TAG);
    expect(first.outputs.LIVE_COLOR).toBe('blue');
  });

  it('three deploys and three rollbacks under ~50 req/s lose no request; each ends with one colour live', async () => {
    const outputs: Array<Record<string, string>> = [];
    const report = await underLoad(async () => {
      for (const v of ['two', 'three', 'four']) {
        const sha = pushVersion(v);
        const run = await deploy();
        expect(run.code, run.stdout.slice(-3000)).toBe(0);
        expect(run.outputs.DEPLOYED_BACKEND_TAG).toBe(tagOfSha(sha));
        expect(await version()).toBe(v);
        tags.push(run.outputs.DEPLOYED_BACKEND_TAG);
        outputs.push(run.outputs);
        // keep-warm 0: the old colour stops once its drain (1 s) is over
        expect(await oneColourRuns()).toEqual([`nrg-backend-${run.outputs.LIVE_COLOR} ${NRG_IMAGE}:${tagOfSha(sha)}`]);
      }
      // the previous release (three), then a named older one (one), then the previous again
      for (const [extra, want] of [
        [{}, 'three'],
        [{ tag: tags[0] }, 'one'],
        [{ tag: tags[3] }, 'four'],
      ] as const) {
        const run = await rollback(extra);
        expect(run.code, run.stdout.slice(-3000)).toBe(0);
        expect(await version()).toBe(want);
        outputs.push(run.outputs);
      }
    });
    console.log(`blue-green under load: ${JSON.stringify(report)}`);
    expect(report.sent).toBeGreaterThan(100);
    expect(report.failed, report.failures.join('\n')).toBe(0);
    // the colours alternate, and the history says which one is live
    expect(outputs.map((o) => o.LIVE_COLOR)).toEqual(['green', 'blue', 'green', 'blue', 'green', 'blue']);
    const last = sampleHistory().at(-1);
    expect(last).toMatchObject({ action: 'rollback-backend', tag: tags[3], outcome: 'success', color: 'blue' });
    expect(upstream()).toBe('server 127.0.0.1:18121;\n');
  });

  it('a release that fails its health check never touches the proxy: the live colour serves on, ROLLED_BACK', async () => {
    const before = await version();
    const live = sampleHistory().at(-1)?.color;
    const up = upstream();
    pushSample({ 'nrg/www/health': null, 'nrg/www/version': 'broken\n' }, 'Break the health endpoint');
    let run!: Awaited<ReturnType<typeof deploy>>;
    const report = await underLoad(async () => {
      run = await deploy({ 'health-timeout': '8' });
    });
    expect(run.code).toBe(1);
    expect(run.outputs).toMatchObject({ ROLLED_BACK: 'true', LIVE_COLOR: live });
    expect(run.stdout).toContain('Last 100 log lines of the');
    expect(run.stdout).toMatch(/::error::.*was not switched to \(health check failed\)/);
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect(await version()).toBe(before);
    expect(upstream()).toBe(up);
    // the failed colour was stopped: only the live one runs
    expect(await oneColourRuns()).toHaveLength(1);
    expect(sampleHistory().at(-1)).toMatchObject({ outcome: 'rolled-back', detail: 'health check failed' });
  });

  it('a metrics guard that breaches after the switch goes straight back to the old colour, still running: no request lost, the new colour stopped', async () => {
    const before = await version();
    const live = liveColor();
    const up = upstream();
    const oldId = sampleDocker('inspect', '--format', '{{.Id}}', `nrg-backend-${live}`).trim();
    const sha = pushSample(
      { 'nrg/www/health': '{"status":"ok"}\n', 'nrg/www/version': 'watched\n' },
      'A release its guard refuses',
    );
    let run!: Awaited<ReturnType<typeof deploy>>;
    let seen: string[] = [];
    const report = await underLoad(async (load) => {
      // a guard against the stand-in's real Prometheus that holds from the first poll: it breaches after 3 s
      run = await deploy({
        guards: 'canary: vector(1) > 0 for 3s',
        'metrics-url': 'http://127.0.0.1:9090',
        watch: '30s',
        'watch-interval': '1s',
      });
      seen = load.samples.map((s) => s.body.trim());
    });
    expect(run.code, run.stdout.slice(-3000)).toBe(1);
    expect(run.outputs).toMatchObject({ ROLLED_BACK: 'true', LIVE_COLOR: live, WATCH_STATUS: 'rolled-back' });
    expect(JSON.parse(run.outputs.WATCH_REPORT)).toMatchObject({ guards: [{ name: 'canary', breached: true }] });
    expect(run.stdout).toMatch(
      /::error::The release .* passed its health check but its metrics watch failed: guard canary breached/,
    );
    // the new colour took the traffic during the watch, and the old one answers again: not one request lost
    expect(seen).toContain('watched');
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect(await version()).toBe(before);
    expect(upstream()).toBe(up);
    expect(liveColor()).toBe(live);
    // the old colour was never stopped (the same container), the new one is stopped after its drain
    expect(sampleDocker('inspect', '--format', '{{.Id}}', `nrg-backend-${live}`).trim()).toBe(oldId);
    expect(await oneColourRuns()).toEqual([expect.stringMatching(new RegExp(`^nrg-backend-${live} `))]);
    // the phase wrote the history line itself, once
    const lines = sampleHistory().filter((r) => r.tag === tagOfSha(sha) && r.outcome === 'rolled-back');
    expect(lines).toEqual([
      expect.objectContaining({ action: 'deploy-backend', detail: WATCH_ROLLBACK_DETAIL, color: live }),
    ]);
  });

  it('data safety 31: a colour that cannot be created never touches the proxy: compose’s error, the live colour serves on', async () => {
    const before = await version();
    const up = upstream();
    const dockerfile = readFileSync(join(ROOT, 'test/nas/app-bluegreen/nrg/Dockerfile'), 'utf8');
    pushSample({ 'nrg/Dockerfile': 'FROM nas-base:latest\nCOPY www /www\n' }, 'An image without a command');
    const run = await deploy();
    pushSample({ 'nrg/Dockerfile': dockerfile }, 'The command back');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('No command specified'); // compose's own error
    expect(run.stdout).toContain('the proxy was not touched');
    expect(await version()).toBe(before);
    expect(upstream()).toBe(up);
    expect(await oneColourRuns()).toHaveLength(1);
  });

  it('a compose file whose colours would share a container name is refused before anything changes, with the line to write', async () => {
    const before = await version();
    const up = upstream();
    const head = asNas(['git', '-C', NRG_REPO, 'rev-parse', 'HEAD']).trim();
    const compose = readFileSync(join(ROOT, 'test/nas/app-bluegreen/nrg/docker-compose.yml'), 'utf8');
    expect(compose).toContain('container_name: nrg-backend-${COLOR:-blue}');
    const sha = pushSample(
      { 'nrg/docker-compose.yml': compose.replace('nrg-backend-${COLOR:-blue}', 'nrg-backend') },
      'One container name for both colours',
    );
    const run = await deploy();
    pushSample({ 'nrg/docker-compose.yml': compose }, 'The colour back in the name');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `::error::deploy-backend failed before anything changed: The compose file does not fit the release: in nrg/docker-compose.yml at ${sha.slice(0, 7)}, service api's container_name (nrg-backend) is the same for both colours, so the idle colour cannot start beside the live one: write the line \`container_name: nrg-backend-\${COLOR}\``,
    );
    // nothing changed: the checkout, the proxy, the live colour
    expect(asNas(['git', '-C', NRG_REPO, 'rev-parse', 'HEAD']).trim()).toBe(head);
    expect(upstream()).toBe(up);
    expect(await version()).toBe(before);
    expect(await oneColourRuns()).toHaveLength(1);
    expect(sampleHistory().at(-1)).toMatchObject({
      outcome: 'failure',
      detail: 'compose file refused by the preflight',
    });
  });

  it('a configuration nginx -t refuses is never reloaded: the release fails with nginx’s message, the live colour serves on', async () => {
    const before = await version();
    const up = upstream();
    const good = readFileSync('/volume1/docker/nrg/repo/nrg/nginx/nginx.conf', 'utf8');
    pushSample(
      {
        'nrg/www/health': '{"status":"ok"}\n',
        'nrg/www/version': 'five\n',
        'nrg/nginx/nginx.conf': good.replace('proxy_pass', 'proxy_passs'),
      },
      'A typo in the proxy configuration',
    );
    let run!: Awaited<ReturnType<typeof deploy>>;
    const report = await underLoad(async () => {
      run = await deploy();
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/nginx: .*unknown directive "proxy_passs"/);
    expect(run.outputs.ROLLED_BACK).toBe('true');
    expect(report.failed, report.failures.join('\n')).toBe(0);
    // the running nginx kept its configuration: the old release answers, the upstream is the old one
    expect(await version()).toBe(before);
    expect(upstream()).toBe(up);
    expect(sampleHistory().at(-1)).toMatchObject({ outcome: 'rolled-back', detail: 'proxy configuration refused' });
    // the fix deploys
    pushSample({ 'nrg/nginx/nginx.conf': good }, 'Fix the typo');
    const fixed = await deploy();
    expect(fixed.code, fixed.stdout.slice(-3000)).toBe(0);
    expect(await version()).toBe('five');
  });

  it('a warm rollback is a switch alone: the old colour answers well under a second after the switch begins', async () => {
    const sha = pushVersion('six');
    const six = await deploy({ 'keep-warm': '120' });
    expect(six.code, six.stdout.slice(-3000)).toBe(0);
    expect(runningColors()).toHaveLength(2); // the old colour is kept warm
    let run!: Awaited<ReturnType<typeof rollback>>;
    let sentAt = 0;
    let seen!: LoadGenerator;
    const report = await underLoad(async (load) => {
      seen = load;
      sentAt = performance.now();
      run = await rollback();
    });
    // asked once the load has stopped: the first answer may come just after the action returns
    const firstFive = seen.firstAnswer('five\n', sentAt)?.endedAt;
    expect(run.code, run.stdout.slice(-3000)).toBe(0);
    expect(run.stdout).toContain('(kept warm): switching only');
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect(firstFive).toBeDefined();
    const switchMs = Number(/Switch \(on the NAS\)=(\d+) ms/.exec(run.stdout)?.[1]);
    console.log(
      `warm rollback: switch on the NAS ${switchMs} ms, command to first answer ${Math.round((firstFive ?? 0) - sentAt)} ms`,
    );
    expect(switchMs).toBeLessThan(1000);
    expect(await version()).toBe('five');
    // this rollback keeps nothing warm (keep-warm 0): the release it left is stopped after the drain
    expect(await oneColourRuns()).toHaveLength(1);
    expect(tagOfSha(sha)).toBe(six.outputs.DEPLOYED_BACKEND_TAG);
  });

  it('defect 15.1: a new visitor right after the switch reaches the new colour, not an old nginx worker', async () => {
    // nginx -s reload returns before the old workers stop accepting; a smoke test in post-deploy runs on the NAS
    // moments after the switch, on a fresh connection: it must already see the release it follows
    rmSync(AFTER_SWITCH, { force: true });
    pushVersion('smoke');
    const run = await deploy({ 'post-deploy': `curl -sS -m 5 ${PROXY_URL}/version > ${AFTER_SWITCH}` });
    expect(run.code, run.stdout.slice(-3000)).toBe(0);
    expect(readFileSync(AFTER_SWITCH, 'utf8')).toBe('smoke\n');
    expect(await version()).toBe('smoke');
    expect(await oneColourRuns()).toHaveLength(1);
  });

  it('defect 15.2: a rollback that starts its colour reports the time of its switch, not the epoch', async () => {
    // keep-warm 0: the target is not warm, so the phase starts it and waits for its health before the switch
    const run = await rollback();
    expect(run.code, run.stdout.slice(-3000)).toBe(0);
    expect(run.stdout).not.toContain('(kept warm): switching only');
    const switchMs = Number(/Switch \(on the NAS\)=(\d+) ms/.exec(run.stdout)?.[1]);
    expect(switchMs).toBeGreaterThan(0);
    expect(switchMs).toBeLessThan(30_000); // health-timeout
    expect(await version()).toBe('five');
    expect(await oneColourRuns()).toHaveLength(1);
  });

  it('a request in flight holds the drain; with none left the old colour stops before drain-seconds', async () => {
    // a CGI endpoint that answers after 6 s, with the version of the colour that serves it
    const slowImage = `FROM nas-base:latest\nCOPY www /www\nRUN chmod 755 /www/cgi-bin/slow\nCMD ["sh", "-c", "exec httpd -f -p 127.0.0.1:$BACKEND_PORT -h /www"]\n`;
    const slowScript = "#!/bin/sh\nsleep 6\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\ncat /www/version\n";
    pushSample(
      { 'nrg/Dockerfile': slowImage, 'nrg/www/cgi-bin/slow': slowScript, 'nrg/www/version': 'slow one\n' },
      'A slow endpoint',
    );
    const first = await deploy();
    expect(first.code, first.stdout.slice(-3000)).toBe(0);
    expect(await oneColourRuns()).toHaveLength(1);
    pushVersion('slow two');
    const inFlight = get(`${PROXY_URL}/cgi-bin/slow`, 20_000);
    const run = await deploy({ 'drain-seconds': '20' });
    const returnedAt = Date.now();
    expect(run.code, run.stdout.slice(-3000)).toBe(0);
    expect(await version()).toBe('slow two');
    // the old colour answered the request it held before it was stopped
    expect(await inFlight).toEqual({ status: 200, body: 'slow one\n' });
    // and it stopped soon after, far inside the 20 s the drain could have taken
    expect(await oneColourRuns(20_000)).toHaveLength(1);
    expect(Date.now() - returnedAt).toBeLessThan(10_000);
  });

  it('switch-command: the user’s own command switches the proxy, with COLOR, CONTAINER and PORT in its environment', async () => {
    pushVersion('hooked');
    // what a user would write for their own proxy; here it drives the same nginx by hand
    const hook = [
      'echo "$COLOR $CONTAINER $PORT" > /tmp/nrg-switched',
      `printf 'server 127.0.0.1:%s;\\n' "$PORT" > nrg/nginx/upstream.conf.new`,
      'mv -f nrg/nginx/upstream.conf.new nrg/nginx/upstream.conf',
      'docker exec nrg-proxy nginx -s reload',
    ].join('\n');
    let run!: Awaited<ReturnType<typeof deploy>>;
    const report = await underLoad(async () => {
      run = await deploy({ 'switch-command': hook });
    });
    expect(run.code, run.stdout.slice(-3000)).toBe(0);
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect(await settledVersion('hooked')).toBe('hooked');
    const [color, container, port] = readFileSync('/tmp/nrg-switched', 'utf8').trim().split(' ');
    expect(color).toBe(run.outputs.LIVE_COLOR);
    expect(port).toBe(color === 'blue' ? '18121' : '18122');
    expect(sampleDocker('inspect', '--format', '{{.Name}}', container)).toBe(`/nrg-backend-${color}`);
  });

  it('keep-images with blue-green: the images go in the same release, the live and the previous one stay', async () => {
    const datedTags = (): string[] =>
      sampleDocker('images', '--format', '{{.Tag}}', NRG_IMAGE)
        .split('\n')
        .filter((t) => /^\d{4}\.\d{2}\.\d{2}-[0-9a-f]{7}$/.test(t));
    expect(datedTags().length).toBeGreaterThan(2);
    pushVersion('kept');
    const run = await deploy({ 'keep-images': '1' });
    expect(run.code, run.stdout.slice(-3000)).toBe(0);
    const left = datedTags();
    expect(left).toContain(run.outputs.DEPLOYED_BACKEND_TAG);
    expect(left).toContain(run.outputs.PREVIOUS_BACKEND_TAG);
    expect(left).toHaveLength(2);
    expect(await version()).toBe('kept');
  });

  it('a reload nginx does not take in time is undone: the upstream is put back, the live colour serves on', async () => {
    const before = await version();
    const live = sampleHistory().at(-1)?.color;
    const up = upstream();
    pushVersion('stuck');
    // nginx's master (PID 1 of the proxy) stopped: nginx -t passes and the reload signal is sent, but it waits
    // unread, and the old workers go on accepting with the old upstream
    sampleDocker('kill', '--signal', 'STOP', 'nrg-proxy');
    let run!: Awaited<ReturnType<typeof deploy>>;
    let report!: LoadReport;
    try {
      report = await underLoad(async () => {
        run = await deploy();
      });
    } finally {
      // the master wakes, takes the pending reload, and reads the upstream as it was put back
      sampleDocker('kill', '--signal', 'CONT', 'nrg-proxy');
    }
    expect(run.code, run.stdout.slice(-3000)).toBe(1);
    expect(run.stdout).toMatch(
      /nginx did not take the new configuration within 10s of its reload: the upstream was put back/,
    );
    expect(run.outputs).toMatchObject({ ROLLED_BACK: 'true', LIVE_COLOR: live });
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect(upstream()).toBe(up);
    expect(await settledVersion(before)).toBe(before);
    // the release that was refused is stopped: only the live colour runs
    expect(await oneColourRuns()).toEqual([expect.stringMatching(new RegExp(`^nrg-backend-${live} `))]);
    expect(sampleHistory().at(-1)).toMatchObject({
      outcome: 'rolled-back',
      detail: 'the proxy did not take the new configuration in time',
    });
  });

  it('data safety 5: the proxy check and the switch back both fail: the colour the proxy routes to stays up, recorded as live', async () => {
    const old = liveColor();
    const idle = old === 'blue' ? 'green' : 'blue';
    // the new colour is healthy on its own port, but the proxy it brings answers its health check 503
    const sha = pushSample(
      {
        'nrg/www/version': 'stranded\n',
        'nrg/nginx/nginx.conf': GOOD_NGINX.replace(
          '    location / {',
          '    location = /health { return 503; }\n    location / {',
        ),
      },
      'A proxy that hides the health check',
    );
    // once switched, someone edits the proxy's configuration on the NAS: the switch back fails nginx -t
    const conf = `${NRG_REPO}/nrg/nginx/nginx.conf`;
    let log = '';
    let broken = false;
    let run!: Awaited<ReturnType<typeof deploy>>;
    try {
      run = await runAction('deploy-backend', nrgInputs(), {
        onStdout: (chunk) => {
          log += chunk;
          if (!broken && log.includes('The proxy sends requests to the')) {
            broken = true;
            asNas(['sh', '-c', `sed 's/proxy_pass /proxy_passs /' ${conf} > ${conf}.new && cat ${conf}.new > ${conf}`]);
          }
        },
      });
    } finally {
      if (broken) asNas(['sh', '-c', `rm -f ${conf}.new && git -C ${NRG_REPO} checkout -- nrg/nginx/nginx.conf`]);
    }
    expect(broken, run.stdout.slice(-3000)).toBe(true);
    expect(run.code, run.stdout.slice(-3000)).toBe(1);
    // something serves, and the state file says what: the new colour, behind the upstream left in place
    expect(upstream()).toBe(`server 127.0.0.1:${idle === 'blue' ? 18121 : 18122};\n`);
    expect(await version()).toBe('stranded');
    expect(liveColor()).toBe(idle);
    expect(runningColors()).toEqual(
      expect.arrayContaining([
        `nrg-backend-${idle} ${NRG_IMAGE}:${tagOfSha(sha)}`,
        expect.stringMatching(`^nrg-backend-${old} `),
      ]),
    );
    // and the run says so: an incident, the colour that serves, what to check
    expect(run.stdout).toMatch(/does not answer through the proxy: switching back/);
    expect(run.stdout).toMatch(/nginx: .*unknown directive "proxy_passs"/);
    expect(run.stdout).toMatch(
      new RegExp(`::error::.*INCIDENT: The release ${NRG_IMAGE}:${tagOfSha(sha)} switched the proxy`),
    );
    expect(run.stdout).toContain(`The proxy still sends requests to the ${idle} colour`);
    expect(run.outputs).toMatchObject({ LIVE_COLOR: idle, DEPLOYED_BACKEND_TAG: tagOfSha(sha), ROLLED_BACK: 'false' });
    expect(sampleHistory().at(-1)).toMatchObject({
      action: 'deploy-backend',
      outcome: 'failure',
      color: idle,
      detail: expect.stringMatching(/^incident: .*switch back failed; the \w+ colour serves$/),
    });
    // the fix of the proxy goes with the next release
    pushSample({ 'nrg/nginx/nginx.conf': GOOD_NGINX }, 'The health check through the proxy again');
  });

  it('data safety 14: a post-deploy failure after the switch files the colour that serves, not the old one', async () => {
    const old = liveColor();
    pushSample(
      { 'nrg/nginx/nginx.conf': GOOD_NGINX, 'nrg/www/version': 'smoke fails\n' },
      'A release its smoke test fails',
    );
    const run = await deploy({ 'post-deploy': 'echo "smoke test: 1 failure"; exit 3' });
    expect(run.code, run.stdout.slice(-3000)).toBe(1);
    expect(run.stdout).toContain('post-deploy failed (exit 3)');
    const serving = run.outputs.LIVE_COLOR;
    expect(serving).toBe(old === 'blue' ? 'green' : 'blue');
    expect(await version()).toBe('smoke fails');
    expect(liveColor()).toBe(serving);
    expect(sampleHistory().at(-1)).toMatchObject({ action: 'deploy-backend', outcome: 'failure', color: serving });
  });

  it('data safety 12: cleanup-backend keeps the release an empty-tag rollback goes to, found through the colours', async () => {
    pushVersion('cleaned');
    const run = await deploy();
    expect(run.code, run.stdout.slice(-3000)).toBe(0);
    // the old colour is stopped and removed after its drain: no container holds its image any more
    expect(await oneColourRuns()).toHaveLength(1);
    // blue-green never uses `container`: what a user leaves there names no colour
    const cleaned = await runAction(
      'cleanup-backend',
      nrgInputs({ container: 'nrg-api', keep: '1', 'prune-dangling': 'false' }),
    );
    expect(cleaned.code, cleaned.stdout.slice(-3000)).toBe(0);
    // the rollback a user runs next still finds its image
    const back = await rollback();
    expect(back.code, back.stdout.slice(-3000)).toBe(0);
    expect(cleaned.stdout).toContain(`running: ${run.outputs.DEPLOYED_BACKEND_TAG}`);
    expect(JSON.parse(cleaned.outputs.KEPT_TAGS)).toContain(back.outputs.DEPLOYED_BACKEND_TAG);
    expect(back.outputs.PREVIOUS_BACKEND_TAG).toBe(run.outputs.DEPLOYED_BACKEND_TAG);
  });

  it('backups with blue-green: one before the idle colour starts; a refused release whose pre-deploy changed the shared database puts its data back, the live colour serving on it', async () => {
    // a shared PostgreSQL of the compose file's own project (its labels are all the backup looks for), not a colour's
    const removeDb = (): void => {
      try {
        sampleDocker('rm', '-f', '-v', 'nrg-db');
      } catch {
        // none there
      }
    };
    removeDb();
    sampleDocker(
      ...['run', '--detach', '--name', 'nrg-db', '--network', 'host'],
      ...['--label', 'com.docker.compose.project=nrg', '--label', 'com.docker.compose.service=db'],
      ...['--env', 'POSTGRES_USER=shop', '--env', 'POSTGRES_PASSWORD=pw-Quu3eith', '--env', 'POSTGRES_DB=shop'],
      ...['--env', 'PGPORT=55632', 'nas-postgres:latest'],
    );
    const psql = (sql: string): string =>
      sampleDocker('exec', 'nrg-db', 'psql', '-X', '-q', '-tA', '-U', 'shop', '-d', 'shop', '-c', sql);
    try {
      for (let i = 0; i < 120; i++) {
        try {
          psql('SELECT 1');
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      psql("CREATE TABLE items (name text); INSERT INTO items VALUES ('apple')");
      const before = await version();
      const live = liveColor();
      const dbStarted = sampleDocker('inspect', '--format', '{{.State.StartedAt}}', 'nrg-db');
      pushSample({ 'nrg/www/health': null, 'nrg/www/version': 'broken\n' }, 'Break the health endpoint (again)');
      const run = await deploy({
        'health-timeout': '8',
        'backup-databases': 'postgres:db',
        'backup-image': 'nas-base:latest',
        'auto-rollback': 'true',
        'auto-rollback-restore': 'true',
        // the release's migration: it writes to the shared database before the idle colour starts
        'pre-deploy': `docker exec nrg-db psql -X -q -U shop -d shop -c "INSERT INTO items VALUES ('from-the-release')"`,
      });
      const log = run.stdout + run.stderr;
      expect(run.code, log.slice(-3000)).toBe(1);
      expect(run.outputs).toMatchObject({ ROLLED_BACK: 'true', LIVE_COLOR: live });
      expect(run.outputs.BACKUP_ID).toMatch(/^\d{8}T\d{6}Z-/);
      // the backup comes before the pre-deploy and the idle colour
      const written = log.indexOf(`Backup ${run.outputs.BACKUP_ID} written`);
      expect(written).toBeGreaterThan(-1);
      expect(written).toBeLessThan(log.indexOf('Running pre-deploy'));
      expect(written).toBeLessThan(log.indexOf(`as the ${live === 'blue' ? 'green' : 'blue'} colour`));
      // the data of before is back; the live colour was stopped for it and serves again; the database kept running
      expect(psql('SELECT name FROM items ORDER BY name')).toBe('apple');
      expect(log).toContain(`Stopped nrg-backend-${live}`);
      expect(log).toContain(`Started nrg-backend-${live} again`);
      expect(sampleDocker('inspect', '--format', '{{.State.StartedAt}}', 'nrg-db')).toBe(dbStarted);
      expect(await settledVersion(before)).toBe(before);
      expect(log).toMatch(/The data of before the release was restored from backup \d{8}T\d{6}Z-/);
      expect(sampleHistory().at(-1)).toMatchObject({
        outcome: 'rolled-back',
        detail: 'health check failed, data of before restored',
        color: live,
      });
    } finally {
      pushSample(
        { 'nrg/www/health': '{"status":"ok"}\n', 'nrg/www/version': 'restored\n' },
        'Mend the health endpoint',
      );
      removeDb();
    }
  });

  it('the recreate strategy beside it, on the same proxy and load, loses requests', async () => {
    toRecreate();
    const first = await runAction('deploy-backend', nrgRecreateInputs());
    expect(first.code, first.stdout.slice(-3000)).toBe(0);
    const report = await underLoad(async () => {
      for (const v of ['seven', 'eight']) {
        pushVersion(v);
        const run = await runAction('deploy-backend', nrgRecreateInputs());
        expect(run.code, run.stdout.slice(-3000)).toBe(0);
        expect(await version()).toBe(v);
      }
    });
    console.log(`recreate under load: ${JSON.stringify(report)}`);
    expect(report.failed).toBeGreaterThan(0);
  });
});

/** The runner's own engine and the registry of test/nas/image-sources.sh. */
const RUNNER_DOCKER = 'unix:///run/nas-runner/docker.sock';
const REGISTRY = '127.0.0.1:5000';
const NRG_PULLED = `${REGISTRY}/nrg-backend`;
const REG_USER = readFileSync(join(STATE, 'registry/user'), 'utf8').trim();
const REG_PASSWORD = readFileSync(join(STATE, 'registry/password'), 'utf8').trim();

/** A runner's workspace: the sample's origin checked out at `sha`, as actions/checkout leaves it. */
function nrgWorkspace(sha: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'nrg-ws-'));
  // the origin belongs to the NAS user: git reads it for root only with safe.directory in a global config
  const home = mkdtempSync(join(tmpdir(), 'nrg-home-'));
  writeFileSync(join(home, '.gitconfig'), '[safe]\n\tdirectory = *\n');
  execFileSync('git', ['clone', '-q', NRG_ORIGIN, dir], { env: { ...process.env, HOME: home } });
  rmSync(home, { recursive: true, force: true });
  execFileSync('git', ['-C', dir, 'checkout', '-q', sha]);
  return dir;
}

/** What the workflow does before a registry release: build the sample at `sha` on the runner, push it as `tag`. */
function pushToRegistry(sha: string, tag: string): void {
  const ws = nrgWorkspace(sha);
  const config = mkdtempSync(join(tmpdir(), 'nrg-cfg-'));
  const env = { ...process.env, DOCKER_HOST: RUNNER_DOCKER, DOCKER_CONFIG: config };
  try {
    execFileSync('docker', ['build', '--quiet', '--tag', `${NRG_PULLED}:${tag}`, join(ws, 'nrg')], {
      env,
      stdio: 'ignore',
    });
    execFileSync('docker', ['login', '--username', REG_USER, '--password-stdin', REGISTRY], {
      input: REG_PASSWORD,
      env,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    execFileSync('docker', ['push', `${NRG_PULLED}:${tag}`], { env, stdio: 'ignore' });
  } finally {
    rmSync(config, { recursive: true, force: true });
    rmSync(ws, { recursive: true, force: true });
  }
}

/** Removes the images these tests made, on the NAS and on the runner (nothing else). */
function removeOwnImages(): void {
  for (const engine of [undefined, RUNNER_DOCKER]) {
    const env = { ...process.env, ...(engine ? { DOCKER_HOST: engine } : {}) };
    const refs = execFileSync('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'], {
      encoding: 'utf8',
      env,
    })
      .split('\n')
      .filter((r) => r.startsWith(`${NRG_PULLED}:`) || (engine !== undefined && r.startsWith(`${NRG_IMAGE}:`)));
    if (refs.length) execFileSync('docker', ['image', 'rm', '--force', ...refs], { env, stdio: 'ignore' });
  }
}

const withRegistry = (extra: Record<string, string>): Record<string, string> =>
  nrgInputs({
    image: NRG_PULLED,
    'image-source': 'registry',
    'registry-username': REG_USER,
    'registry-password': REG_PASSWORD,
    ...extra,
  });
const imageId = (engine: string | undefined, ref: string): string =>
  execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', ref], {
    encoding: 'utf8',
    env: { ...process.env, ...(engine ? { DOCKER_HOST: engine } : {}) },
  }).trim();

describe('blue-green with images from the registry and from the runner', () => {
  beforeAll(async () => {
    resetSample();
    removeOwnImages();
    const first = await deploy();
    expect(first.code, first.stdout.slice(-3000)).toBe(0);
  });
  afterAll(() => {
    resetSample();
    removeOwnImages();
  });

  it('image-source runner: the runner builds the release and streams it in before the idle colour starts; no request lost', async () => {
    const sha = pushVersion('from the runner');
    const tag = tagOfSha(sha);
    const ws = nrgWorkspace(sha);
    let run!: Awaited<ReturnType<typeof deploy>>;
    try {
      const report = await underLoad(async () => {
        run = await runAction('deploy-backend', nrgInputs({ 'image-source': 'runner' }), {
          env: { DOCKER_HOST: RUNNER_DOCKER, GITHUB_WORKSPACE: ws },
        });
      });
      expect(run.code, run.stdout.slice(-3000)).toBe(0);
      expect(report.failed, report.failures.join('\n')).toBe(0);
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
    expect(run.stdout).toContain('[2/10] Building the image on the runner and sending it to the NAS...');
    expect(run.stdout).toContain(`Image ${NRG_IMAGE}:${tag} is on the NAS (built on the runner)`);
    expect(run.stdout).not.toContain('Image built');
    // on the NAS only because it crossed the SSH connection, and it is what serves
    expect(imageId(undefined, `${NRG_IMAGE}:${tag}`)).toBe(imageId(RUNNER_DOCKER, `${NRG_IMAGE}:${tag}`));
    expect(await version()).toBe('from the runner');
    expect(await oneColourRuns()).toEqual([`nrg-backend-${run.outputs.LIVE_COLOR} ${NRG_IMAGE}:${tag}`]);
    expect(sampleHistory().at(-1)).toMatchObject({ tag, outcome: 'success', color: run.outputs.LIVE_COLOR });
  });

  it('image-source registry: pulled before anything changes, a missing tag refused; the history keeps pulled and the digest; a rollback whose image is gone pulls it again', async () => {
    const seed = readFileSync(join(ROOT, 'test/nas/app-bluegreen/nrg/docker-compose.yml'), 'utf8');
    expect(seed).toContain('image: nrg-backend:${BACKEND_TAG:-latest}');
    const one = pushSample(
      {
        'nrg/docker-compose.yml': seed.replace('image: nrg-backend:', `image: ${NRG_PULLED}:`),
        'nrg/www/version': 'registry one\n',
      },
      'Images from the registry',
    );
    pushToRegistry(one, one);
    const first = await runAction('deploy-backend', withRegistry({ 'image-tag': one }), { secrets: [REG_PASSWORD] });
    expect(first.code, first.stdout.slice(-3000)).toBe(0);
    expect(first.stdout).toContain(`Pulling backend image (${NRG_PULLED}:${tagOfSha(one)})`);
    expect(await version()).toBe('registry one');
    const recorded = sampleHistory().at(-1) ?? {};
    expect(recorded).toMatchObject({ tag: tagOfSha(one), pulled: one, outcome: 'success' });
    expect(recorded.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    // a tag never pushed: refused before the checkout moves or a colour starts
    const head = asNas(['git', '-C', NRG_REPO, 'rev-parse', 'HEAD']).trim();
    const two = pushVersion('registry two');
    const missing = await runAction('deploy-backend', withRegistry({ 'image-tag': two }), { secrets: [REG_PASSWORD] });
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toContain(
      `::error::deploy-backend failed before any colour changed: pulling ${NRG_PULLED}:${two} failed: the tag is missing from the registry`,
    );
    expect(asNas(['git', '-C', NRG_REPO, 'rev-parse', 'HEAD']).trim()).toBe(head);
    expect(runningColors()).toEqual([`nrg-backend-${first.outputs.LIVE_COLOR} ${NRG_PULLED}:${tagOfSha(one)}`]);
    expect(sampleHistory().at(-1)).toMatchObject({ outcome: 'failure', detail: 'image pull failed' });

    pushToRegistry(two, two);
    const report = await underLoad(async () => {
      const second = await runAction('deploy-backend', withRegistry({ 'image-tag': two }), {
        secrets: [REG_PASSWORD],
      });
      expect(second.code, second.stdout.slice(-3000)).toBe(0);
      expect(await version()).toBe('registry two');
      await oneColourRuns();
      // release one's image is gone from the NAS: the rollback pulls the digest it ran, before anything changes
      execFileSync('docker', ['image', 'rm', `${NRG_PULLED}:${tagOfSha(one)}`, `${NRG_PULLED}:${one}`], {
        stdio: 'ignore',
      });
      const back = await runAction('rollback-backend', withRegistry({}), { secrets: [REG_PASSWORD] });
      expect(back.code, back.stdout.slice(-3000)).toBe(0);
      expect(back.stdout).toContain(
        `Image ${NRG_PULLED}:${tagOfSha(one)} is not on the NAS: it is pulled from the registry (${NRG_PULLED}:${one}) by the digest it was released with (${NRG_PULLED}@${recorded.digest})`,
      );
      expect(await version()).toBe('registry one');
    });
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect(sampleHistory().at(-1)).toMatchObject({
      action: 'rollback-backend',
      tag: tagOfSha(one),
      outcome: 'success',
    });
    expect(readFileSync(join(NRG_REPO, '.git/nas-release/history.jsonl'), 'utf8')).not.toContain(REG_PASSWORD);
  });
});

describe('the environment file with blue-green', () => {
  it('written before the idle colour starts; the live release file back when the colour is refused; the target file back with a warm switch', async () => {
    resetSample();
    const envOf = (n: string): string => `DATABASE_URL=postgres://nrg:pw-${n}-s3cret@db/nrg\nGREETING=${n}\n`;
    // runAction fails the test when a value of the file reaches the log
    const secrets = ['a', 'b'].map((n) => `postgres://nrg:pw-${n}-s3cret@db/nrg`);
    const withEnv = (action: string, extra: Record<string, string>) =>
      runAction(action, nrgInputs({ 'env-file': 'nrg/.env', ...extra }), { secrets });
    const file = (): string => readFileSync(join(NRG_REPO, 'nrg/.env'), 'utf8');
    // what a user checks: the environment the colour runs with
    const greeting = (color: string): string =>
      /GREETING=(\S*)/.exec(
        sampleDocker('inspect', '--format', '{{range .Config.Env}}{{println .}}{{end}}', `nrg-backend-${color}`),
      )?.[1] ?? '';
    const compose = readFileSync(join(__dirname, '../nas/app-bluegreen/nrg/docker-compose.yml'), 'utf8').replace(
      '    environment:\n      BACKEND_PORT:',
      '    env_file: .env\n    environment:\n      BACKEND_PORT:',
    );
    const a = tagOfSha(pushSample({ 'nrg/docker-compose.yml': compose }, 'The backend reads its env file'));
    const first = await withEnv('deploy-backend', { 'env-file-content': envOf('a') });
    expect(first.code, first.stdout.slice(-3000)).toBe(0);
    expect([first.outputs.LIVE_COLOR, greeting('blue'), file()]).toEqual(['blue', 'a', envOf('a')]);
    expect(sampleHistory().at(-1)).toMatchObject({ tag: a, env: envSha256(envOf('a')) });

    const health = readFileSync(join(__dirname, '../nas/app-bluegreen/nrg/www/health'), 'utf8');
    pushSample({ 'nrg/www/health': null, 'nrg/www/version': 'broken\n' }, 'Break the health endpoint');
    const refused = await withEnv('deploy-backend', { 'env-file-content': envOf('b'), 'health-timeout': '8' });
    expect(refused.code).toBe(1);
    expect(refused.outputs).toMatchObject({ ROLLED_BACK: 'true', LIVE_COLOR: 'blue' });
    expect([greeting('blue'), file()]).toEqual(['a', envOf('a')]);

    pushSample({ 'nrg/www/health': health, 'nrg/www/version': 'two\n' }, 'Release two');
    const two = await withEnv('deploy-backend', { 'env-file-content': envOf('b'), 'keep-warm': '120' });
    expect(two.code, two.stdout.slice(-3000)).toBe(0);
    expect([two.outputs.LIVE_COLOR, greeting('green'), file()]).toEqual(['green', 'b', envOf('b')]);

    // blue still runs a, warm: the rollback is a switch, and a's file comes back for the next start
    const back = await withEnv('rollback-backend', {});
    expect(back.code, back.stdout.slice(-3000)).toBe(0);
    expect(back.stdout).toContain('(kept warm): switching only');
    expect([back.outputs.LIVE_COLOR, greeting('blue'), file()]).toEqual(['blue', 'a', envOf('a')]);
    expect(await version()).toBe('one');
  });
});
