import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputReader } from '../../src/inputs/reader.js';
import { ACTIONS } from '../../src/inputs/spec.js';
import { FLOWS } from '../../src/release/flows.js';
import { runAction as runFlow } from '../../src/release/run.js';
import type { Platform } from '../../src/report/platform.js';
import { quote } from '../../src/ssh/quote.js';
import {
  HEALTH_URL,
  ORIGIN,
  asNas,
  connection,
  containerImage,
  containerState,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
} from './harness.js';
import { TcpProxy } from './support/proxy.js';

/**
 * Hostile values in every string input of every action (pre-deploy,
 * post-deploy, pre-rollback and post-rollback are shell commands by design): each one is refused before
 * anything connects, with a message naming the input, or used literally.
 * No value ever runs a command: a sentinel file named in the values is
 * never created, on the runner or on the NAS.
 */

const SENTINEL = `/tmp/nr-sentinel-${randomBytes(6).toString('hex')}`;
const SKIP = new Set(['pre-deploy', 'post-deploy', 'pre-rollback', 'post-rollback']);
const WORKERS = 3;

const PAYLOADS = [
  `$(touch ${SENTINEL})`,
  `\`touch ${SENTINEL}\``,
  `;touch ${SENTINEL}`,
  `|touch ${SENTINEL}`,
  `&&touch ${SENTINEL}`,
  `||touch ${SENTINEL};`,
  `>${SENTINEL}`,
  `'$(touch ${SENTINEL})'`,
  `"$(touch ${SENTINEL})"`,
  `'; touch ${SENTINEL}; '`,
  `"; touch ${SENTINEL}; "`,
  `\\'; touch ${SENTINEL} #`,
  `\ntouch ${SENTINEL}\n`,
  `\r\ntouch ${SENTINEL}`,
  `$(touch\${IFS}${SENTINEL})`,
  `\${IFS}$(touch ${SENTINEL})`,
  `%0Atouch ${SENTINEL}`,
  `$((0))$(touch ${SENTINEL})`,
];
const META = [...'$`"\'\\;|&<>(){}[]*?!#~ \t\n%^=,:@', 'é', '💥', '\u202e', '\u00a0', 'ｓ', '\u0301'];

/** What a valid value of each input looks like, to put hostile text beside. */
function validBase(): Record<string, string> {
  return connection({
    'dry-run': 'true',
    'health-url': HEALTH_URL,
    'health-timeout': '5',
    'connect-timeout': '10',
    'lock-timeout': '5',
  });
}
function validLike(action: string, name: string): string {
  return validBase()[name] ?? ACTIONS[action].inputs[name].default ?? '';
}

/** Hostile values for one input: payloads alone, after or before a valid value, metacharacter soup, unicode, very long. */
function hostile(action: string, name: string): fc.Arbitrary<string> {
  const payload = fc.constantFrom(...PAYLOADS);
  const valid = validLike(action, name);
  return fc
    .oneof(
      payload,
      payload.map((p) => valid + p),
      payload.map((p) => p + valid),
      fc
        .tuple(fc.string({ unit: fc.constantFrom(...META), minLength: 1, maxLength: 40 }), payload)
        .map(([soup, p]) => soup + p + soup),
      fc.tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), payload).map(([u, p]) => `${valid}/${u}${p}`),
      fc.tuple(fc.integer({ min: 200, max: 2500 }), payload).map(([n, p]) => (valid + p).repeat(n).slice(0, 60_000)),
    )
    .map((v) => v.replace(/\0/g, ''))
    .filter((v) => v.trim() !== '' && v.trim() !== valid);
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Runs the bundle with one hostile input and checks the rule; true when the value was taken (the action went on with it). */
async function check(proxy: TcpProxy, action: string, name: string, value: string): Promise<boolean> {
  const before = proxy.connections;
  const inputs = { ...validBase(), port: String(proxy.port), [name]: value };
  const run = await runAction(action, inputs, { timeoutMs: 60_000 });
  const connected = proxy.connections > before;
  const what = `${action} ${name}=${JSON.stringify(value.slice(0, 120))}${value.length > 120 ? `… (${value.length} chars)` : ''}`;
  expect(existsSync(SENTINEL), `${what} ran a command: the sentinel exists`).toBe(false);
  expect(run.stderr, `${what} crashed`).not.toMatch(/TypeError|RangeError|SyntaxError|Unhandled|ERR_/);
  const refusal = /^::error::Input '([^']+)'/m.exec(run.stdout);
  if (refusal) {
    // Refused: it names this input, exits 1, and nothing connected.
    expect(refusal[1], `${what} was refused as another input`).toBe(name);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Nothing was changed on the NAS');
    expect(connected, `${what} was refused after connecting`).toBe(false);
    return false;
  }
  if (!connected) {
    // Not an input refusal yet nothing connected: only a value ssh itself cannot use (a key, a host), and the error says which.
    expect(run.code, `${what}\n${run.stdout.slice(-1500)}`).toBe(1);
    expect(run.stdout, `${what}: failed before connecting without naming the input`).toMatch(
      new RegExp(`::error::.*\\b${escapeRe(name)}\\b`),
    );
    return false;
  }
  // The value was taken as it is and the action went on with it (the sentinel says it never ran).
  return true;
}

