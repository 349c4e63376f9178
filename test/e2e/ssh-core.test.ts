import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { programText } from '../../src/remote/program.js';
import { sh, type Shell } from '../../src/remote/shell.js';
import { Executor, RemoteError } from '../../src/ssh/exec.js';
import { parseHostKeys } from '../../src/ssh/host-key.js';
import { Session } from '../../src/ssh/session.js';
import { ROOT, STATE, connection, hostFingerprint, privateKey, runAction } from './harness.js';

const base = () => ({
  host: '127.0.0.1',
  port: 2222,
  username: 'nas',
  privateKey: privateKey(),
  skipHostKeyCheck: false,
  connectTimeout: 20,
});
const hostKeyLine = () => readFileSync(join(STATE, 'ssh_host_ed25519_key.pub'), 'utf8').trim();
/** A program as the executor takes it. */
const job = (exec: Executor, title: string, script: Shell, timeout: number) => ({
  title,
  text: programText({ path: '/usr/bin:/bin', marker: exec.marker, script }),
  timeout,
});
// A read-only action run that connects and describes the NAS: cleanup in dry-run changes nothing.
const probe = (extra: Record<string, string>) =>
  runAction('cleanup-backend', connection({ 'dry-run': 'true', ...extra }));

describe('the SSH core against the real sshd', () => {
  it('connects with the pinned fingerprint, or with the key line as ssh-keyscan prints it', async () => {
    const byFingerprint = await probe({});
    expect(byFingerprint.code, byFingerprint.stdout).toBe(0);
    expect(byFingerprint.stdout).toContain(`host key ${hostFingerprint()}`);
    const byKeyLine = await probe({ 'host-key': `[127.0.0.1]:2222 ${hostKeyLine()}` });
    expect(byKeyLine.code, byKeyLine.stdout).toBe(0);
  });

  it('refuses a wrong host key before any command, printing the presented fingerprint', async () => {
    const wrong = await probe({ 'host-key': 'SHA256:' + 'A'.repeat(43) });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain('HOST KEY MISMATCH');
    expect(wrong.stdout).toContain(hostFingerprint());
    expect(wrong.stdout).not.toContain('[2/3]'); // never got past connecting
  });

  it('refuses to run anything without a host-key, saying how to verify the one presented', async () => {
    const run = await probe({ 'host-key': '' });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('No host-key is set');
    expect(run.stdout).toContain(hostFingerprint());
    expect(run.stdout).toContain('ssh-keyscan -p 2222 127.0.0.1 | ssh-keygen -lf -');
    const skipped = await probe({ 'host-key': '', 'insecure-skip-host-key-check': 'true' });
    expect(skipped.code, skipped.stdout).toBe(0);
    expect(skipped.stdout).toMatch(/::warning::insecure-skip-host-key-check is true/);
  });

  // Memory while output streams is a benchmark row (npm run bench: peak RSS with 50 MB and 500 MB of build log), not a test.
  it('streams 50 MB of remote output whole, keeping only its last lines for the report', () => {
    const run = (mb: number) =>
      JSON.parse(
        execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, 'support/print-remote.ts'), String(mb)], {
          cwd: ROOT,
          encoding: 'utf8',
        }),
      ) as { lines: number; tail: number };
    const small = run(1);
    const large = run(50);
    expect(large.lines).toBeGreaterThan(50 * small.lines * 0.9);
    expect(large.tail).toBeLessThanOrEqual(40);
  });

  it('ends a command at its timeout and says which command', async () => {
    const session = await Session.connect({ ...base(), hostKeys: parseHostKeys(hostFingerprint()) });
    try {
      const exec = new Executor(session, () => undefined);
      const started = Date.now();
      const err = await exec
        .run(job(exec, 'Sleeping on the NAS', sh`echo started; sleep 60`, 2))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteError);
      expect((err as RemoteError).message).toMatch(/^Sleeping on the NAS: timed out/);
      expect((err as RemoteError).message).toContain('started');
      expect(Date.now() - started).toBeLessThan(10_000);
      // the session stays usable after a timed-out command
      const ok = await exec.run(job(exec, 'echo', sh`nr_value answer 42`, 10));
      expect(ok.values.get('answer')).toBe('42');
    } finally {
      session.close();
    }
  });

  it('a failing command reports its exit code and last lines', async () => {
    const session = await Session.connect({ ...base(), hostKeys: parseHostKeys(hostFingerprint()) });
    try {
      const exec = new Executor(session, () => undefined);
      const err = (await exec
        .run(job(exec, 'Failing step', sh`echo one; echo two >&2; exit 7`, 10))
        .catch((e: unknown) => e)) as RemoteError;
      expect(err.code).toBe(7);
      expect(err.message).toMatch(/Failing step: the command failed with exit code 7/);
      expect(err.tail).toEqual(['one', 'two']);
    } finally {
      session.close();
    }
  });

  it('gives up on a closed port after bounded retries, within the connect timeout', async () => {
    const retries: number[] = [];
    const started = Date.now();
    const err = (await Session.connect({
      ...base(),
      port: 2299,
      hostKeys: [],
      connectTimeout: 5,
      onRetry: (n) => retries.push(n),
    }).catch((e: unknown) => e)) as Error;
    const elapsed = Date.now() - started;
    expect(err.message).toMatch(
      /Could not connect to 127\.0\.0\.1:2299 after \d attempt\(s\) within 5s: .*ECONNREFUSED/,
    );
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(elapsed).toBeLessThan(5_500);
  });

  it('never retries a refused key', async () => {
    const other = execFileSync(
      'sh',
      ['-c', 'd=$(mktemp -d) && ssh-keygen -q -t ed25519 -N "" -f "$d/k" && cat "$d/k" && rm -rf "$d"'],
      { encoding: 'utf8' },
    );
    const retries: number[] = [];
    const err = (await Session.connect({
      ...base(),
      privateKey: other,
      hostKeys: parseHostKeys(hostFingerprint()),
      onRetry: (n) => retries.push(n),
    }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/SSH authentication as nas failed/);
    expect(retries).toEqual([]);
  });
});

