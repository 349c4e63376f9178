/**
 * Benchmarks of the actions against the stand-in NAS (test/nas), side by side
 * with the hand-run way where there is one. Writes docs/benchmarks.md and
 * exits 1 when a target is missed.
 *
 *   sudo flock /tmp/nas-e2e.lock npm run bench          (BENCH_RUNS=5 by default)
 *
 * BENCH_ONLY=deploy,rss (of deploy, verify, cleanup, rss, startup, watch, backup, services, runner, bluegreen) measures
 * only those, prints them and leaves docs/benchmarks.md alone.
 * BENCH_WATCH_SECONDS (60 by default) is how long the watch row watches; the
 * issue's 5 minutes is BENCH_WATCH_SECONDS=300.
 *
 * It resets the stand-in NAS's application before and after (test/nas/reset.sh).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, freemem, totalmem, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { TcpProxy } from '../test/e2e/support/proxy.js';
// issue 15: the blue-green sample and the load generator
import {
  nrgInputs,
  nrgRecreateInputs,
  pushVersion,
  resetSample,
  tagOfSha,
  toRecreate,
} from '../test/e2e/support/blue-green.js';
import { LoadGenerator, type LoadReport } from '../test/e2e/support/load.js';

const ROOT = resolve(__dirname, '..');
const STATE = '/var/lib/nas-standin';
const SSHD_LOG = join(STATE, 'sshd.log');
const REPO = '/volume1/docker/scanium/repo';
const ORIGIN = '/volume1/git/scanium.git';
const NAS_USER = 'nas';
const HEALTH_URL = 'http://127.0.0.1:18080/health';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MEASURES = [
  'deploy',
  'verify',
  'cleanup',
  'rss',
  'startup',
  'watch',
  'backup',
  'services',
  'runner',
  'bluegreen',
];
const WATCH_SECONDS = Number(process.env.BENCH_WATCH_SECONDS ?? 60);
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((m) => m.trim()) : MEASURES;
for (const m of ONLY)
  if (!MEASURES.includes(m)) throw new Error(`BENCH_ONLY: unknown measure ${m} (known: ${MEASURES.join(', ')})`);
const measuring = (m: string): boolean => ONLY.includes(m);
const ACTIONS = [
  'deploy-backend',
  'rollback-backend',
  'cleanup-backend',
  'deploy-monitoring',
  'rollback-monitoring',
  'verify-monitoring',
  'backup-backend',
];

// ---------------------------------------------------------------- helpers

function asNas(args: string[], input?: string): string {
  return execFileSync('runuser', ['-u', NAS_USER, '--', ...args], {
    encoding: 'utf8',
    input,
    cwd: '/tmp',
    env: { ...process.env, HOME: `/home/${NAS_USER}` },
  });
}
function sh(script: string): string {
  return execFileSync('sh', ['-c', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}
function resetNas(): void {
  execFileSync('bash', [join(ROOT, 'test/nas/reset.sh')], { stdio: 'pipe' });
}

let serial = 0;
/** Commits to the origin as a developer would; returns the SHA. */
function pushCommit(files: Record<string, string>, message: string, origin = ORIGIN): string {
  const dir = mkdtempSync(join(tmpdir(), 'nr-bench-'));
  execFileSync('chown', [NAS_USER, dir]);
  asNas(['git', 'clone', '-q', origin, dir]);
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    if (!existsSync(dirname(full))) asNas(['mkdir', '-p', dirname(full)]);
    asNas(['tee', full], content);
  }
  const id = ['-c', 'user.name=Developer', '-c', 'user.email=dev@example.test'];
  asNas(['git', '-C', dir, ...id, 'add', '-A']);
  asNas(['git', '-C', dir, ...id, 'commit', '-q', '-m', message]);
  asNas(['git', '-C', dir, 'push', '-q', 'origin', 'HEAD:main']);
  const sha = asNas(['git', '-C', dir, 'rev-parse', 'HEAD']).trim();
  rmSync(dir, { recursive: true, force: true });
  return sha;
}
const newRelease = (): string =>
  pushCommit({ 'backend/www/version': `bench ${++serial} ${Date.now()}\n` }, `Bench release ${serial}`);

function connection(port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    host: '127.0.0.1',
    port: String(port),
    username: NAS_USER,
    'private-key': readFileSync(join(STATE, 'client_ed25519'), 'utf8'),
    'host-key': readFileSync(join(STATE, 'host_fingerprint'), 'utf8').trim(),
    ...extra,
  };
}

interface Run {
  code: number;
  ms: number;
  tail: string;
  stdoutBytes: number;
  maxRssKb?: number;
  /** User + system CPU seconds of the process (with measureRss). */
  cpuSeconds?: number;
  /** When the process was spawned (performance.now()). */
  spawnedAt: number;
}

/** Runs an action's bundle as the runner does (INPUT_* variables); keeps only the tail of its log. */
function runBundle(
  action: string,
  inputs: Record<string, string>,
  opts: { measureRss?: boolean; onSpawn?: (kill: () => void) => void; env?: Record<string, string> } = {},
): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), `nr-bench-${action}-`));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary'),
    GITHUB_ACTOR: 'bench',
    GITHUB_REPOSITORY: 'example/app',
    GITHUB_RUN_ID: String(Date.now()),
    GITHUB_SERVER_URL: 'https://github.example',
    ...opts.env,
  };
  for (const f of [env.GITHUB_OUTPUT, env.GITHUB_ENV, env.GITHUB_STEP_SUMMARY]) writeFileSync(f, '');
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const bundle = join(ROOT, 'dist', action, 'index.js');
  const [cmd, args] = opts.measureRss
    ? ['/usr/bin/time', ['-f', 'NR_MAXRSS_KB=%M NR_CPU=%U %S', process.execPath, bundle]]
    : [process.execPath, [bundle]];
  const spawnedAt = performance.now();
  const child = spawn(cmd, args as string[], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let stderr = '';
  let stdoutBytes = 0;
  child.stdout.on('data', (d: Buffer) => {
    stdoutBytes += d.length;
    tail = (tail + d.toString()).slice(-6000);
  });
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-6000)));
  opts.onSpawn?.(() => child.kill('SIGKILL'));
  return new Promise((resolveRun) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      const rss = /NR_MAXRSS_KB=(\d+) NR_CPU=([\d.]+) ([\d.]+)/.exec(stderr);
      resolveRun({
        code: code ?? (signal ? 137 : 1),
        ms: performance.now() - spawnedAt,
        tail: tail + stderr.replace(/NR_MAXRSS_KB=\d+ NR_CPU=[\d.]+ [\d.]+\n?/, ''),
        stdoutBytes,
        spawnedAt,
        ...(rss ? { maxRssKb: Number(rss[1]), cpuSeconds: Number(rss[2]) + Number(rss[3]) } : {}),
      });
    });
  });
}

