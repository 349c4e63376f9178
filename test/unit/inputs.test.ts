import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeployBackend } from '../../src/inputs/backend.js';
import { readConnection } from '../../src/inputs/connection.js';
import { InputError, InputReader, PATTERNS, runnerInputs } from '../../src/inputs/reader.js';
import { ACTIONS } from '../../src/inputs/spec.js';
import { envValues } from '../../src/programs/env-file.js';
import { fingerprint } from '../../src/ssh/host-key.js';

const ACTION = 'deploy-backend';
const reader = (raw: Record<string, string>, action = ACTION): InputReader =>
  new InputReader(action, (name) => raw[name]);

/** Runs `fn` and returns the InputError it throws. */
function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError, nothing was thrown');
}

const work = mkdtempSync(join(tmpdir(), 'inputs-test-'));
let privateKey = '';
let publicKey = '';
let publicFingerprint = '';
beforeAll(() => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ci', '-f', join(work, 'id')]);
  privateKey = readFileSync(join(work, 'id'), 'utf8');
  publicKey = readFileSync(join(work, 'id.pub'), 'utf8').trim();
  publicFingerprint = fingerprint(Buffer.from(publicKey.split(' ')[1], 'base64'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('InputReader', () => {
  it('applies the declared defaults to missing and blank inputs', () => {
    const r = reader({ image: '   ', service: '' });
    expect(r.string('image')).toBe('scanium-backend');
    expect(r.string('service')).toBe('api');
    expect(r.string('compose-file')).toBe('backend/docker-compose.yml');
    expect(r.int('port', 1, 65535)).toBe(22);
    expect(r.bool('auto-rollback')).toBe(true);
    expect(r.bool('dry-run')).toBe(false);
    expect(r.string('health-url')).toBe('');
  });

  it('trims values', () => {
    expect(reader({ service: '  web \t' }).string('service')).toBe('web');
    expect(reader({ port: ' 2222\n' }).int('port', 1, 65535)).toBe(2222);
  });

  it('requires host, naming it', () => {
    const err = inputError(() => reader({}).string('host'));
    expect(err.input).toBe('host');
    expect(err.message).toMatch(/^Input 'host': is required/);
    expect(inputError(() => reader({ host: '  ' }).string('host')).input).toBe('host');
  });

  it('reads a port from 1 to 65535 and refuses anything else, naming port', () => {
    expect(reader({ port: '1' }).int('port', 1, 65535)).toBe(1);
    expect(reader({ port: '65535' }).int('port', 1, 65535)).toBe(65535);
    for (const bad of ['abc', '0', '70000', '65536', '-1', '22.5', '0x16', '1e3', '22 23']) {
      const err = inputError(() => reader({ port: bad }).int('port', 1, 65535));
      expect(err.input).toBe('port');
      expect(err.message).toContain(`Input 'port'`);
      expect(err.message).toContain(JSON.stringify(bad));
    }
  });

  it('reads booleans as true/True/TRUE and false/False/FALSE only', () => {
    for (const yes of ['true', 'True', 'TRUE']) expect(reader({ sudo: yes }).bool('sudo')).toBe(true);
    for (const no of ['false', 'False', 'FALSE']) expect(reader({ sudo: no }).bool('sudo')).toBe(false);
    for (const bad of ['yes', 'no', '1', '0', 'on', 'tRUE', 'true false']) {
      const err = inputError(() => reader({ sudo: bad }).bool('sudo'));
      expect(err.input).toBe('sudo');
      expect(err.message).toMatch(/must be true or false/);
    }
  });

  it('reads compose-command as one of its choices', () => {
    for (const ok of ['auto', 'docker compose', 'docker-compose']) {
      expect(
        reader({ 'compose-command': ok }).oneOf('compose-command', ['auto', 'docker compose', 'docker-compose']),
      ).toBe(ok);
    }
    expect(reader({}).oneOf('compose-command', ['auto', 'docker compose', 'docker-compose'])).toBe('auto');
    const err = inputError(() =>
      reader({ 'compose-command': 'podman-compose' }).oneOf('compose-command', [
        'auto',
        'docker compose',
        'docker-compose',
      ]),
    );
    expect(err.input).toBe('compose-command');
    expect(err.message).toContain('"docker-compose"');
  });

  it('refuses a newline, a NUL byte or a control character in a single-line input', () => {
    for (const [bad, why] of [
      ['api\nrm -rf /', /single line/],
      ['api\rx', /single line/],
      ['api\0x', /NUL/],
      ['api\x1b[31m', /control character/],
      ['api\x7f', /control character/],
    ] as const) {
      const err = inputError(() => reader({ service: bad }).string('service'));
      expect(err.input).toBe('service');
      expect(err.message).toMatch(why);
    }
  });

  it('accepts several lines where an input allows them, but never a NUL byte', () => {
    expect(reader({ 'pre-deploy': 'echo a\necho b' }).string('pre-deploy', { multiline: true })).toBe('echo a\necho b');
    expect(inputError(() => reader({ 'pre-deploy': 'a\0b' }).string('pre-deploy', { multiline: true })).input).toBe(
      'pre-deploy',
    );
  });

  it('keeps leading and trailing space when asked not to trim', () => {
    expect(reader({ password: ' pass word ' }).string('password', { trim: false })).toBe(' pass word ');
  });

  it('reads a path inside the checkout and refuses absolute paths and ..', () => {
    expect(reader({ 'compose-file': 'deploy/compose prod.yml' }).relativePath('compose-file')).toBe(
      'deploy/compose prod.yml',
    );
    expect(reader({ 'compose-file': 'a/..b/c..' }).relativePath('compose-file')).toBe('a/..b/c..');
    expect(reader({}).relativePath('compose-file')).toBe('backend/docker-compose.yml');
    expect(reader({}).relativePath('dockerfile')).toBe('');
    for (const bad of ['/etc', '/etc/passwd', '../x', 'a/../../x', 'a/..', '..']) {
      const err = inputError(() => reader({ 'compose-file': bad }).relativePath('compose-file'));
      expect(err.input).toBe('compose-file');
      expect(err.message).toMatch(/inside repo-path/);
    }
  });

  it('defect 12.12: refuses a build-context (or any checkout path) starting with -, naming the input', () => {
    for (const bad of ['-', '--output=type=local,dest=/anywhere', '-f', '--', '-./x']) {
      const err = inputError(() => readDeployBackend(reader({ ...connectionInputs(), 'build-context': bad })));
      expect(err.input).toBe('build-context');
      expect(err.message).toMatch(/^Input 'build-context': must not start with -/);
    }
    for (const name of ['compose-file', 'dockerfile']) {
      expect(inputError(() => reader({ [name]: '--help' }).relativePath(name)).input).toBe(name);
    }
    expect(readDeployBackend(reader({ ...connectionInputs(), 'build-context': './-ctx' })).buildContext).toBe('./-ctx');
    expect(readDeployBackend(reader({ ...connectionInputs(), 'build-context': 'a/-b' })).buildContext).toBe('a/-b');
    expect(readDeployBackend(reader(connectionInputs())).buildContext).toBe('backend');
  });

  it('reads an http(s) URL, without its trailing slash', () => {
    expect(reader({ 'health-url': 'http://127.0.0.1:8080/health' }).url('health-url')).toBe(
      'http://127.0.0.1:8080/health',
    );
    expect(reader({ 'health-url': 'https://nas.local/api/' }).url('health-url')).toBe('https://nas.local/api');
    expect(reader({}).url('health-url')).toBe('');
    for (const bad of [
      'nas.local/health',
      'ftp://nas/x',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'http://nas/a b',
      'http://',
      '$(id)',
    ]) {
      const err = inputError(() => reader({ 'health-url': bad }).url('health-url'));
      expect(err.input).toBe('health-url');
      expect(err.message).toMatch(/http:\/\/ or https:\/\/ URL/);
    }
  });

  it('checks a value against a pattern, naming the input and what it should be', () => {
    expect(reader({ image: 'registry.local/team/api' }).matching('image', PATTERNS.image, 'an image name')).toBe(
      'registry.local/team/api',
    );
    const err = inputError(() => reader({ image: 'Bad Image' }).matching('image', PATTERNS.image, 'an image name'));
    expect(err.input).toBe('image');
    expect(err.message).toBe(`Input 'image': must be an image name, not "Bad Image"`);
  });

  it('splits a list on commas and newlines and checks every item', () => {
    const r = new InputReader('verify-monitoring', (name) => ({ containers: ' a, b\n\nc ,' })[name]);
    expect(r.list('containers', PATTERNS.name, 'a container name')).toEqual(['a', 'b', 'c']);
    const bad = new InputReader('verify-monitoring', (name) => ({ containers: 'a,b;c' })[name]);
    expect(inputError(() => bad.list('containers', PATTERNS.name, 'a container name')).message).toContain('"b;c"');
  });

  it('reads non-empty lines and refuses control characters in them', () => {
    const r = new InputReader('verify-monitoring', (name) => ({ 'required-metrics': 'up{a="b"}\r\n\n  x  \n' })[name]);
    expect(r.lines('required-metrics')).toEqual(['up{a="b"}', 'x']);
    const bad = new InputReader('verify-monitoring', (name) => ({ 'required-metrics': 'up\x1b' })[name]);
    expect(inputError(() => bad.lines('required-metrics')).input).toBe('required-metrics');
  });

  it('throws on reading an input the action does not declare, and on an unknown action', () => {
    expect(() => reader({ 'grafana-url': 'http://x' }).string('grafana-url')).toThrow(
      /deploy-backend reads input 'grafana-url', which its action.yml does not declare/,
    );
    expect(() => reader({}).bool('force')).toThrow(/does not declare/);
    expect(() => new InputReader('deploy-everything', () => undefined)).toThrow(/unknown action/);
  });

  it('lists the declared inputs never read', () => {
    const r = reader({});
    r.string('image');
    const unread = r.unread();
    expect(unread).not.toContain('image');
    expect(unread).toContain('host');
    expect(unread.length).toBe(Object.keys(ACTIONS[ACTION].inputs).length - 1);
  });

  it('reads runner inputs from INPUT_ variables as the runner sets them', () => {
    process.env['INPUT_COMPOSE-COMMAND'] = 'docker-compose';
    process.env.INPUT_DRY_RUN_TEST = 'x';
    try {
      expect(runnerInputs('compose-command')).toBe('docker-compose');
      expect(runnerInputs('dry run test')).toBe('x');
    } finally {
      delete process.env['INPUT_COMPOSE-COMMAND'];
      delete process.env.INPUT_DRY_RUN_TEST;
    }
  });
});

/** A connection readConnection accepts (the keys exist once beforeAll has run). */
const connectionInputs = (): Record<string, string> => ({
  host: 'nas.local',
  username: 'deploy',
  'private-key': privateKey,
  'host-key': publicFingerprint,
});

describe('readConnection', () => {
  const base = connectionInputs;

  it('reads a complete connection with its defaults', () => {
    const c = readConnection(reader(base()));
    expect(c).toMatchObject({
      host: 'nas.local',
      port: 22,
      username: 'deploy',
      privateKey: privateKey.trim(),
      hostKeys: [{ kind: 'fingerprint', sha256: publicFingerprint }],
      skipHostKeyCheck: false,
      connectTimeout: 30,
      repoPath: '/volume1/docker/scanium/repo',
      composeCommand: 'auto',
      lockTimeout: 600,
      dryRun: false,
      remotePath: '/usr/local/bin:/usr/local/sbin:/usr/bin:/bin:/usr/sbin:/sbin',
      sudo: false,
    });
    expect(c.password).toBeUndefined();
    expect(c.secrets).toEqual([privateKey.trim()]);
  });

  it('accepts host names and IP addresses, and refuses anything an ssh client could take for an option', () => {
    for (const host of ['nas', 'nas.local', '192.168.1.10', 'fe80::1', '[fe80::1]', 'my-nas_1.lan']) {
      expect(readConnection(reader({ ...base(), host })).host).toBe(host);
    }
    for (const host of ['-oProxyCommand=id', 'nas;id', 'nas local', 'nas$(id)', 'user@nas', '.nas']) {
      expect(inputError(() => readConnection(reader({ ...base(), host }))).input).toBe('host');
    }
  });

  it('refuses a user name that is not one', () => {
    for (const username of ['-l', 'a b', 'x;id', '']) {
      expect(inputError(() => readConnection(reader({ ...base(), username }))).input).toBe('username');
    }
  });

  it('requires the private key to look like one', () => {
    const err = inputError(() => readConnection(reader({ ...base(), 'private-key': publicKey })));
    expect(err.input).toBe('private-key');
    expect(err.message).toMatch(/not a private key/);
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----';
    expect(readConnection(reader({ ...base(), 'private-key': `\n${pem}\n\n` })).privateKey).toBe(pem);
  });

  it('requires a private key or a password', () => {
    const { 'private-key': _unused, ...noKey } = base();
    const err = inputError(() => readConnection(reader(noKey)));
    expect(err.input).toBe('private-key');
    expect(err.message).toMatch(/or password is required/);
    const c = readConnection(reader({ ...noKey, password: ' s3cret ' }));
    expect(c.password).toBe(' s3cret ');
    expect(c.privateKey).toBeUndefined();
    expect(c.secrets).toEqual([' s3cret ']);
  });

  it('uses the key over a password, and masks every secret given', () => {
    const c = readConnection(reader({ ...base(), passphrase: 'pp', password: 'pw' }));
    expect(c.password).toBeUndefined();
    expect(c.passphrase).toBe('pp');
    expect(c.secrets).toEqual([privateKey.trim(), 'pp', 'pw']);
  });

  it('reads pinned host keys, and names host-key when they do not parse', () => {
    const c = readConnection(reader({ ...base(), 'host-key': `# pinned\nnas.local ${publicKey}\n` }));
    expect(c.hostKeys).toEqual([{ kind: 'key', type: 'ssh-ed25519', sha256: publicFingerprint }]);
    const err = inputError(() => readConnection(reader({ ...base(), 'host-key': `${publicFingerprint}\nnot a key` })));
    expect(err.input).toBe('host-key');
    expect(err.message).toMatch(/^Input 'host-key': host-key line 2/);
  });

  it('allows no pinned key only as an explicit choice to skip the check', () => {
    const c = readConnection(reader({ ...base(), 'host-key': '', 'insecure-skip-host-key-check': 'true' }));
    expect(c.hostKeys).toEqual([]);
    expect(c.skipHostKeyCheck).toBe(true);
  });

  it('requires an absolute repo-path; spaces are fine and a trailing slash goes', () => {
    expect(readConnection(reader({ ...base(), 'repo-path': '/volume1/my apps/repo/' })).repoPath).toBe(
      '/volume1/my apps/repo',
    );
    expect(readConnection(reader({ ...base(), 'repo-path': '/' })).repoPath).toBe('/');
    for (const bad of ['volume1/repo', '~/repo', './repo']) {
      const err = inputError(() => readConnection(reader({ ...base(), 'repo-path': bad })));
      expect(err.input).toBe('repo-path');
      expect(err.message).toMatch(/absolute path/);
    }
  });

  it('requires remote-path to be absolute directories separated by colons', () => {
    expect(readConnection(reader({ ...base(), 'remote-path': '/opt/bin:/usr/local/bin' })).remotePath).toBe(
      '/opt/bin:/usr/local/bin',
    );
    expect(readConnection(reader({ ...base(), 'remote-path': '/opt/my tools/bin' })).remotePath).toBe(
      '/opt/my tools/bin',
    );
    for (const bad of ['opt/bin', '/opt/bin:', '/a::/b', ':/a', '/a:bin']) {
      expect(inputError(() => readConnection(reader({ ...base(), 'remote-path': bad }))).input).toBe('remote-path');
    }
  });

  it('reads the numbers and switches, naming the input that is wrong', () => {
    const c = readConnection(
      reader({
        ...base(),
        port: '2222',
        'connect-timeout': '5',
        'lock-timeout': '0',
        'dry-run': 'TRUE',
        sudo: 'True',
        'compose-command': 'docker-compose',
      }),
    );
    expect(c).toMatchObject({
      port: 2222,
      connectTimeout: 5,
      lockTimeout: 0,
      dryRun: true,
      sudo: true,
      composeCommand: 'docker-compose',
    });
    expect(inputError(() => readConnection(reader({ ...base(), port: '0' }))).input).toBe('port');
    expect(inputError(() => readConnection(reader({ ...base(), 'connect-timeout': '0' }))).input).toBe(
      'connect-timeout',
    );
    expect(inputError(() => readConnection(reader({ ...base(), 'lock-timeout': '86401' }))).input).toBe('lock-timeout');
    expect(inputError(() => readConnection(reader({ ...base(), 'dry-run': 'yes' }))).input).toBe('dry-run');
    expect(inputError(() => readConnection(reader({ ...base(), 'compose-command': 'podman' }))).input).toBe(
      'compose-command',
    );
  });

  it('reads every input all actions share', () => {
    const shared = Object.keys(ACTIONS[ACTION].inputs).filter((n) =>
      Object.values(ACTIONS).every((a) => n in a.inputs),
    );
    expect(shared).toContain('host-key');
    for (const action of Object.keys(ACTIONS)) {
      const r = reader(base(), action);
      readConnection(r);
      expect(r.unread().filter((n) => shared.includes(n))).toEqual([]);
    }
  });
});

describe('data safety 11: the values of env-file-content are masked one by one', () => {
  it('each value of 8 characters or more, without export and quotes; short values and comments are not', () => {
    const content = [
      'DATABASE_URL=postgres://shop:Sup3r-s3cret-pw@db:5432/shop',
      'export API_TOKEN="tok_0123456789abcdef"',
      "  SESSION_KEY = 'k3y-with spaces'  ",
      'DEBUG=1',
      'FEATURE=true',
      'PORT=5432',
      '# COMMENTED=not-a-value-at-all',
      'not a line of the format',
    ].join('\r\n');
    expect(envValues(content)).toEqual([
      'postgres://shop:Sup3r-s3cret-pw@db:5432/shop',
      'tok_0123456789abcdef',
      'k3y-with spaces',
    ]);
    expect(ACTIONS['deploy-backend'].inputs['env-file-content']).toMatchObject({ secret: true, envValues: true });
  });
});
