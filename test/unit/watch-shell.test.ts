import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WATCH, urlEncode, watchGuards } from '../../src/programs/watch.js';
import { PRELUDE } from '../../src/remote/program.js';
import { lines, sh } from '../../src/remote/shell.js';
import { parseGuards } from '../../src/rules/guards.js';

/**
 * The watch's NAS side, run locally with real shells: dash with the host's
 * awk, and BusyBox's sh with BusyBox's own awk, head and sed (a NAS's userland).
 */
const work = mkdtempSync(join(tmpdir(), 'watch-shell-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const busyboxBin = join(work, 'bb');
if (BUSYBOX) {
  spawnSync('mkdir', ['-p', busyboxBin]);
  for (const applet of [
    'sh',
    'awk',
    'head',
    'sed',
    'tr',
    'tail',
    'grep',
    'cat',
    'base64',
    'mktemp',
    'date',
    'rm',
    'sleep',
    'wget',
    'timeout',
  ])
    symlinkSync(BUSYBOX, join(busyboxBin, applet));
}
const SHELLS: Array<[string, string[], Record<string, string>]> = [
  ['dash', ['dash'], {}],
  ...(BUSYBOX
    ? [['busybox', [join(busyboxBin, 'sh')], { PATH: busyboxBin }] as [string, string[], Record<string, string>]]
    : []),
];
const functions = join(work, 'watch.sh');
writeFileSync(functions, WATCH.text);

function parse(shell: string[], env: Record<string, string>, body: string, op = '>', threshold = '0.01'): string {
  const r = spawnSync(shell[0], ['-c', `. ${functions}; nr_prom_parse "$1" "$2"`, 'sh', op, threshold], {
    input: body,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  expect(r.stderr).toBe('');
  return r.stdout.trim();
}

const vector = (...series: Array<[Record<string, string>, string]>): string =>
  JSON.stringify({
    status: 'success',
    data: { resultType: 'vector', result: series.map(([metric, v]) => ({ metric, value: [1764532800.123, v] })) },
  });

describe.each(SHELLS)('nr_prom_parse with %s', (_, shell, env) => {
  it('an instant vector: the worst series (highest for >, lowest for <), how many, and whether it breaches', () => {
    const body = vector([{ pod: 'a' }, '0.002'], [{ pod: 'b' }, '0.05'], [{ pod: 'c' }, '0.01']);
    expect(parse(shell, env, body)).toBe('value 0.05 3 1');
    expect(parse(shell, env, body, '<', '0.001')).toBe('value 0.002 3 0');
    expect(parse(shell, env, body, '<=', '0.002')).toBe('value 0.002 3 1');
    expect(parse(shell, env, vector([{}, '1e-05']))).toBe('value 1e-05 1 0');
  });

  it('a label value that holds JSON of its own is not read as a value', () => {
    const body = vector([{ path: '"value":[1,"9"]', q: '\\"value\\":[1,\\"9\\"]' }, '0']);
    expect(parse(shell, env, body)).toBe('value 0 1 0');
    // pretty-printed answers too
    expect(parse(shell, env, JSON.stringify(JSON.parse(body), null, 2))).toBe('value 0 1 0');
  });

  it('a scalar; NaN never breaches; +Inf does', () => {
    expect(
      parse(shell, env, JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1, '3'] } })),
    ).toBe('value 3 1 1');
    expect(parse(shell, env, vector([{}, 'NaN']))).toBe('value NaN 1 0');
    expect(parse(shell, env, vector([{}, 'NaN'], [{}, '0.5']))).toBe('value 0.5 2 1');
    expect(parse(shell, env, vector([{}, '+Inf']))).toBe('value +Inf 1 1');
    expect(parse(shell, env, vector([{}, '-Inf']), '<', '0')).toBe('value -Inf 1 1');
  });

  it('no series, an error answer, a range vector, a value that is not a number, or no JSON: said as such', () => {
    expect(parse(shell, env, vector())).toBe('empty');
    expect(
      parse(
        shell,
        env,
        JSON.stringify({ status: 'error', errorType: 'bad_data', error: '1:5: parse error: unclosed "left" paren' }),
      ),
    ).toBe('error 1:5: parse error: unclosed left paren');
    expect(parse(shell, env, JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } }))).toBe(
      'error the query returns a matrix, not an instant vector or a scalar',
    );
    expect(parse(shell, env, vector([{}, '1 2; rm -rf *']))).toMatch(/^error a series value is not a number/);
    expect(parse(shell, env, '<html>502 Bad Gateway</html>')).toBe('error not a Prometheus query answer');
    // an error text cannot carry control characters (a line break) into the log
    expect(parse(shell, env, '{"status":"error","error":"a\\u001b[31m\nb"}')).not.toMatch(/[\x00-\x1f]/);
  });
});