/** The hand-run way: one `ssh` call running the steps as a shell script on the NAS. */
const HAND_SCRIPT = `set -e
cd ${REPO}
git fetch -q origin
git checkout -q -B main origin/main
tag=$(date -u +%Y.%m.%d)-$(git rev-parse --short=7 HEAD)
docker build -t scanium-backend:$tag backend
BACKEND_TAG=$tag docker-compose --file backend/docker-compose.yml up -d --no-build --no-deps api
n=0
until [ "$(docker inspect -f '{{.State.Health.Status}}' scanium-backend)" = healthy ]; do
  n=$((n + 1)); [ $n -le 120 ] || { echo 'not healthy' >&2; exit 1; }
  sleep 1
done
curl -fsS -o /dev/null ${HEALTH_URL}
echo "deployed $tag"
`;
let knownHosts = '';
function handRun(port: number, script = HAND_SCRIPT): Promise<Run> {
  if (!knownHosts) {
    knownHosts = join(mkdtempSync(join(tmpdir(), 'nr-bench-ssh-')), 'known_hosts');
    writeFileSync(
      knownHosts,
      `nas-standin ${readFileSync(join(STATE, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
    );
  }
  const args = [
    '-p',
    String(port),
    '-i',
    join(STATE, 'client_ed25519'),
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'HostKeyAlias=nas-standin',
    '-o',
    'LogLevel=ERROR',
    `${NAS_USER}@127.0.0.1`,
    'sh -s',
  ];
  const spawnedAt = performance.now();
  const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let tail = '';
  let stdoutBytes = 0;
  child.stdout.on('data', (d: Buffer) => {
    stdoutBytes += d.length;
    tail = (tail + d.toString()).slice(-4000);
  });
  child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
  child.stdin.end(script);
  return new Promise((resolveRun) =>
    child.on('close', (code) =>
      resolveRun({ code: code ?? 1, ms: performance.now() - spawnedAt, tail, stdoutBytes, spawnedAt }),
    ),
  );
}

/** SSH channels (sessions) sshd started for the connections the proxy forwarded since `records` was at `from`. */
async function channelsSince(proxy: TcpProxy, fromRecord: number, logOffset: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 300)); // sshd writes its log asynchronously
  const ports = new Set(proxy.records.filter((r) => r.id > fromRecord && r.upstreamPort).map((r) => r.upstreamPort));
  const text = readFileSync(SSHD_LOG).subarray(logOffset).toString();
  let n = 0;
  for (const m of text.matchAll(/Starting session: \S+ for \S+ from 127\.0\.0\.1 port (\d+) /g))
    if (ports.has(Number(m[1]))) n += 1;
  return n;
}
const logSize = (): number => statSync(SSHD_LOG).size;
const lastRecordId = (proxy: TcpProxy): number => proxy.records.at(-1)?.id ?? 0;

/** Runs `fn` through the proxy and also counts the SSH channels it opened. */
async function counted<T extends Run>(proxy: TcpProxy, fn: () => Promise<T>): Promise<T & { channels: number }> {
  const from = lastRecordId(proxy);
  const offset = logSize();
  const run = await fn();
  return { ...run, channels: await channelsSince(proxy, from, offset) };
}

function must<T extends Run>(run: T, what: string): T {
  if (run.code !== 0) throw new Error(`${what} failed (exit ${run.code}):\n${run.tail.slice(-3000)}`);
  return run;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

interface Row {
  measure: string;
  result: string;
  target: string;
  /** true: met; false: missed; undefined: no target or not measured. */
  ok?: boolean;
  note?: string;
}

// ---------------------------------------------------------------- measurements

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error(
      'the benchmark needs root (it drives the stand-in NAS: docker, runuser, sshd log); run: sudo flock /tmp/nas-e2e.lock npm run bench',
    );
  for (const a of ACTIONS.slice(0, 3))
    if (!existsSync(join(ROOT, 'dist', a, 'index.js')))
      throw new Error(`dist/${a}/index.js is missing: build first (npm run build)`);
  const rows: Row[] = [];
  const raw: string[] = [];
  const proxy = await TcpProxy.start({ targetPort: 2222 });
  const log = (line: string): void => {
    console.log(line);
    raw.push(line);
  };

  resetNas();
  try {
    // A first release, so that every measured deploy replaces a running one.
    must(await runBundle('deploy-backend', connection(2222, { 'health-url': HEALTH_URL })), 'the first deploy');

    if (measuring('deploy')) await measureDeploy(proxy, rows, log);
    if (measuring('verify')) await measureVerify(proxy, rows, log);
    if (measuring('cleanup')) await measureCleanup(proxy, rows, log);
    if (measuring('rss')) await measureRss(rows, log);
    if (measuring('startup')) await measureStartup(proxy, rows, log);
    if (measuring('watch')) await measureWatch(rows, log);
    if (measuring('backup')) await measureBackup(rows, log);
    if (measuring('services')) await measureServices(proxy, rows, log);
    if (measuring('runner')) await measureRunner(proxy, rows, log);
    if (measuring('bluegreen')) await measureBlueGreen(rows, log); // issue 15
  } finally {
    await proxy.close();
    resetNas();
  }

  const missed = rows.filter((r) => r.ok === false);
  if (ONLY === MEASURES) writeReport(rows, raw);
  console.log('');
  for (const r of rows)
    console.log(
      `${r.ok === false ? 'MISSED' : r.ok ? 'ok    ' : '      '} ${r.measure}: ${r.result.replace(/\*/g, '')} (target ${r.target})`,
    );
  console.log(
    ONLY === MEASURES
      ? `\nwrote docs/benchmarks.md${missed.length ? `; ${missed.length} target(s) missed` : ''}`
      : `\nBENCH_ONLY: docs/benchmarks.md left alone${missed.length ? `; ${missed.length} target(s) missed` : ''}`,
  );
  process.exitCode = missed.length ? 1 : 0;
}

/** (1) deploy-backend of a new commit vs the hand-run script, loopback and 50 ms round trip; (2) channels. */
async function measureDeploy(proxy: TcpProxy, rows: Row[], log: (l: string) => void): Promise<void> {
  const deployChannels: number[] = [];
  const handChannels: number[] = [];
  for (const rtt of [0, 50]) {
    proxy.delayMs = rtt / 2;
    const action: number[] = [];
    const hand: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 === 0 ? ['action', 'hand'] : ['hand', 'action'];
      for (const who of order) {
        newRelease();
        if (who === 'action') {
          const run = must(
            await counted(proxy, () =>
              runBundle('deploy-backend', connection(proxy.port, { 'health-url': HEALTH_URL })),
            ),
            'deploy-backend',
          );
          action.push(run.ms);
          deployChannels.push(run.channels);
        } else {
          const run = must(await counted(proxy, () => handRun(proxy.port)), 'the hand-run deploy');
          hand.push(run.ms);
          handChannels.push(run.channels);
        }
      }
    }
    const ratio = median(action) / median(hand);
    log(
      `deploy @${rtt} ms RTT: action ${action.map((x) => x.toFixed(0)).join(', ')} ms; hand-run ${hand.map((x) => x.toFixed(0)).join(', ')} ms`,
    );
    rows.push({
      measure: `deploy-backend, new commit, ${rtt ? `${rtt} ms round trip` : 'loopback'}: action / hand-run (median of ${RUNS})`,
      result: `${sec(median(action))} / ${sec(median(hand))} = **${ratio.toFixed(2)}**`,
      target: rtt === 50 ? '≤ 1.10' : '—',
      ...(rtt === 50 ? { ok: ratio <= 1.1 } : {}),
    });
  }
  proxy.delayMs = 0;
  log(`channels: deploy-backend ${deployChannels.join(', ')}; hand-run ${handChannels.join(', ')}`);
  rows.push({
    measure: 'SSH channels per deploy-backend (hand-run: 1 ssh call)',
    result: `${median(deployChannels)} (hand-run ${median(handChannels)})`,
    target: '—',
  });

  const rollback = must(
    await counted(proxy, () => runBundle('rollback-backend', connection(proxy.port, { 'health-url': HEALTH_URL }))),
    'rollback-backend',
  );
  rows.push({ measure: 'SSH channels per rollback-backend', result: String(rollback.channels), target: '—' });
}

/**
 * (5) peak RSS of deploy-backend while the build prints 50 MB, then 500 MB:
 * memory must not grow with the log (the two within 10%), and both stay under 160 MB.
 */
async function measureRss(rows: Row[], log: (l: string) => void): Promise<void> {
  const peaks: number[] = [];
  // One process's peak depends on when V8 happens to collect: the median of a few runs, every run shown.
  const rssRuns = Math.max(1, Math.min(RUNS, 3));
  for (const mb of [50, 500]) {
    // base64 prints 4 bytes for every 3 it reads.
    const raw = (mb * 1_000_000 * 3) / 4;
    pushCommit(
      {
        'backend/Dockerfile': `FROM nas-base:latest\nCOPY www /www\nRUN head -c ${raw} /dev/zero | base64\nCMD ["httpd", "-f", "-p", "127.0.0.1:18080", "-h", "/www"]\n`,
      },
      `A build that prints ${mb} MB`,
    );
    const each: number[] = [];
    let loud: Run | undefined;
    for (let i = 0; i < rssRuns; i++) {
      // a new commit each time, so that each run builds (and prints) again
      if (i > 0) newRelease();
      loud = must(
        await runBundle('deploy-backend', connection(2222, { 'health-url': HEALTH_URL }), { measureRss: true }),
        `the ${mb} MB build deploy`,
      );
      each.push((loud.maxRssKb ?? 0) / 1024);
    }
    const rssMb = median(each);
    peaks.push(rssMb);
    const last = loud!;
    log(
      `${mb} MB build: ${sec(last.ms)}, log ${(last.stdoutBytes / 1e6).toFixed(1)} MB, peak RSS ${each.map((x) => x.toFixed(1)).join(', ')} MiB (median ${rssMb.toFixed(1)})`,
    );
    rows.push({
      measure: `Peak RSS of deploy-backend while the build prints ${mb} MB (its log: ${(last.stdoutBytes / 1e6).toFixed(1)} MB, ${sec(last.ms)}; median of ${rssRuns}: ${each.map((x) => x.toFixed(1)).join(', ')} MiB)`,
      result: `${rssMb.toFixed(1)} MiB`,
      target: '< 160 MB',
      ok: Math.max(...each) * 1.048576 < 160,
    });
  }
  const [small, large] = peaks;
  const growth = (large - small) / small;
  rows.push({
    measure: 'Peak RSS, 500 MB build log against 50 MB',
    result: `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%`,
    target: '< 10%',
    ok: Math.abs(growth) < 0.1,
  });
}

/**
 * (7) the runner during a metrics watch (issue 17): the watch runs on the NAS
 * and the runner only follows the phase's log, so it should be near idle. The
 * same release is deployed with and without a watch; the difference in the
 * runner's CPU time is the watch's cost, and its share of the watch time the
 * load. Needs the stand-in's Prometheus (test/nas/prometheus.sh).
 */
async function measureWatch(rows: Row[], log: (l: string) => void): Promise<void> {
  const guards = [
    'errors: sum(rate(sample_http_requests_total{code="500"}[1m])) / sum(rate(sample_http_requests_total[1m])) > 0.01 for 5m',
    'up: min(up{job="scanium-backend"}) < 1 for 1m',
  ].join('\n');
  const deploy = (watch: string): Promise<Run> =>
    runBundle(
      'deploy-backend',
      connection(2222, {
        'health-url': HEALTH_URL,
        guards,
        'metrics-url': 'http://127.0.0.1:9090',
        watch,
        'watch-interval': '15s',
      }),
      { measureRss: true },
    );
  // The sample application as seeded: the rss rows leave a Dockerfile that prints hundreds of MB.
  resetNas();
  newRelease();
  const plain = must(await deploy('0'), 'the deploy without a watch');
  newRelease();
  const watched = must(await deploy(`${WATCH_SECONDS}s`), 'the deploy with a watch');
  if (!/WATCH_STATUS=passed|Watch passed/.test(watched.tail))
    throw new Error(`the watch did not pass:\n${watched.tail.slice(-2000)}`);
  const cpu = (watched.cpuSeconds ?? 0) - (plain.cpuSeconds ?? 0);
  const share = cpu / WATCH_SECONDS;
  const rssMb = (watched.maxRssKb ?? 0) / 1024;
  log(
    `watch ${WATCH_SECONDS} s: deploy with watch ${sec(watched.ms)}, CPU ${(watched.cpuSeconds ?? 0).toFixed(2)} s, peak RSS ${rssMb.toFixed(1)} MiB; without ${sec(plain.ms)}, CPU ${(plain.cpuSeconds ?? 0).toFixed(2)} s, peak RSS ${((plain.maxRssKb ?? 0) / 1024).toFixed(1)} MiB`,
  );
  rows.push({
    measure: `Runner CPU during a ${WATCH_SECONDS} s metrics watch (2 guards, a poll every 15 s): CPU time of the deploy with the watch less the same deploy without`,
    result: `${cpu.toFixed(2)} s = ${(share * 100).toFixed(2)}% of one core`,
    target: '< 1% (near idle)',
    ok: share < 0.01,
  });
  rows.push({
    measure: `Peak RSS of deploy-backend with a ${WATCH_SECONDS} s watch`,
    result: `${rssMb.toFixed(1)} MiB`,
    target: '< 160 MB',
    ok: rssMb * 1.048576 < 160,
  });
}

async function measureVerify(proxy: TcpProxy, rows: Row[], log: (l: string) => void): Promise<void> {
  const measure = 'verify-monitoring at 50 ms round trip (median)';
  if (!existsSync(join(ROOT, 'dist/verify-monitoring/index.js'))) {
    rows.push({ measure, result: 'n/a: dist/verify-monitoring is missing', target: '< 1.5 s' });
    return;
  }
  const deployed = await runBundle('deploy-monitoring', connection(2222, { 'health-timeout': '90' }));
  if (deployed.code !== 0) {
    rows.push({
      measure,
      result: 'n/a: deploy-monitoring did not bring the stack up',
      target: '< 1.5 s',
      note: deployed.tail.slice(-300),
    });
    return;
  }
  proxy.delayMs = 25;
  const times: number[] = [];
  const channels: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const run = await counted(proxy, () => runBundle('verify-monitoring', connection(proxy.port)));
    if (run.code !== 0) {
      proxy.delayMs = 0;
      rows.push({
        measure,
        result: `n/a: verify-monitoring failed (exit ${run.code})`,
        target: '< 1.5 s',
        note: run.tail.slice(-300),
      });
      return;
    }
    times.push(run.ms);
    channels.push(run.channels);
  }
  proxy.delayMs = 0;
  log(`verify-monitoring @50 ms: ${times.map((x) => x.toFixed(0)).join(', ')} ms; channels ${channels.join(', ')}`);
  rows.push({
    measure,
    result: `${sec(median(times))} (${median(channels)} channel(s))`,
    target: '< 1.5 s',
    ok: median(times) < 1500,
  });
}

async function measureCleanup(proxy: TcpProxy, rows: Row[], log: (l: string) => void): Promise<void> {
  proxy.delayMs = 0;
  const running = sh(`docker inspect --format '{{.Config.Image}}' scanium-backend`).trim();
  const datedCount = (): number =>
    sh(`docker image ls scanium-backend --format '{{.Tag}}'`)
      .split('\n')
      .filter((t) => /^\d{4}\.\d{2}\.\d{2}-[0-9a-f]{7}$/.test(t)).length;
  /** Adds dated tags (of the running image) until there are `n`. */
  const fill = (n: number): void => {
    const missing = n - datedCount();
    if (missing <= 0) return;
    const tags = Array.from({ length: missing }, (_, i) => {
      const d = new Date(Date.UTC(2024, 0, 1) + i * 86_400_000);
      const p = (x: number): string => String(x).padStart(2, '0');
      return `${d.getUTCFullYear()}.${p(d.getUTCMonth() + 1)}.${p(d.getUTCDate())}-${(0xa000000 + i).toString(16)}`;
    });
    sh(`for t in ${tags.join(' ')}; do docker tag ${running} scanium-backend:$t; done`);
  };
  // Down to 5 dated tags first (not measured).
  must(await runBundle('cleanup-backend', connection(2222, { keep: '5' })), 'cleanup-backend keep 5');
  fill(5);
  const results: Array<{ tags: number; ms: number; channels: number; removed: number }> = [];
  for (const n of [5, 200]) {
    fill(n);
    const tags = datedCount();
    const run = must(
      await counted(proxy, () => runBundle('cleanup-backend', connection(proxy.port, { keep: '3' }))),
      `cleanup-backend with ${n} tags`,
    );
    results.push({ tags, ms: run.ms, channels: run.channels, removed: tags - datedCount() });
  }
  log(
    `cleanup: ${results.map((r) => `${r.tags} tags: ${r.ms.toFixed(0)} ms, ${r.channels} channels, removed ${r.removed}`).join('; ')}`,
  );
  const [few, many] = results;
  rows.push({
    measure: `cleanup-backend (keep 3): ${few.tags} dated tags vs ${many.tags}: time, channels (removed ${few.removed} vs ${many.removed})`,
    result: `${sec(few.ms)}, ${few.channels} ch / ${sec(many.ms)}, ${many.channels} ch`,
    target: 'same channels',
    ok: few.channels === many.channels,
  });
}

/**
 * backup-backend of a 200 MB volume and of a 100,000-row PostgreSQL database
 * (nas-postgres:latest, test/nas/postgres.sh) vs the same commands typed by
 * hand over ssh, alternating, in one run; target ≤ 1.15× the hand-run median.
 * The runner's peak memory is measured too: the data never passes through it.
 */
async function measureBackup(rows: Row[], log: (l: string) => void): Promise<void> {
  const project = 'nrbbench';
  const volume = `${project}_data`;
  const db = 'nrb-bench-db';
  const dir = '/volume1/docker/scanium/bench-backups';
  const clean = (): void => {
    sh(
      `docker rm -f ${db} >/dev/null 2>&1 || true; docker volume rm -f ${volume} >/dev/null 2>&1 || true; rm -rf ${dir} /tmp/nrb-hand.*`,
    );
  };
  clean();
  try {
    sh(
      `docker volume create --label com.docker.compose.project=${project} --label com.docker.compose.volume=data ${volume} >/dev/null`,
    );
    // incompressible, like photos and uploads
    sh(`docker run --rm -v ${volume}:/v nas-base:latest sh -c 'head -c 200000000 /dev/urandom > /v/blob'`);
    sh(
      `docker run -d --name ${db} --network host -e PGPORT=55436 -e POSTGRES_USER=bench -e POSTGRES_PASSWORD=bench-pass -e POSTGRES_DB=bench --label com.docker.compose.project=${project} --label com.docker.compose.service=db nas-postgres:latest >/dev/null`,
    );
    sh(`for i in $(seq 1 60); do docker exec ${db} pg_isready -q && break; sleep 0.5; done`);
    sh(
      `docker exec ${db} psql -X -q -U bench -d bench -c "CREATE TABLE items AS SELECT g AS id, md5(g::text) AS name, now() AS created FROM generate_series(1, 100000) g"`,
    );
    sh(`install -d -o ${NAS_USER} -m 700 ${dir}`);
    const common = {
      container: db,
      'backup-dir': dir,
      'backup-image': 'nas-base:latest',
      'backup-keep': '1',
    };
    const cases = [
      {
        name: 'backup of a 200 MB volume',
        inputs: { ...common, 'backup-volumes': 'data' },
        hand: `docker run --rm -v ${volume}:/v:ro nas-base:latest tar -C /v -czf - . > /tmp/nrb-hand.tar.gz\n`,
      },
      {
        name: 'backup of a 100,000-row PostgreSQL database',
        inputs: { ...common, 'backup-databases': 'postgres:db' },
        hand: `docker exec ${db} sh -c 'pg_dump -U "$POSTGRES_USER" -Fc "$POSTGRES_DB"' > /tmp/nrb-hand.dump\n`,
      },
    ];
    const runs = Math.max(3, Math.min(RUNS, 5));
    for (const c of cases) {
      const ours: number[] = [];
      const hand: number[] = [];
      let rssKb = 0;
      for (let i = 0; i < runs; i++) {
        const h = must(await handRun(2222, c.hand), `hand-run ${c.name}`);
        hand.push(h.ms);
        sh(`rm -rf ${dir}/[0-9]*`); // each run backs up into an empty directory, as the hand-run writes one file
        const a = must(await runBundle('backup-backend', connection(2222, c.inputs), { measureRss: true }), c.name);
        ours.push(a.ms);
        rssKb = Math.max(rssKb, a.maxRssKb ?? 0);
      }
      const ratio = median(ours) / median(hand);
      log(
        `${c.name}: ours ${ours.map((m) => m.toFixed(0)).join(', ')} ms; hand ${hand.map((m) => m.toFixed(0)).join(', ')} ms`,
      );
      rows.push({
        measure: `${c.name}: backup-backend vs \`${c.hand.trim().slice(0, 60)}…\` by hand (median of ${runs}; runner peak RSS)`,
        result: `${sec(median(ours))} vs ${sec(median(hand))} = ${ratio.toFixed(2)}×; ${(rssKb / 1024).toFixed(0)} MB`,
        target: '≤ 1.15×',
        ok: ratio <= 1.15,
      });
    }
  } finally {
    clean();
  }
}

