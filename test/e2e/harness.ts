import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** The stand-in NAS brought up by test/nas/up.sh. */
export const ROOT = resolve(__dirname, '../..');
export const STATE = '/var/lib/nas-standin';
export const REPO = '/volume1/docker/scanium/repo';
export const ORIGIN = '/volume1/git/scanium.git';
export const ANSWERS = '/volume1/docker/scanium/standin/answers';
export const HEALTH_URL = 'http://127.0.0.1:18080/health';
export const NAS_USER = 'nas';

export function privateKey(): string {
  return readFileSync(join(STATE, 'client_ed25519'), 'utf8');
}
export function hostFingerprint(): string {
  return readFileSync(join(STATE, 'host_fingerprint'), 'utf8').trim();
}

/** The inputs that reach the stand-in NAS. */
export function connection(extra: Record<string, string> = {}): Record<string, string> {
  return {
    host: '127.0.0.1',
    port: '2222',
    username: NAS_USER,
    'private-key': privateKey(),
    'host-key': hostFingerprint(),
    ...extra,
  };
}

export interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  env: Record<string, string>;
  summary: string;
}

/** Parses the runner's file commands (`name<<delim\nvalue\ndelim`). */
function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]);
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]);
    out[m[1]] = value.join('\n');
  }
  return out;
}

/**
 * Runs an action's bundle (dist/<name>/index.js) as the runner does: inputs as
 * INPUT_* variables, outputs through GITHUB_OUTPUT. Asserts that no secret
 * reaches the log except in the ::add-mask:: commands that hide it.
 */
export async function runAction(
  name: string,
  inputs: Record<string, string>,
  opts: {
    env?: Record<string, string>;
    secrets?: string[];
    timeoutMs?: number;
    /** Each chunk of the log; `kill` SIGKILLs the action (a runner that vanishes) and says whether it was still running. */
    onStdout?: (chunk: string, kill: () => boolean) => void;
    /** Run the bundle inside this network namespace (the jump host tests' runner, test/nas/bastion.sh). */
    netns?: string;
  } = {},
): Promise<ActionRun> {
  const dir = mkdtempSync(join(tmpdir(), `nr-${name}-`));
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary'),
  };
  for (const f of Object.values(files)) writeFileSync(f, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    ...files,
    GITHUB_ACTOR: 'e2e-tester',
    GITHUB_REPOSITORY: 'example/app',
    GITHUB_RUN_ID: String(Date.now()),
    GITHUB_SERVER_URL: 'https://github.example',
    ...opts.env,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const bundle = [process.execPath, join(ROOT, 'dist', name, 'index.js')];
  const [command, ...args] = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...bundle] : bundle;
  const child = spawn(command, args, {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const kill = (): boolean => child.kill('SIGKILL');
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    opts.onStdout?.(d.toString(), kill);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((res) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 280_000);
    child.on('close', (c) => {
      clearTimeout(timer);
      res(c ?? 137);
    });
  });
  const run: ActionRun = {
    code,
    stdout,
    stderr,
    outputs: parseFileCommands(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
    env: parseFileCommands(readFileSync(files.GITHUB_ENV, 'utf8')),
    summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
  };
  rmSync(dir, { recursive: true, force: true });
  const secrets = [
    inputs['private-key'],
    inputs.passphrase,
    inputs.password,
    inputs['grafana-credentials'],
    inputs['jump-private-key'],
    inputs['jump-password'],
    ...(opts.secrets ?? []),
  ].filter((s): s is string => !!s && s.trim().length > 0);
  assertNoSecrets(run, secrets);
  return run;
}

/** No secret, nor any line of one, appears outside the ::add-mask:: commands. */
export function assertNoSecrets(run: Pick<ActionRun, 'stdout' | 'stderr' | 'summary'>, secrets: string[]): void {
  const text = [run.stdout, run.stderr, run.summary]
    .join('\n')
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
  for (const secret of secrets) {
    for (const part of [secret, ...secret.split('\n')]
      .map((s) => s.trim())
      .filter((s) => s.length >= 8 && !/^-----(BEGIN|END) /.test(s))) {
      // thrown, not expect(): bench/bench.ts loads this file too, outside vitest
      if (text.includes(part)) throw new Error(`a secret line leaked into the log: ${part.slice(0, 12)}…`);
    }
  }
}

/** Runs a command on this machine as the NAS user (for checks and for setting up state). */
export function asNas(args: string[], input?: string): string {
  return execFileSync('runuser', ['-u', NAS_USER, '--', ...args], {
    encoding: 'utf8',
    input,
    cwd: '/tmp',
    env: { ...process.env, HOME: `/home/${NAS_USER}` },
  });
}

