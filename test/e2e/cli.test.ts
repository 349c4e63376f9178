import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  HEALTH_URL,
  REPO,
  ROOT,
  STATE,
  assertNoSecrets,
  containerImage,
  docker,
  historyLines,
  hostFingerprint,
  originHead,
  privateKey,
  resetNas,
  tagOf,
} from './harness.js';

const run = promisify(execFile);
const CLI = join(ROOT, 'dist/cli/index.js');

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('nas-release from a terminal (the README quick start)', () => {
  beforeEach(() => resetNas());

  it('lists the inputs with their defaults from the spec it is built with, and takes secrets from files only', async () => {
    const help = await cli(['deploy-backend', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--health-timeout <value> +\(default: 120\)/);
    expect(help.stdout).toContain('--private-key-file <path>');
    expect(help.stdout).toContain('--registry-password-file <path>');
    expect(help.stdout).toContain('DEPLOYED_BACKEND_TAG');
    const bad = await cli(['deploy-backend', '--no-such-input', 'x']);
    expect(bad.code).toBe(2);
    const inline = await cli(['deploy-backend', '--host', 'nas', '--username', 'u', '--registry-password', 'hunter2']);
    expect(inline.code).toBe(2);
    expect(inline.stderr).toContain('--registry-password is a secret');
    expect(inline.stderr).toContain('--registry-password-file PATH');
  });

  it('deploys and rolls back through the CLI with the same lock, history and output as the action', async () => {
    const sha = originHead();
    const conn = [
      '--host',
      '127.0.0.1',
      '--port',
      '2222',
      '--username',
      'nas',
      '--private-key-file',
      join(STATE, 'client_ed25519'),
      '--host-key',
      hostFingerprint(),
    ];
    const deployed = await cli(['deploy-backend', ...conn, '--health-url', HEALTH_URL]);
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    expect(deployed.stdout).toContain('[8/8] Verifying deployment...');
    expect(deployed.stdout).toContain(`DEPLOYED_BACKEND_TAG=${tagOf(sha)}`);
    expect(deployed.stdout).not.toMatch(/^::/m);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${tagOf(sha)}`);
    assertNoSecrets({ ...deployed, summary: '' }, [privateKey()]);

    const same = await cli(['rollback-backend', ...conn, '--tag', tagOf(sha)]);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('is already running: nothing to do');
    const refused = await cli(['rollback-backend', ...conn, '--tag', '$(touch /tmp/pwned-cli)']);
    expect(refused.code).toBe(1);
    expect(refused.stderr + refused.stdout).toContain("Input 'tag'");
  });
});

/** The CLI run in the background: its output so far, a wait for a text in it, and its end. */
function spawnCli(args: string[]): {
  child: ChildProcess;
  out: () => string;
  waitFor: (text: string, ms?: number) => Promise<void>;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const waitFor = async (text: string, ms = 60_000): Promise<void> => {
    const until = Date.now() + ms;
    while (!out.includes(text)) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`"${text}" never came:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, out: () => out, waitFor, done };
}

function connArgs(): string[] {
  return [
    '--host',
    '127.0.0.1',
    '--port',
    '2222',
    '--username',
    'nas',
    '--private-key-file',
    join(STATE, 'client_ed25519'),
    '--host-key',
    hostFingerprint(),
  ];
}

/** Text printed by the backend container (its PID 1's standard output): a line of its log. */
function containerSays(text: string): void {
  docker('exec', 'scanium-backend', 'sh', '-c', `echo ${text} > /proc/1/fd/1`);
}

const STATE_DIR = join(REPO, '.git/nas-release');
const stateFile = (name: string): string =>
  existsSync(join(STATE_DIR, name)) ? readFileSync(join(STATE_DIR, name), 'utf8') : '(none)';

describe('nas-release status, history and logs (day two)', () => {
  beforeEach(() => resetNas());

  it('read the NAS while another operation holds the lock, and record nothing', async () => {
    const help = await cli(['--help']);
    expect(help.stdout).toMatch(/^ {2}status +Show what runs/m);
    expect(help.stdout).toMatch(/^ {2}history +Show the release history/m);
    expect(help.stdout).toMatch(/^ {2}logs +Print the services' logs/m);

    const conn = connArgs();
    const tag = tagOf(originHead());
    const deployed = await cli(['deploy-backend', ...conn, '--health-url', HEALTH_URL]);
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    containerSays('day-two-first-line');

    // A rollback holds the release lock, waiting in its pre-rollback hook for the gate file.
    const gate = `/tmp/nr-gate-${randomBytes(6).toString('hex')}`;
    const holder = spawnCli([
      'rollback-backend',
      ...conn,
      '--tag',
      tag,
      '--force',
      '--pre-rollback',
      `i=0; while [ ! -e ${gate} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done`,
    ]);
    try {
      await holder.waitFor('Running pre-rollback');
      const history = stateFile('history.jsonl');
      const current = stateFile('current.json');

      const status = await cli(['status', ...conn, '--json']);
      expect(status.code, status.stderr).toBe(0);
      const report = JSON.parse(status.stdout) as Record<string, unknown>;
      expect(report.services).toEqual([
        expect.objectContaining({ service: 'api', container: 'scanium-backend', tag, health: 'healthy', color: null }),
      ]);
      expect(report.lock).toMatchObject({ state: 'held', holder: { action: 'rollback-backend' } });
      expect(report.inProgress).toMatchObject({ action: 'rollback-backend', tag, previous: tag });
      expect(report.lastOperation).toMatchObject({ action: 'deploy-backend', tag, outcome: 'success' });
      const text = await cli(['status', ...conn]);
      expect(text.stdout).toMatch(
        new RegExp(`^api +- +scanium-backend +${tag.replace(/\./g, '\\.')} +healthy +\\d{4}-`, 'm'),
      );
      expect(text.stdout).toContain('Release lock:   held by rollback-backend by ');

      const rows = JSON.parse((await cli(['history', ...conn, '--json', '--limit', '5'])).stdout) as object[];
      expect(rows).toEqual([
        expect.objectContaining({ action: 'rollback-backend', inProgress: true }),
        expect.objectContaining({ action: 'deploy-backend', tag, outcome: 'success' }),
      ]);
      const table = await cli(['history', ...conn, '--limit', '1']);
      expect(table.stdout.split('\n')[0]).toMatch(/^STARTED +ACTION +TAG +PREVIOUS +OUTCOME/);
      expect(table.stdout).toMatch(/rollback-backend .* in progress/);
      expect(table.stdout).not.toContain('deploy-backend');

      const logs = await cli(['logs', 'api', ...conn, '--tail', '20']);
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toContain('day-two-first-line');
      const none = await cli(['logs', 'no-such-service', ...conn]);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('No container of service no-such-service');

      // None of them wrote a line, nor touched the operation in progress.
      expect(stateFile('history.jsonl')).toBe(history);
      expect(stateFile('current.json')).toBe(current);
    } finally {
      writeFileSync(gate, '');
    }
    const held = await holder.done;
    expect(held.code, holder.out()).toBe(0);
    rmSync(gate, { force: true });
    expect(historyLines().map((r) => r.action)).toEqual(['deploy-backend', 'rollback-backend']);

    // logs --follow prints new lines until Ctrl-C, which ends the logs on the NAS too.
    containerSays('day-two-before-follow'); // the forced rollback made a new container: its log starts here
    const follow = spawnCli(['logs', ...conn, '--follow', '--tail', '5']);
    await follow.waitFor('day-two-before-follow');
    containerSays('day-two-followed-line');
    await follow.waitFor('day-two-followed-line');
    follow.child.kill('SIGINT');
    const ended = await follow.done;
    expect(ended, follow.out()).toEqual({ code: 0, signal: null });
    const following = (): string[] =>
      execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => / logs .*--follow/.test(l) && !l.includes(CLI));
    for (let i = 0; following().length && i < 50; i++) await new Promise((r) => setTimeout(r, 100));
    expect(following()).toEqual([]);
  });
});