/** All string inputs of an action, minus the hook commands. */
const inputsOf = (action: string): string[] => Object.keys(ACTIONS[action].inputs).filter((n) => !SKIP.has(n));

let proxies: TcpProxy[] = [];
beforeAll(async () => {
  rmSync(SENTINEL, { force: true });
  resetNas();
  // A backend running and one release in the history, so that the read-only paths have something to read.
  const first = await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }));
  expect(first.code, first.stdout).toBe(0);
  proxies = await Promise.all(Array.from({ length: WORKERS }, () => TcpProxy.start({ targetPort: 2222 })));
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  rmSync(SENTINEL, { force: true });
});

describe.each(Object.keys(ACTIONS))('%s: hostile input values are refused or used literally', (action) => {
  it(`every input but the hooks (${inputsOf(action).length} inputs)`, async () => {
    const queue = [...inputsOf(action)];
    const failures: string[] = [];
    let runs = 0;
    let taken = 0;
    await Promise.all(
      proxies.map(async (proxy) => {
        for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
          const input = name;
          try {
            await fc.assert(
              fc.asyncProperty(hostile(action, input), async (value) => {
                runs += 1;
                if (await check(proxy, action, input, value)) taken += 1;
              }),
              { numRuns: 4, endOnFailure: true, examples: [[PAYLOADS[0]], [validLike(action, input) + PAYLOADS[2]]] },
            );
          } catch (err) {
            failures.push(`${input}: ${(err as Error).message.split('\n').slice(0, 12).join('\n')}`);
          }
        }
      }),
    );
    expect(failures, failures.join('\n\n')).toEqual([]);
    expect(runs).toBe(inputsOf(action).length * 4); // 2 fixed examples and 2 random values each
    // Not everything was refused: hostile values did reach the NAS (repo-path, remote-path, URLs, queries...).
    expect(taken).toBeGreaterThan(0);
    console.log(`${action}: ${runs} hostile values, ${taken} taken literally, the rest refused`);
    expect(existsSync(SENTINEL)).toBe(false);
  });
});

describe('defect 12.12: a build-context starting with - never reaches docker as an option', () => {
  it('defect 12.12: - and --output=... are refused before connecting, naming build-context', async () => {
    const dest = `/tmp/nr-build-output-${randomBytes(6).toString('hex')}`;
    for (const value of ['-', `--output=type=local,dest=${dest}`]) {
      const before = proxies[0].connections;
      const run = await runAction(
        'deploy-backend',
        connection({ port: String(proxies[0].port), 'health-url': HEALTH_URL, 'build-context': value }),
      );
      expect(run.code, run.stdout).toBe(1);
      expect(run.stdout).toMatch(/^::error::Input 'build-context': must not start with -/m);
      expect(run.stdout).toContain('Nothing was changed on the NAS');
      expect(proxies[0].connections).toBe(before);
    }
    expect(existsSync(dest)).toBe(false);
  });
});