describe('the watch program', () => {
  it('passes the PromQL only URL-encoded, as a quoted word: the shell never reads it', () => {
    const query = `sum(rate(x{code=~"5.."}[1m])) $(touch /tmp/pwned) \`id\` 'q' ; *`;
    const text = watchGuards({
      guards: parseGuards(`e: ${query} > 0.01 for 5m`),
      metricsUrl: 'http://127.0.0.1:9009/prometheus',
      seconds: 600,
      interval: 15,
      onQueryError: 'warn',
    }).text;
    expect(text).not.toContain('$(touch');
    expect(text).toContain(urlEncode(query));
    expect(urlEncode(query)).toMatch(/^[A-Za-z0-9%._-]+$/);
    expect(decodeURIComponent(urlEncode(query))).toBe(query);
    for (const [, shell] of SHELLS) {
      const r = spawnSync(shell[0], ['-n'], { input: text, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
  });
});

describe.each(SHELLS)('a watch whose guard never answers, with %s', (_, shell, env) => {
  /** Runs the whole watch for 1 s against a port nothing listens on; its values and warnings. */
  function watchDeadEndpoint(onQueryError: 'warn' | 'fail') {
    const program = lines(
      PRELUDE,
      watchGuards({
        guards: parseGuards('errors: up == 0 > 0 for 1m\nlatency: up > 1 for 1m'),
        metricsUrl: 'http://127.0.0.1:1',
        seconds: 1,
        interval: 1,
        onQueryError,
      }),
      sh`nr_watch; printf 'rc=%s\\n' "$?"`,
    );
    const r = spawnSync(shell[0], ['-c', program.text], {
      encoding: 'utf8',
      env: { ...process.env, ...env, NR_M: '@@' },
      timeout: 30_000,
    });
    const out = r.stdout.split('\n');
    const value = (name: string) =>
      out.find((l) => l.startsWith(`@@ value ${name} `))?.slice(`@@ value ${name} `.length);
    return {
      rc: out.find((l) => l.startsWith('rc=')),
      value,
      warnings: out.filter((l) => l.startsWith('@@ warn ')),
      polls: out.filter((l) => l.startsWith('@@ info poll ')).length,
    };
  }

  it('ends inconclusive, never passed, with a warning naming each guard; the release stays (0)', () => {
    const run = watchDeadEndpoint('warn');
    expect(run.rc).toBe('rc=0');
    expect(run.value('watch_status')).toBe('inconclusive');
    expect(run.warnings.at(-1)).toBe(
      '@@ warn Watch inconclusive: guard(s) errors latency never got one good answer in 1s; the release stays, but nothing watched it',
    );
  });

  it('with on-query-error=fail, the first failed query ends the watch for a rollback (1), as before', () => {
    const run = watchDeadEndpoint('fail');
    expect(run.rc).toBe('rc=1');
    expect(run.value('watch_status')).toBe('query-failed');
    expect(run.polls).toBe(1);
  });
});