async function measureStartup(proxy: TcpProxy, rows: Row[], log: (l: string) => void): Promise<void> {
  proxy.delayMs = 0;
  const sizes: string[] = [];
  for (const action of ACTIONS) {
    const bundle = join(ROOT, 'dist', action, 'index.js');
    if (!existsSync(bundle)) {
      rows.push({ measure: `start-up of ${action}`, result: 'n/a: no bundle', target: '< 200 ms' });
      continue;
    }
    sizes.push(`${action} ${(statSync(bundle).size / 1024).toFixed(0)} KiB`);
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let kill = (): void => undefined;
      let first = 0;
      const from = lastRecordId(proxy);
      let poll: NodeJS.Timeout | undefined;
      const seen = new Promise<void>((resolveSeen) => {
        poll = setInterval(() => {
          const r = proxy.records.find((x) => x.id > from && x.firstClientByteAt);
          if (r) {
            first = r.firstClientByteAt!;
            kill(); // before any lock or change: the dry-run never got that far
            resolveSeen();
          }
        }, 2);
      });
      const run = runBundle(action, connection(proxy.port, { 'dry-run': 'true' }), { onSpawn: (k) => (kill = k) });
      await Promise.race([seen, run.then(() => undefined)]);
      clearInterval(poll);
      const done = await run;
      if (!first) throw new Error(`${action} never connected:\n${done.tail.slice(-1500)}`);
      times.push(first - done.spawnedAt);
    }
    log(`start-up ${action}: ${times.map((x) => x.toFixed(0)).join(', ')} ms`);
    rows.push({
      measure: `start-up of ${action}: process start to its first byte at the proxy (median)`,
      result: `${median(times).toFixed(0)} ms`,
      target: '< 200 ms',
      ok: median(times) < 200,
    });
  }
  rows.push({ measure: 'bundle sizes (dist/<action>/index.js)', result: sizes.join('; '), target: '—' });
}

