import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConnection } from '../../src/inputs/connection.js';
import { InputError, InputReader } from '../../src/inputs/reader.js';
import { ACTIONS } from '../../src/inputs/spec.js';
import { fingerprint, hostKeyAdvice, JUMP_KEY_OWNER } from '../../src/ssh/host-key.js';

/** The jump host inputs (issue #16): checked before anything connects, each error naming its input. */

const reader = (raw: Record<string, string>, action = 'deploy-backend'): InputReader =>
  new InputReader(action, (name) => raw[name]);

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError, nothing was thrown');
}

const work = mkdtempSync(join(tmpdir(), 'jump-inputs-test-'));
let nasKey = '';
let jumpKey = '';
let jumpPublic = '';
let jumpFingerprint = '';
beforeAll(() => {
  for (const name of ['nas', 'jump'])
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(work, name)]);
  nasKey = readFileSync(join(work, 'nas'), 'utf8');
  jumpKey = readFileSync(join(work, 'jump'), 'utf8');
  jumpPublic = readFileSync(join(work, 'jump.pub'), 'utf8').trim();
  jumpFingerprint = fingerprint(Buffer.from(jumpPublic.split(' ')[1], 'base64'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const direct = (): Record<string, string> => ({
  host: '192.168.1.10',
  username: 'deploy',
  'private-key': nasKey,
  'host-key': 'SHA256:' + 'A'.repeat(43),
});
const viaJump = (extra: Record<string, string> = {}): Record<string, string> => ({
  ...direct(),
  'jump-host': 'bastion.example.org',
  'jump-username': 'tunnel',
  'jump-private-key': jumpKey,
  'jump-host-key': jumpFingerprint,
  ...extra,
});

describe('jump host inputs', () => {
  it('every action declares them, the keys and password as secrets, port 22 by default', () => {
    for (const [name, spec] of Object.entries(ACTIONS)) {
      for (const input of [
        'jump-host',
        'jump-port',
        'jump-username',
        'jump-private-key',
        'jump-password',
        'jump-host-key',
      ])
        expect(spec.inputs[input], `${name} ${input}`).toBeDefined();
      expect(spec.inputs['jump-port'].default).toBe('22');
      expect(spec.inputs['jump-private-key'].secret).toBe(true);
      expect(spec.inputs['jump-password'].secret).toBe(true);
    }
  });

  it('no jump-host: a direct connection, and every jump input is read (none left undeclared or unread)', () => {
    for (const action of Object.keys(ACTIONS)) {
      const r = reader(direct(), action);
      expect(readConnection(r).jump).toBeUndefined();
      expect(r.unread().filter((n) => n.startsWith('jump-'))).toEqual([]);
    }
  });

  it('reads a jump host with its key, its pinned host key and the default port', () => {
    const c = readConnection(reader(viaJump()));
    expect(c.jump).toEqual({
      host: 'bastion.example.org',
      port: 22,
      username: 'tunnel',
      privateKey: jumpKey.trim(),
      hostKeys: [{ kind: 'fingerprint', sha256: jumpFingerprint }],
    });
    // The NAS connection itself is unchanged.
    expect(c).toMatchObject({ host: '192.168.1.10', port: 22, username: 'deploy', privateKey: nasKey.trim() });
    expect(c.secrets).toEqual([nasKey.trim(), jumpKey.trim()]);
  });

  it('reads a password instead of a key, a port, and a host key line as ssh-keyscan prints it', () => {
    const c = readConnection(
      reader(
        viaJump({
          'jump-private-key': '',
          'jump-password': ' s3cret pass ',
          'jump-port': '2230',
          'jump-host-key': `# the bastion\n[bastion.example.org]:2230 ${jumpPublic}`,
        }),
      ),
    );
    expect(c.jump).toEqual({
      host: 'bastion.example.org',
      port: 2230,
      username: 'tunnel',
      password: ' s3cret pass ',
      hostKeys: [{ kind: 'key', type: 'ssh-ed25519', sha256: jumpFingerprint }],
    });
    expect(c.secrets).toContain(' s3cret pass ');
  });

  it('refuses bad jump inputs, naming the input', () => {
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{ 'jump-host': '-oProxyCommand=x' }, 'jump-host', /must be a host name or an IP address/],
      [{ 'jump-host': 'bastion example' }, 'jump-host', /must be a host name/],
      [{ 'jump-port': '0' }, 'jump-port', /from 1 to 65535/],
      [{ 'jump-port': 'ssh' }, 'jump-port', /from 1 to 65535, not "ssh"/],
      [{ 'jump-username': '' }, 'jump-username', /is required with jump-host/],
      [{ 'jump-username': '-l root' }, 'jump-username', /must be a user name/],
      [{ 'jump-private-key': 'not a key' }, 'jump-private-key', /is not a private key/],
      [{ 'jump-private-key': '', 'jump-password': '' }, 'jump-private-key', /or jump-password is required/],
      [
        { 'jump-host-key': `${jumpFingerprint}\nnonsense` },
        'jump-host-key',
        /^Input 'jump-host-key': jump-host-key line 2/,
      ],
      [{ 'jump-host-key': 'ssh-ed25519 AAAA' }, 'jump-host-key', /jump-host-key line 1: the key is not valid base64/],
    ];
    for (const [extra, input, message] of cases) {
      const err = inputError(() => readConnection(reader(viaJump(extra))));
      expect(err.input, JSON.stringify(extra)).toBe(input);
      expect(err.message).toMatch(message);
      // No secret in the message.
      expect(err.message).not.toContain(jumpKey.trim().split('\n')[1]);
    }
  });

  it('refuses jump inputs without jump-host, naming the input (a workflow that believes it goes through a bastion)', () => {
    for (const input of ['jump-username', 'jump-private-key', 'jump-password', 'jump-host-key', 'jump-port']) {
      const value = input === 'jump-port' ? '2230' : input === 'jump-private-key' ? jumpKey : 'x-value';
      const err = inputError(() => readConnection(reader({ ...direct(), [input]: value })));
      expect(err.input).toBe(input);
      expect(err.message).toMatch(/is set but jump-host is not/);
    }
    // The default port, given explicitly, is no mistake.
    expect(readConnection(reader({ ...direct(), 'jump-port': '22' })).jump).toBeUndefined();
  });

  it('accepts a jump-host without jump-host-key here: the connection refuses it, showing the fingerprint the jump host presents', () => {
    const c = readConnection(reader(viaJump({ 'jump-host-key': '' })));
    expect(c.jump?.hostKeys).toEqual([]);
    // insecure-skip-host-key-check is the NAS's only: it leaves the jump host pinned.
    const skipping = readConnection(reader(viaJump({ 'jump-host-key': '', 'insecure-skip-host-key-check': 'true' })));
    expect(skipping.skipHostKeyCheck).toBe(true);
    expect(skipping.jump?.hostKeys).toEqual([]);
  });

  it('the advice for the jump host names the jump host and its input', () => {
    const advice = hostKeyAdvice('bastion.example.org', 2230, jumpFingerprint, 'ssh-ed25519', JUMP_KEY_OWNER);
    expect(advice).toContain(`The jump host presented the host key ${jumpFingerprint}.`);
    expect(advice).toContain('ssh-keyscan -p 2230 bastion.example.org');
    expect(advice).toContain('set the input jump-host-key to that fingerprint');
    expect(advice).not.toMatch(/\bNAS\b/);
  });
});
