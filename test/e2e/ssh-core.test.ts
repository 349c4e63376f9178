import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sh } from '../../src/remote/shell.js';
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

  it('streams 50 MB of remote output without the process memory growing with it', () => {
    const run = (mb: number) =>
      JSON.parse(
        execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, 'support/print-remote.ts'), String(mb)], {
          cwd: ROOT,
          encoding: 'utf8',
        }),
      ) as { lines: number; tail: number; peakKb: number };
    const small = run(1);
    const large = run(50);
    expect(large.lines).toBeGreaterThan(50 * small.lines * 0.9);
    expect(large.tail).toBeLessThanOrEqual(40);
    expect(large.peakKb - small.peakKb).toBeLessThan(30 * 1024);
  });

  it('ends a command at its timeout and says which command', async () => {
    const session = await Session.connect({ ...base(), hostKeys: parseHostKeys(hostFingerprint()) });
    try {
      const exec = new Executor(session, '/usr/bin:/bin', () => undefined);
      const started = Date.now();
      const err = await exec
        .run({ title: 'Sleeping on the NAS', script: sh`echo started; sleep 60`, timeout: 2 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteError);
      expect((err as RemoteError).message).toMatch(/^Sleeping on the NAS: timed out/);
      expect((err as RemoteError).message).toContain('started');
      expect(Date.now() - started).toBeLessThan(10_000);
      // the session stays usable after a timed-out command
      const ok = await exec.run({ title: 'echo', script: sh`nr_value answer 42`, timeout: 10 });
      expect(ok.values.get('answer')).toBe('42');
    } finally {
      session.close();
    }
  });

  it('a failing command reports its exit code and last lines', async () => {
    const session = await Session.connect({ ...base(), hostKeys: parseHostKeys(hostFingerprint()) });
    try {
      const exec = new Executor(session, '/usr/bin:/bin', () => undefined);
      const err = (await exec
        .run({ title: 'Failing step', script: sh`echo one; echo two >&2; exit 7`, timeout: 10 })
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