// ---------------------------------------------------------------- several services (issue 14)

/** The three-service sample application (test/nas/app/multi, seeded by test/nas/services.sh). */
const SERVICES_REPO = '/volume1/docker/nrs-multi/repo';
const SERVICES_ORIGIN = '/volume1/git/nrs-multi.git';
const SERVICES_INPUTS = {
  'repo-path': SERVICES_REPO,
  'compose-file': 'nrs/docker-compose.yml',
  image: 'nrs-api',
  container: 'nrs-api',
  'build-context': 'nrs/api',
  services: `api tag-variable=API_TAG
worker tag-variable=WORKER_TAG
web image=nrs-web build-context=nrs/web tag-variable=WEB_TAG health-url=http://127.0.0.1:18102/health`,
};
/**
 * The same release typed by hand in one ssh session: both images built, the three recreated, each one checked,
 * polling once a second as the single-service hand-run (HAND_SCRIPT) does.
 */
const SERVICES_HAND_SCRIPT = `set -e
cd ${SERVICES_REPO}
git fetch -q origin
git checkout -q -B main origin/main
tag=$(date -u +%Y.%m.%d)-$(git rev-parse --short=7 HEAD)
docker build -q -t nrs-api:$tag nrs/api >/dev/null
docker build -q -t nrs-web:$tag nrs/web >/dev/null
API_TAG=$tag WORKER_TAG=$tag WEB_TAG=$tag docker-compose --file nrs/docker-compose.yml up -d --no-build --no-deps api worker web
worker=$(docker ps -q --filter label=com.docker.compose.project=nrs --filter label=com.docker.compose.service=worker)
n=0
until [ "$(docker inspect -f '{{.State.Health.Status}}' nrs-api)" = healthy ] && [ "$(docker inspect -f '{{.State.Health.Status}}' $worker)" = healthy ] && curl -fsS -o /dev/null http://127.0.0.1:18102/health; do
  n=$((n + 1)); [ $n -le 120 ] || { echo 'not healthy' >&2; exit 1; }
  sleep 1
done
echo "deployed $tag"
`;