/** A free loopback port, found by letting the kernel pick one. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port. */
async function listening(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > until) throw new Error(`sshd did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A second sshd of the stand-in NAS (same user, same checkout) whose host keys
 * are an RSA and an ed25519 key, as most NAS have: ssh2 prefers ed25519.
 */
describe('a NAS with an RSA and an ed25519 host key', () => {
  let dir = '';
  let sshd: ChildProcess | undefined;
  let port = 0;
  const key = (type: 'rsa' | 'ed25519') => {
    const line = readFileSync(join(dir, `ssh_host_${type}_key.pub`), 'utf8').trim();
    const printed = execFileSync('ssh-keygen', ['-lf', join(dir, `ssh_host_${type}_key.pub`)], { encoding: 'utf8' });
    return { line, sha256: /(SHA256:\S+)/.exec(printed)![1] };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nr-sshd-rsa-'));
    for (const type of ['rsa', 'ed25519'])
      execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(dir, `ssh_host_${type}_key`)]);
    port = await freePort();
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(dir, 'ssh_host_rsa_key')}`,
        `HostKey ${join(dir, 'ssh_host_ed25519_key')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        'PermitRootLogin no',
        'MaxSessions 64',
        '',
      ].join('\n'),
    );
    // -D: stays a child of the test, ended in afterAll by its own pid.
    sshd = spawn('/usr/sbin/sshd', ['-D', '-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')], {
      stdio: 'ignore',
    });
    await listening(port, 10_000);
  });

  afterAll(() => {
    sshd?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('defect 12.6: pinning its RSA key line as ssh-keyscan prints it connects, with the RSA key', async () => {
    const rsa = key('rsa');
    const run = await probe({ port: String(port), 'host-key': `[127.0.0.1]:${port} ${rsa.line}` });
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).not.toContain('HOST KEY MISMATCH');
    expect(run.stdout).toContain(`host key ${rsa.sha256}`);
    // The preferred key still works when it is the one pinned.
    const ed = key('ed25519');
    const byEd = await probe({ port: String(port), 'host-key': ed.line });
    expect(byEd.code, byEd.stdout).toBe(0);
    expect(byEd.stdout).toContain(`host key ${ed.sha256}`);
  });

  it('defect 12.6: a pinned RSA fingerprint (no type) that meets the ed25519 key says which key type was presented', async () => {
    const rsa = key('rsa');
    const ed = key('ed25519');
    const run = await probe({ port: String(port), 'host-key': rsa.sha256 });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`HOST KEY MISMATCH: the NAS presented its ssh-ed25519 key ${ed.sha256}`);
    expect(run.stdout).toContain("pin that key's line as ssh-keyscan prints it");
  });
});
