import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  HEALTH_URL,
  ROOT,
  STATE,
  assertNoSecrets,
  containerImage,
  hostFingerprint,
  originHead,
  privateKey,
  resetNas,
  runnerWorkspace,
  sh,
  tagOf,
} from './harness.js';
import { rmSync } from 'node:fs';

const run = promisify(execFile);
const CLI = join(ROOT, 'dist/cli/index.js');

async function cli(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      maxBuffer: 64 * 1024 * 1024,
      // a terminal has no workflow's workspace: the CLI ships the folder it runs in
      ...(cwd ? { cwd, env: { ...process.env, GITHUB_WORKSPACE: '', GITHUB_SHA: '' } } : {}),
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('nas-release from a terminal (the README quick start)', () => {
  beforeEach(() => resetNas());

  it('lists the inputs with their defaults from action.yml', async () => {
    const help = await cli(['deploy-backend', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--health-timeout <value> +\(default: 120\)/);
    expect(help.stdout).toContain('--private-key-file <path>');
    expect(help.stdout).toContain('DEPLOYED_BACKEND_TAG');
    const bad = await cli(['deploy-backend', '--no-such-input', 'x']);
    expect(bad.code).toBe(2);
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

  it('project-source: runner ships the current folder from a terminal: no git needed on the NAS', async () => {
    const sha = originHead();
    const root = '/volume1/docker/scanium/cli-shipped';
    sh(`rm -rf ${root} && install -d -o nas -g nas ${root}`);
    const ws = runnerWorkspace(sha);
    const deployed = await cli(
      [
        'deploy-backend',
        '--host',
        '127.0.0.1',
        '--port',
        '2225',
        '--remote-path',
        '/nonexistent',
        '--username',
        'nas',
        '--private-key-file',
        join(STATE, 'client_ed25519'),
        '--host-key',
        hostFingerprint(),
        '--project-source',
        'runner',
        '--repo-path',
        root,
        '--health-url',
        HEALTH_URL,
      ],
      ws,
    );
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${tagOf(sha)}`);
    expect(sh(`readlink ${root}/current`).trim()).toBe(`releases/${tagOf(sha)}`);
    rmSync(ws, { recursive: true, force: true });
    sh(`rm -rf ${root}`);
  });
});