describe('values used literally on the NAS (no dry-run)', () => {
  it('a repo-path with spaces, quotes and $( ) works as the path it names', async () => {
    for (const dir of ['/volume1/docker/scan ium', `/volume1/docker/x $(touch ${SENTINEL}) ';y\`z\``]) {
      asNas(['rm', '-rf', dir]);
      asNas(['mkdir', '-p', dir]);
      asNas(['git', 'clone', '-q', ORIGIN, `${dir}/repo`]);
      const cleanup = await runAction('cleanup-backend', connection({ 'repo-path': `${dir}/repo` }));
      expect(cleanup.code, cleanup.stdout).toBe(0);
      // the lock lives in that checkout: the path was used as given
      expect(existsSync(`${dir}/repo/.git/nas-release/lock`)).toBe(true);
      const dry = await runAction(
        'deploy-backend',
        connection({ 'repo-path': `${dir}/repo`, 'dry-run': 'true', 'health-url': HEALTH_URL }),
      );
      expect(dry.code, dry.stdout).toBe(0);
      // printed as one shell word, quoted: the commands it would run take the path as given
      expect(dry.stdout).toContain(`git -C ${quote(`${dir}/repo`)} checkout`);
      asNas(['rm', '-rf', dir]);
    }
    expect(existsSync(SENTINEL)).toBe(false);
  });

  it('a remote-path holding $( ) and ; is only a PATH', async () => {
    const run = await runAction(
      'cleanup-backend',
      connection({ 'remote-path': `/usr/local/bin:/usr/bin:/bin:/tmp/$(touch ${SENTINEL});x` }),
    );
    expect(run.code, run.stdout).toBe(0);
    expect(existsSync(SENTINEL)).toBe(false);
  });

  it('a dockerfile and a health-url holding shell text reach docker and curl as they are', async () => {
    const before = containerImage('scanium-backend');
    const sha = pushCommit({ 'backend/www/version': 'literal\n' }, 'Literal inputs');
    const bad = await runAction(
      'deploy-backend',
      connection({ 'health-url': HEALTH_URL, dockerfile: `backend/Dockerfile;touch ${SENTINEL}` }),
    );
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('Build failed');
    // docker looked for a file named so (it names the first path component it could not find)
    expect(bad.stdout).toMatch(/lstat \/volume1\/docker\/scanium\/repo\/backend\/Dockerfile;touch : no such file/);
    expect(containerImage('scanium-backend')).toBe(before);
    // (no whitespace: a URL with a space is refused, as the property above checks)
    const url = `${HEALTH_URL}?q=$(touch\${IFS}${SENTINEL})\`touch\${IFS}${SENTINEL}\`;'$(touch\${IFS}${SENTINEL})'`;
    const good = await runAction('deploy-backend', connection({ 'health-url': url }));
    expect(good.code, good.stdout).toBe(0);
    expect(good.stdout).toContain('Health endpoint responding');
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${tagOf(sha)}`);
    expect(containerState('scanium-backend')).toBe('running healthy');
    expect(existsSync(SENTINEL)).toBe(false);
  });
});

/** Records what a flow says, for the in-process runs below. */
class Recorder implements Platform {
  lines: string[] = [];
  failed = '';
  info(line: string): void {
    this.lines.push(line);
  }
  remote(lines: readonly string[]): boolean {
    this.lines.push(...lines);
    return true;
  }
  drained(resume: () => void): void {
    resume();
  }
  warning(message: string): void {
    this.lines.push(message);
  }
  error(message: string): void {
    this.lines.push(message);
  }
  startGroup(): void {}
  endGroup(): void {}
  setSecret(): void {}
  setOutput(): void {}
  exportVariable(): void {}
  async addSummary(): Promise<void> {}
  setFailed(message: string): void {
    this.failed = message;
  }
}

describe('NUL bytes (which no environment variable can carry)', () => {
  it.each(Object.keys(ACTIONS))('%s refuses a NUL in any input, naming it, before connecting', async (action) => {
    const proxy = proxies[0];
    for (const name of Object.keys(ACTIONS[action].inputs)) {
      const values = {
        ...validBase(),
        port: String(proxy.port),
        [name]: `${validLike(action, name) || 'x'}\0$(touch ${SENTINEL})`,
      };
      expect(() => new InputReader(action, (n) => values[n]).string(name, { multiline: true })).toThrow(
        `Input '${name}': holds a NUL byte`,
      );
      const before = proxy.connections;
      const platform = new Recorder();
      const ok = await runFlow(action, FLOWS[action], (n) => values[n], platform);
      expect(ok).toBe(false);
      expect(platform.failed).toMatch(new RegExp(`^Input '${escapeRe(name)}'`));
      expect(proxy.connections, `${action} ${name}: connected`).toBe(before);
    }
    expect(existsSync(SENTINEL)).toBe(false);
  });
});