/**
 * A three-service release (two images) at a 50 ms round trip: the action
 * against the same release typed by hand in one ssh session, alternating,
 * in one run; target ≤ 1.10× the hand-run median.
 */
async function measureServices(proxy: TcpProxy, rows: Row[], log: (l: string) => void): Promise<void> {
  const reset = (): void => void execFileSync('bash', [join(ROOT, 'test/nas/services.sh')], { stdio: 'pipe' });
  reset();
  try {
    const release = (): string =>
      pushCommit(
        { 'nrs/api/www/version': `bench ${++serial}\n`, 'nrs/web/www/version': `bench ${serial}\n` },
        `Bench services release ${serial}`,
        SERVICES_ORIGIN,
      );
    // A first release, so that every measured one replaces three running services.
    must(await runBundle('deploy-backend', connection(2222, SERVICES_INPUTS)), 'the first services deploy');
    proxy.delayMs = 25;
    const action: number[] = [];
    const hand: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const who of i % 2 === 0 ? ['action', 'hand'] : ['hand', 'action']) {
        release();
        if (who === 'action')
          action.push(
            must(
              await runBundle('deploy-backend', connection(proxy.port, SERVICES_INPUTS)),
              'deploy-backend (services)',
            ).ms,
          );
        else hand.push(must(await handRun(proxy.port, SERVICES_HAND_SCRIPT), 'the hand-run services deploy').ms);
      }
    }
    proxy.delayMs = 0;
    const ratio = median(action) / median(hand);
    log(
      `services @50 ms RTT: action ${action.map((x) => x.toFixed(0)).join(', ')} ms; hand-run ${hand.map((x) => x.toFixed(0)).join(', ')} ms; each pair run back to back: ${action.map((x, i) => (x / hand[i]).toFixed(2)).join(', ')}`,
    );
    rows.push({
      measure: `deploy-backend, three services from two images, 50 ms round trip: action / hand-run in one ssh session (median of ${RUNS})`,
      result: `${sec(median(action))} / ${sec(median(hand))} = **${ratio.toFixed(2)}**`,
      target: '≤ 1.10',
      ok: ratio <= 1.1,
    });
  } finally {
    proxy.delayMs = 0;
    reset();
  }
}

