import { request } from 'node:http';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pushCommit } from '../harness.js';

/**
 * The blue-green sample of the stand-in NAS (test/nas/bluegreen.sh): its own
 * origin and checkout, nginx on 127.0.0.1:18120 in front of the blue
 * (18121) and green (18122) colours. No vitest here: the bench uses it too.
 */
const ROOT = resolve(__dirname, '../../..');
const STATE = '/var/lib/nas-standin';
export const NRG_REPO = '/volume1/docker/nrg/repo';
export const NRG_ORIGIN = '/volume1/git/nrg.git';
export const PROXY_URL = 'http://127.0.0.1:18120';
export const NRG_IMAGE = 'nrg-backend';
export const UPSTREAM = `${NRG_REPO}/nrg/nginx/upstream.conf`;
const NAS_USER = 'nas';

/** The inputs of a blue-green release of the sample (its own ports, the names). */
export function nrgInputs(extra: Record<string, string> = {}): Record<string, string> {
  return {
    host: '127.0.0.1',
    port: '2222',
    username: NAS_USER,
    'private-key': readFileSync(join(STATE, 'client_ed25519'), 'utf8'),
    'host-key': readFileSync(join(STATE, 'host_fingerprint'), 'utf8').trim(),
    'repo-path': NRG_REPO,
    image: NRG_IMAGE,
    'compose-file': 'nrg/docker-compose.yml',
    'build-context': 'nrg',
    service: 'api',
    container: 'nrg-backend-blue',
    'health-url': `${PROXY_URL}/health`,
    'health-timeout': '30',
    strategy: 'blue-green',
    'proxy-upstream-file': 'nrg/nginx/upstream.conf',
    'blue-port': '18121',
    'green-port': '18122',
    'drain-seconds': '1',
    'keep-warm': '0',
    ...extra,
  };
}

/** The same sample released with recreate: one container (blue's name and port) behind the same proxy. */
export function nrgRecreateInputs(extra: Record<string, string> = {}): Record<string, string> {
  return nrgInputs({ strategy: 'recreate', 'health-url': 'http://127.0.0.1:18121/health', ...extra });
}

export function asNas(args: string[], input?: string): string {
  return execFileSync('runuser', ['-u', NAS_USER, '--', ...args], {
    encoding: 'utf8',
    input,
    cwd: '/tmp',
    env: { ...process.env, HOME: `/home/${NAS_USER}` },
  });
}

/** Puts the sample back to its first state: no nrg-* containers, no nrg-backend images, a fresh checkout. */
export function resetSample(): void {
  execFileSync('bash', [join(ROOT, 'test/nas/bluegreen.sh'), '--reset'], { stdio: 'pipe' });
}

/** Commits files to the sample's origin as a developer would; returns the commit's SHA. A null content deletes. */
export function pushSample(files: Record<string, string | null>, message: string): string {
  return pushCommit(files, message, NRG_ORIGIN);
}

/** A new release of the sample: its /version answers `version`. */
export function pushVersion(version: string): string {
  return pushSample({ 'nrg/www/version': `${version}\n` }, `Release ${version}`);
}

export function sampleDocker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

/** The colour containers that run now: `name image` lines. */
export function runningColors(): string[] {
  return sampleDocker('ps', '--filter', 'name=^nrg-backend-', '--format', '{{.Names}} {{.Image}}')
    .split('\n')
    .filter(Boolean)
    .sort();
}

/** Waits (up to `ms`) until only one colour runs: the old one stops after its drain, in the background. */
export async function oneColourRuns(ms = 15_000): Promise<string[]> {
  const end = Date.now() + ms;
  let colors = runningColors();
  while (colors.length !== 1 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    colors = runningColors();
  }
  return colors;
}

/** Makes the sample ready for recreate: no colour containers, the proxy pointing at blue's port, reloaded. */
export function toRecreate(): void {
  for (const c of ['nrg-backend-blue', 'nrg-backend-green'])
    try {
      execFileSync('docker', ['rm', '-f', c], { stdio: 'pipe' });
    } catch {
      /* not there */
    }
  asNas(['sh', '-c', `printf 'server 127.0.0.1:18121;\\n' > ${UPSTREAM}.new && mv -f ${UPSTREAM}.new ${UPSTREAM}`]);
  sampleDocker('exec', 'nrg-proxy', 'nginx', '-s', 'reload');
  rmSync(`${NRG_REPO}/.git/nas-release/live-color`, { force: true });
}

/**
 * GET through the proxy (or any URL), never throwing, on a connection of its own as a new visitor's would be:
 * a kept-alive connection stays with an nginx worker of before a reload, which finishes it on the old upstream.
 */
export function get(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((done) => {
    const req = request(url, { agent: false, timeout: timeoutMs, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      res.on('error', () => done({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => done({ status: 0, body: '' }));
    req.end();
  });
}

/** The dated tag a release of `sha` gets today. */
export function tagOfSha(sha: string): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}.${p(d.getUTCMonth() + 1)}.${p(d.getUTCDate())}-${sha.slice(0, 7)}`;
}

export function sampleHistory(): Array<Record<string, string>> {
  const file = join(NRG_REPO, '.git/nas-release/history.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>);
}
