import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError, parseFlags, validFlags } from '../../src/inputs/cli-flags.js';
import { actionHelp, commandHelp, mainHelp } from '../../src/inputs/cli-help.js';
import { ACTIONS, COMMANDS } from '../../src/inputs/spec.js';

const dir = mkdtempSync(join(tmpdir(), 'nr-cli-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
const deploy = ACTIONS['deploy-backend'].inputs;
const parse = (argv: string[], action = 'deploy-backend') => parseFlags(action, ACTIONS[action].inputs, argv);
const usage = (argv: string[], action = 'deploy-backend'): string => {
  try {
    parse(argv, action);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
};

describe('nas-release flags', () => {
  it('read every secret input of every action and command from a file, and refuse it on the command line', () => {
    const secret = file('secret', 'hunter2-secret\n');
    let checked = 0;
    for (const [name, spec] of [...Object.entries(ACTIONS), ...Object.entries(COMMANDS)]) {
      for (const [input, s] of Object.entries(spec.inputs)) {
        if (!s.secret) continue;
        checked++;
        expect(
          parseFlags(name, spec.inputs, [`--${input}-file`, secret]).get(input),
          `${name} --${input}-file`,
        ).toMatch(/^hunter2-secret\n?$/);
        expect(() => parseFlags(name, spec.inputs, [`--${input}`, 'hunter2-secret']), `${name} --${input}`).toThrow(
          `--${input} is a secret: on a command line, ps and the shell history show it. Give it from a file: --${input}-file PATH`,
        );
        expect(() => parseFlags(name, spec.inputs, [`--${input}=hunter2-secret`])).toThrow(UsageError);
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('take the secrets the hand-written list missed from files: registry, environment file, token, jump host, notify', () => {
    const flags = validFlags(deploy);
    for (const input of [
      'registry-password',
      'env-file-content',
      'github-token',
      'jump-private-key',
      'jump-password',
      'notify',
      'private-key',
      'passphrase',
      'password',
    ])
      expect(flags).toContain(`--${input}-file`);
    expect(validFlags(ACTIONS['verify-monitoring'].inputs)).toContain('--grafana-credentials-file');
    const env = file('env', 'DATABASE_URL=postgres://u:p@db/app\nMODE=prod\n');
    expect(parse(['--env-file-content-file', env]).get('env-file-content')).toBe(
      'DATABASE_URL=postgres://u:p@db/app\nMODE=prod',
    );
    expect(parse([`--registry-password-file=${file('token', 'ghp_x\r\n')}`]).get('registry-password')).toBe('ghp_x');
  });

  it('keep a private key as written and take the host keys either way', () => {
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n';
    const values = parse([
      '--private-key-file',
      file('key', key),
      '--host-key-file',
      file('fp', 'SHA256:abc\n'),
      '--jump-host-key',
      'SHA256:def',
    ]);
    expect(values.get('private-key')).toBe(key);
    expect(values.get('host-key')).toBe('SHA256:abc');
    expect(values.get('jump-host-key')).toBe('SHA256:def');
    expect(usage(['--private-key-file', join(dir, 'missing')])).toBe(
      `--private-key-file: cannot read ${join(dir, 'missing')}: ENOENT`,
    );
  });

  it('take values, inline values and booleans as a bare flag, =value or a following true/false', () => {
    const values = parse(
      ['--host', 'nas', '--port=2222', '--dry-run', '--sudo', 'false', '--force=TRUE'],
      'rollback-backend',
    );
    expect(Object.fromEntries(values)).toEqual({
      host: 'nas',
      port: '2222',
      'dry-run': 'true',
      sudo: 'false',
      force: 'TRUE',
    });
    expect(parse(['--pre-deploy=--flag-like', '--ref', '-x']).get('pre-deploy')).toBe('--flag-like');
    expect(parse(['--ref', '-x']).get('ref')).toBe('-x');
    expect(parse(['--dry-run', '--host', 'nas']).get('dry-run')).toBe('true');
  });

  it('refuse what they cannot read with exit-2 errors that name the flag', () => {
    expect(usage(['--host'])).toBe('--host needs a value (or write --host=<value>)');
    expect(usage(['--host', '--port', '22'])).toBe('--host needs a value (or write --host=<value>)');
    expect(usage(['--no-such-input', 'x'])).toMatch(
      /^unknown flag --no-such-input for deploy-backend\. Valid flags: --host, /,
    );
    expect(usage(['--image-file', '/etc/hostname'])).toMatch(/^unknown flag --image-file for deploy-backend/);
    expect(usage(['-x'])).toMatch(/^unknown flag -x /);
    expect(usage(['--host', 'a', '--host=b'])).toBe('--host is given more than once');
    expect(usage(['--host-key', 'a', '--host-key-file', file('h', 'b')])).toBe('--host-key is given more than once');
    expect(usage(['nas'])).toBe('unexpected argument "nas": inputs are given as --<input> <value>');
    expect(usage(['--', '--host', 'x'])).toBe('unexpected argument "--": inputs are given as --<input> <value>');
    expect(usage(['--dry-run', 'maybe'])).toBe('unexpected argument "maybe": inputs are given as --<input> <value>');
  });

  it('serve the day-two commands the connection flags, secrets from files', () => {
    const values = parseFlags('status', COMMANDS.status.inputs, ['--json', '--password-file', file('pw', 'pw\n')]);
    expect(Object.fromEntries(values)).toEqual({ json: 'true', password: 'pw' });
  });
});

describe('nas-release --help', () => {
  it('lists every input of every action from the spec, with defaults, file flags, and every output', () => {
    for (const [name, spec] of Object.entries(ACTIONS)) {
      const help = actionHelp(name, spec);
      for (const [input, s] of Object.entries(spec.inputs)) {
        if (s.secret) {
          expect(help).toContain(`  --${input}-file <path>`);
          expect(help).not.toContain(`  --${input} <value>`);
        } else expect(help).toMatch(new RegExp(`^  --${input}(\\[=true\\|false\\]| <value>)`, 'm'));
      }
      for (const output of Object.keys(spec.outputs)) expect(help).toMatch(new RegExp(`^  ${output}$`, 'm'));
    }
    const help = actionHelp('deploy-backend', ACTIONS['deploy-backend']);
    expect(help).toMatch(/^ {2}--health-timeout <value> {2}\(default: 120\)$/m);
    expect(help).toMatch(/^ {2}--dry-run\[=true\|false\] {2}\(default: false\)$/m);
    expect(help).toMatch(/^ {2}--host <value> {2}\(required\)$/m);
    expect(help).toContain('  --host-key-file <path>  (read the value from a file)');
    expect(help).toContain(
      '  --registry-password-file <path>  (a secret: read from a file, never given on the command line)',
    );
    expect(commandHelp('logs', COMMANDS.logs)).toMatch(/^Usage: nas-release logs \[service\]/);
    expect(commandHelp('status', COMMANDS.status)).toContain('  --jump-password-file <path>');
    expect(mainHelp(ACTIONS, COMMANDS)).toMatch(/^ {2}rollback-monitoring +Check out an earlier/m);
  });

  it('is built into the command: nothing src/cli.ts loads at start-up imports a YAML parser', () => {
    const SRC = resolve(__dirname, '../../src');
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (path: string): void => {
      if (seen.has(path)) return;
      seen.add(path);
      const text = readFileSync(path, 'utf8');
      for (const m of text.matchAll(/^(?:import|export)[^'"]*from\s*'([^']+)'/gm)) {
        if (m[1].startsWith('.')) visit(resolve(dirname(path), m[1].replace(/\.js$/, '.ts')));
        else packages.add(m[1]);
      }
    };
    visit(join(SRC, 'cli.ts'));
    expect(seen.size).toBeGreaterThan(20);
    expect([...packages].filter((p) => p === 'yaml' || p.startsWith('yaml/'))).toEqual([]);
  });
});