/**
 * (issue 14) deploy-backend with image-source: runner, an image of about 100 MB built on the runner's own engine
 * (test/nas/image-sources.sh) and streamed into the NAS, against the same typed by hand: docker build, then
 * `docker save | gzip | ssh nas docker load`, then one ssh call that checks out, recreates and waits for health.
 */
async function measureRunner(proxy: TcpProxy, rows: Row[], log: (l: string) => void): Promise<void> {
  const runnerDocker = 'unix:///run/nas-runner/docker.sock';
  const image = 'nrr-bench';
  const compose = readFileSync(join(ROOT, 'test/nas/app/backend/docker-compose.yml'), 'utf8').replace(
    'image: scanium-backend:',
    `image: ${image}:`,
  );
  const clean = (): void => {
    for (const host of ['', `DOCKER_HOST=${runnerDocker} `])
      sh(
        `${host}docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^${image}:' | xargs -r ${host}docker image rm --force >/dev/null 2>&1 || true`,
      );
  };
  /** A release whose image holds 100 MB of its own (random, so every release sends all of it). */
  const release = (): { sha: string; ws: string } => {
    const n = ++serial;
    const sha = pushCommit(
      {
        'backend/docker-compose.yml': compose,
        'backend/Dockerfile': `FROM nas-base:latest\nRUN echo bench ${n} ${Date.now()} && head -c 100000000 /dev/urandom > /blob\nCOPY www /www\nCMD ["httpd", "-f", "-p", "127.0.0.1:18080", "-h", "/www"]\n`,
      },
      `Bench runner release ${n}`,
    );
    const ws = mkdtempSync(join(tmpdir(), 'nrr-bench-ws-'));
    const home = mkdtempSync(join(tmpdir(), 'nrr-bench-home-'));
    writeFileSync(join(home, '.gitconfig'), '[safe]\n\tdirectory = *\n');
    execFileSync('git', ['clone', '-q', ORIGIN, ws], { env: { ...process.env, HOME: home } });
    execFileSync('git', ['-C', ws, 'checkout', '-q', sha]);
    rmSync(home, { recursive: true, force: true });
    return { sha, ws };
  };
  const ssh = `ssh -p ${proxy.port} -i ${join(STATE, 'client_ed25519')} -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR ${NAS_USER}@127.0.0.1`;
  const byHand = (ws: string, tag: string): Promise<Run> => {
    const script = `set -eo pipefail
export DOCKER_HOST=${runnerDocker}
docker build -q -t ${image}:${tag} ${ws}/backend >/dev/null
docker save ${image}:${tag} | gzip | ${ssh} docker load
unset DOCKER_HOST
${ssh} sh -s <<'NAS'
set -e
cd ${REPO}
git fetch -q origin
git checkout -q -B main origin/main
BACKEND_TAG=${tag} docker-compose --file backend/docker-compose.yml up -d --no-build --no-deps api
n=0
until [ "$(docker inspect -f '{{.State.Health.Status}}' scanium-backend)" = healthy ]; do
  n=$((n + 1)); [ $n -le 120 ] || { echo 'not healthy' >&2; exit 1; }
  sleep 1
done
curl -fsS -o /dev/null ${HEALTH_URL}
NAS
`;
    const spawnedAt = performance.now();
    const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    child.stdout.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
    child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
    return new Promise((done) =>
      child.on('close', (code) =>
        done({ code: code ?? 1, ms: performance.now() - spawnedAt, tail, stdoutBytes: 0, spawnedAt }),
      ),
    );
  };
  const dated = (sha: string): string =>
    `${new Date().toISOString().slice(0, 10).replace(/-/g, '.')}-${sha.slice(0, 7)}`;
  proxy.delayMs = 0;
  const action: number[] = [];
  const hand: number[] = [];
  const runs = Math.min(RUNS, 3);
  try {
    for (let i = 0; i < runs; i++) {
      for (const who of i % 2 === 0 ? ['action', 'hand'] : ['hand', 'action']) {
        const { sha, ws } = release();
        try {
          if (who === 'action') {
            const run = must(
              await runBundle(
                'deploy-backend',
                connection(proxy.port, { 'health-url': HEALTH_URL, image, 'image-source': 'runner' }),
                { env: { DOCKER_HOST: runnerDocker, GITHUB_WORKSPACE: ws } },
              ),
              'deploy-backend (image-source: runner)',
            );
            const sent = /Sent \S+ to the NAS: ([^\n]*)/.exec(run.tail);
            if (sent) log(`runner release: ${sent[1]}`);
            action.push(run.ms);
          } else hand.push(must(await byHand(ws, dated(sha)), 'the hand-run runner release').ms);
        } finally {
          rmSync(ws, { recursive: true, force: true });
        }
        clean(); // every release builds and sends its 100 MB anew
      }
    }
  } finally {
    clean();
  }
  const ratio = median(action) / median(hand);
  log(
    `runner release @0 ms RTT: action ${action.map((x) => x.toFixed(0)).join(', ')} ms; hand-run ${hand.map((x) => x.toFixed(0)).join(', ')} ms`,
  );
  rows.push({
    measure: `deploy-backend, image-source: runner, 100 MB image, loopback: action / docker save | gzip | ssh docker load by hand (median of ${runs})`,
    result: `${sec(median(action))} / ${sec(median(hand))} = **${ratio.toFixed(2)}**`,
    target: '≤ 1.15',
    ok: ratio <= 1.15,
  });
}