export function sh(script: string): string {
  return execFileSync('sh', ['-c', script], { encoding: 'utf8' });
}

/** Puts the NAS back to its first state: seed commit, no backend containers or images. */
export function resetNas(): void {
  execFileSync('bash', [join(ROOT, 'test/nas/reset.sh')], { stdio: 'pipe' });
}

/**
 * Commits files to the origin as a developer would (clone, change, push) and
 * returns the new commit's full SHA. A null content deletes the file. `origin`:
 * another sample application's bare origin.
 */
export function pushCommit(files: Record<string, string | null>, message: string, origin = ORIGIN): string {
  const dir = mkdtempSync(join(tmpdir(), 'nr-dev-'));
  execFileSync('chown', [NAS_USER, dir]);
  asNas(['git', 'clone', '-q', origin, dir]);
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    if (content === null) rmSync(full, { force: true });
    else {
      if (!existsSync(dirname(full))) asNas(['mkdir', '-p', dirname(full)]);
      asNas(['tee', full], content);
    }
  }
  asNas(['git', '-C', dir, '-c', 'user.name=Developer', '-c', 'user.email=dev@example.test', 'add', '-A']);
  asNas([
    'git',
    '-C',
    dir,
    '-c',
    'user.name=Developer',
    '-c',
    'user.email=dev@example.test',
    'commit',
    '-q',
    '-m',
    message,
  ]);
  asNas(['git', '-C', dir, 'push', '-q', 'origin', 'HEAD:main']);
  const sha = asNas(['git', '-C', dir, 'rev-parse', 'HEAD']).trim();
  rmSync(dir, { recursive: true, force: true });
  return sha;
}

export function originHead(): string {
  return asNas(['git', '-C', ORIGIN, 'rev-parse', 'main']).trim();
}

/** The dated tag a deploy of `sha` makes today. */
export function tagOf(sha: string): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}.${p(d.getUTCMonth() + 1)}.${p(d.getUTCDate())}-${sha.slice(0, 7)}`;
}

export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

export function containerImage(name: string): string {
  try {
    return docker('inspect', '--format', '{{.Config.Image}}', name);
  } catch {
    return '';
  }
}

export function containerState(name: string): string {
  try {
    return docker('inspect', '--format', '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}', name);
  } catch {
    return 'missing';
  }
}

/** GETs a URL from this machine (the NAS's loopback). */
export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return { status: 0, body: '' };
  }
}

/** The release history of the NAS checkout, or of another state folder (project-source: runner keeps it in `<repo-path>/.nas-release`). */
export function historyLines(stateDir = join(REPO, '.git/nas-release')): Array<Record<string, string>> {
  const file = join(stateDir, 'history.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>);
}

export function ensureDir(path: string): void {
  mkdirSync(path, { recursive: true });
}

/** A commit of the sample backend whose health check fails (the /health file is gone). */
export const BROKEN_HEALTH = { 'backend/www/health': null } as const;
/** A commit of the sample backend whose build fails. */
export const BROKEN_BUILD = { 'backend/Dockerfile': 'FROM nas-base:latest\nRUN exit 7\n' } as const;

/** Every command line on this machine (the NAS's and its containers') while `body` runs, sampled every 10 ms: where a secret must never show. */
export async function commandLinesDuring<T>(body: () => Promise<T>): Promise<{ result: T; seen: Set<string> }> {
  const seen = new Set<string>();
  let running = true;
  const sample = async (): Promise<void> => {
    while (running) {
      await new Promise<void>((resolve) =>
        execFile('ps', ['-eo', 'args='], { maxBuffer: 1 << 24 }, (_err, out) => {
          for (const line of String(out).split('\n')) seen.add(line);
          resolve();
        }),
      );
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const sampling = sample();
  try {
    return { result: await body(), seen };
  } finally {
    running = false;
    await sampling;
  }
}

/** A runner's workspace: an origin checked out at `sha`, as actions/checkout leaves it. */
export function runnerWorkspace(sha: string, origin = ORIGIN): string {
  const dir = mkdtempSync(join(tmpdir(), 'nr-ws-'));
  // the origin belongs to the NAS user: git reads it for root only with safe.directory in a global config
  const home = mkdtempSync(join(tmpdir(), 'nr-home-'));
  writeFileSync(join(home, '.gitconfig'), '[safe]\n\tdirectory = *\n');
  execFileSync('git', ['clone', '-q', origin, dir], { env: { ...process.env, HOME: home } });
  rmSync(home, { recursive: true, force: true });
  execFileSync('git', ['-C', dir, 'checkout', '-q', sha]);
  return dir;
}