// ---------------------------------------------------------------- blue-green (issue 15)

const BG_RELEASES = Number(process.env.BENCH_BG_RELEASES ?? 20);

/**
 * (issue 15) The blue-green sample behind nginx, with ~50 requests a second
 * through the proxy: BG_RELEASES deploys and as many rollbacks with
 * blue-green, then the same with recreate on the same proxy (requests lost,
 * longest gap, release times); then warm rollbacks, timed from the runner's
 * command to the first request the target answers.
 */
async function measureBlueGreen(rows: Row[], log: (l: string) => void): Promise<void> {
  const cycle = async (
    inputs: (extra?: Record<string, string>) => Record<string, string>,
    label: string,
  ): Promise<{ report: LoadReport; deploys: number[] }> => {
    const deploys: number[] = [];
    const load = new LoadGenerator('http://127.0.0.1:18120/version', 50).start();
    for (let i = 0; i < BG_RELEASES; i++) {
      const sha = pushVersion(`${label} ${i}`);
      const d = must(await runBundle('deploy-backend', inputs()), `${label} deploy ${i}`);
      if (!d.tail.includes(tagOfSha(sha))) throw new Error(`${label} deploy ${i} did not release ${tagOfSha(sha)}`);
      deploys.push(d.ms);
      must(await runBundle('rollback-backend', inputs()), `${label} rollback ${i}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const report = await load.stop();
    log(
      `${label}: ${BG_RELEASES} deploys + ${BG_RELEASES} rollbacks under load: ${JSON.stringify({ ...report, failures: report.failures.slice(0, 2) })}; deploys ${deploys.map((x) => x.toFixed(0)).join(', ')} ms`,
    );
    return { report, deploys };
  };
  resetSample();
  try {
    must(await runBundle('deploy-backend', nrgInputs()), 'the first blue-green deploy');
    const bg = await cycle(nrgInputs, 'blue-green');
    toRecreate();
    must(await runBundle('deploy-backend', nrgRecreateInputs()), 'the first recreate deploy');
    const rc = await cycle(nrgRecreateInputs, 'recreate');
    rows.push({
      measure: `~50 req/s through nginx, ${BG_RELEASES} deploys + ${BG_RELEASES} rollbacks: requests lost, blue-green (recreate beside it)`,
      result: `**${bg.report.failed}** of ${bg.report.sent}, longest gap ${bg.report.longestGapMs} ms (recreate: ${rc.report.failed} of ${rc.report.sent}, longest gap ${rc.report.longestGapMs} ms)`,
      target: '0 (recreate > 0)',
      ok: bg.report.failed === 0 && rc.report.failed > 0,
    });
    const ratio = median(bg.deploys) / median(rc.deploys);
    rows.push({
      measure: `deploy-backend release time, blue-green / recreate (no keep-warm; the drain and the old colour's stop follow the release; median of ${BG_RELEASES})`,
      result: `${sec(median(bg.deploys))} / ${sec(median(rc.deploys))} = **${ratio.toFixed(2)}**`,
      target: '≤ 1.20',
      ok: ratio <= 1.2,
    });

    // Warm rollbacks: each deploy keeps the old colour warm, the rollback switches back to it.
    resetSample();
    must(await runBundle('deploy-backend', nrgInputs()), 'the first blue-green deploy (warm)');
    const toFirst: number[] = [];
    const onNas: number[] = [];
    for (let i = 0; i < 5; i++) {
      pushVersion(`warm ${i}`);
      // the history's previous release is always the seed ('one'): each rollback pops back to it
      const before = 'one\n';
      must(await runBundle('deploy-backend', nrgInputs({ 'keep-warm': '300' })), `warm deploy ${i}`);
      const load = new LoadGenerator('http://127.0.0.1:18120/version', 50).start();
      await new Promise((r) => setTimeout(r, 300));
      const run = must(await runBundle('rollback-backend', nrgInputs({ 'keep-warm': '300' })), `warm rollback ${i}`);
      await new Promise((r) => setTimeout(r, 300));
      const report = await load.stop();
      const first = load.firstAnswer(before, run.spawnedAt);
      if (!first || report.failed) throw new Error(`warm rollback ${i}: ${JSON.stringify(report)}`);
      toFirst.push(first.endedAt - run.spawnedAt);
      onNas.push(Number(/Switch \(on the NAS\)=(\d+) ms/.exec(run.tail)?.[1] ?? NaN));
    }
    log(
      `warm rollback: command to first answer of the target ${toFirst.map((x) => x.toFixed(0)).join(', ')} ms; on the NAS ${onNas.join(', ')} ms`,
    );
    rows.push({
      measure:
        "warm rollback (blue-green): from the runner's command to the first request the target answers (median of 5; on the NAS)",
      result: `**${sec(median(toFirst))}** (${sec(median(onNas))} on the NAS)`,
      target: '< 1 s',
      ok: median(toFirst) < 1000,
    });
  } finally {
    resetSample();
  }
}

function writeReport(rows: Row[], raw: string[]): void {
  const node = process.version;
  const mem = `${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free)`;
  const cpu = `${execFileSync('nproc', { encoding: 'utf8' }).trim()} × ${cpus()[0]?.model ?? '?'}`;
  let docker = '?';
  try {
    docker = sh(`docker version --format '{{.Server.Version}}'`).trim();
  } catch {
    /* left as ? */
  }
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const text = `# Benchmarks

Measured against the stand-in NAS (\`test/nas\`: real sshd on 127.0.0.1:2222, real dockerd, bare git origin), through a TCP proxy
(\`test/e2e/support/proxy.ts\`) that adds a delay to every chunk each way for the 50 ms round-trip rows. The hand-run way is one
\`ssh\` call running the same steps as a shell script (git fetch and checkout, docker build, docker-compose up, poll health once a second).

- Date: ${new Date().toISOString()}
- Machine: ${cpu}; memory ${mem}; ${execFileSync('uname', ['-srm'], { encoding: 'utf8' }).trim()}
- Node ${node}; Docker engine ${docker}
- Runs per median: ${RUNS}
- Watch rows: a ${WATCH_SECONDS} s watch${WATCH_SECONDS === 300 ? '' : ' (the issue asks about 5 minutes; `BENCH_WATCH_SECONDS=300` measures that, at the cost of 4 more minutes of bench time: the runner only follows the log, so its CPU share does not grow with the watch)'}
- Reproduce: \`sudo flock /tmp/nas-e2e.lock npm run bench\` (the stand-in NAS must be up: \`sudo npm run nas:up\`)

| Measure | Result | Target | Met |
|---|---|---|---|
${rows.map((r) => `| ${cell(r.measure)} | ${cell(r.result)} | ${cell(r.target)} | ${r.ok === undefined ? '—' : r.ok ? 'yes' : '**no**'} |`).join('\n')}

Channels are the SSH sessions sshd started (\`Starting session\` lines of its VERBOSE log) on the connections the proxy forwarded.
${
  rows.some((r) => r.note)
    ? `\nNotes:\n\n${rows
        .filter((r) => r.note)
        .map((r) => `- ${r.measure}: \`${(r.note ?? '').replace(/\s+/g, ' ').slice(0, 300)}\``)
        .join('\n')}\n`
    : ''
}
Raw numbers:

\`\`\`
${raw.join('\n')}
\`\`\`
`;
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  writeFileSync(join(ROOT, 'docs/benchmarks.md'), text);
}

main().catch((err: unknown) => {
  console.error((err as Error).stack ?? String(err));
  process.exitCode = 2;
});
