import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Shell, lines, sh, word } from '../../src/remote/shell.js';
import { quote, quoteArgv } from '../../src/ssh/quote.js';

/** The shells a NAS may run our programs with. */
const SHELLS: { name: string; argv: string[] }[] = [
  { name: 'bash', argv: ['bash', '-c'] },
  { name: 'dash (/bin/sh)', argv: ['/bin/sh', '-c'] },
  { name: 'busybox sh', argv: ['/bin/busybox', 'sh', '-c'] },
];

const work = mkdtempSync(join(tmpdir(), 'quote-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs `script` in a real shell and returns stdout as bytes. */
function runIn(shell: string[], script: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  return execFileSync(shell[0], [...shell.slice(1), script], { env, maxBuffer: 64 * 1024 * 1024 });
}

/** What the shell passed to printf as separate arguments, NUL-terminated. */
function wordsSeenBy(shell: string[], values: string[]): string[] {
  const out = runIn(shell, 'printf %s\\\\0 ' + quoteArgv(values)).toString('utf8');
  expect(out.endsWith('\0')).toBe(true);
  return out.slice(0, -1).split('\0');
}

// Pieces that mean something to a shell, mixed with arbitrary Unicode.
const SPECIAL = [
  "'",
  '"',
  '\\',
  '$',
  '$(',
  ')',
  '`',
  '${',
  '}',
  '\n',
  '\r',
  '\t',
  ' ',
  '*',
  '?',
  '[',
  ']',
  '~',
  '-',
  '--',
  '#',
  ';',
  '&',
  '|',
  '<',
  '>',
  '!',
  '=',
  '%',
  '^',
  '{',
  ',',
  "'\\''",
  "\\'",
  '$(touch x)',
  '`id`',
  '\x01',
  '\x7f',
  '\x81',
  'é',
  '日本',
  '😀',
  '\u200b',
  '\ufeff',
];
const unit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c !== '\0') },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }).filter((c) => c !== '\0') },
);
const value = fc.oneof(
  { weight: 10, arbitrary: fc.string({ unit, maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '-n',
      '-e',
      '--',
      '-',
      '*',
      '/*',
      '.*',
      '~',
      '~root',
      'a b',
      '%s',
      '\\n',
      'x=y',
      'A=1',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit, minLength: 500, maxLength: 3000 }) },
);
const argv = fc.array(value, { minLength: 1, maxLength: 8 });

describe('quote', () => {
  it('leaves plain words bare and quotes everything else', () => {
    expect(quote('docker')).toBe('docker');
    expect(quote('/usr/local/bin:/bin')).toBe('/usr/local/bin:/bin');
    expect(quote('')).toBe("''");
    expect(quote('a b')).toBe("'a b'");
    expect(quote("it's")).toBe("'it'\\''s'");
    expect(quote('$(id)')).toBe("'$(id)'");
    expect(quote('~')).toBe("'~'");
    expect(quote('*')).toBe("'*'");
  });

  it('refuses a NUL byte with an error', () => {
    expect(() => quote('a\0b')).toThrow(/NUL/);
    expect(() => quoteArgv(['ok', '\0'])).toThrow(/NUL/);
    expect(() => sh`echo ${'x\0'}`).toThrow(/NUL/);
  });

  for (const shell of SHELLS) {
    it(`round-trips arbitrary strings through ${shell.name}`, () => {
      fc.assert(
        fc.property(argv, (values) => {
          expect(wordsSeenBy(shell.argv, values)).toEqual(values);
        }),
        { numRuns: 300 },
      );
    });

    it(`round-trips the edge cases through ${shell.name}`, () => {
      const long = 'a\'b"c$(d)`e`\n'.repeat(4000);
      const values = [
        '',
        '',
        "'",
        "''",
        '\\',
        '-n',
        '-e',
        '--help',
        '*',
        '/*',
        '$HOME',
        '${PATH}',
        '$(id)',
        '`id`',
        'a\nb',
        '\n',
        'ü日😀',
        'x=y',
        '~',
        '#',
        long,
      ];
      expect(wordsSeenBy(shell.argv, values)).toEqual(values);
    });
  }

  it('never runs what a value holds', () => {
    const sentinel = join(work, 'qsentinel');
    const attacks = [
      `$(touch ${sentinel})`,
      `\`touch ${sentinel}\``,
      `'; touch ${sentinel}; '`,
      `'$(touch ${sentinel})'`,
      `"; touch ${sentinel}; "`,
      `\\'; touch ${sentinel} #`,
      `x\ntouch ${sentinel}\n`,
      `$(touch${'${IFS}'}${sentinel})`,
      `;touch ${sentinel}`,
      `|touch ${sentinel}`,
      `&&touch ${sentinel}`,
    ];
    for (const shell of SHELLS) {
      expect(wordsSeenBy(shell.argv, attacks)).toEqual(attacks);
      runIn(shell.argv, `x=${quote(attacks[0])}; y=${quote(attacks[1])}; printf '%s' "$x$y" >/dev/null`);
      runIn(shell.argv, sh`cd ${work} && echo ${attacks} >/dev/null`.text);
    }
    expect(existsSync(sentinel)).toBe(false);
  });

  it('never runs what a value holds, for arbitrary values around an injection', () => {
    const sentinel = join(work, 'qsentinel-prop');
    const inject = fc.constantFrom(
      `$(touch ${sentinel})`,
      `\`touch ${sentinel}\``,
      `';touch ${sentinel};'`,
      `";touch ${sentinel};"`,
      `\n touch ${sentinel}\n`,
    );
    fc.assert(
      fc.property(
        fc.string({ unit, maxLength: 10 }),
        inject,
        fc.string({ unit, maxLength: 10 }),
        (before, attack, after) => {
          const v = before + attack + after;
          expect(wordsSeenBy(SHELLS[1].argv, [v])).toEqual([v]);
          expect(existsSync(sentinel)).toBe(false);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('runs the first word of an argument list as the command, whatever it looks like', () => {
    // A program with an odd name, found on the PATH: quoteArgv([name, ...args]) must run it with args.
    const bin = join(work, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    for (const name of ['A=1', 'PATH=nowhere', 'if', 'done', 'then', 'odd name']) {
      const file = join(bin, name);
      writeFileSync(file, '#!/bin/sh\nprintf "ran:%s" "$*"\n');
      chmodSync(file, 0o755);
      for (const shell of SHELLS) {
        const result = spawnSync(shell.argv[0], [...shell.argv.slice(1), quoteArgv([name, 'arg 1'])], {
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        });
        expect({ name, shell: shell.name, out: result.stdout.toString(), status: result.status }).toEqual({
          name,
          shell: shell.name,
          out: 'ran:arg 1',
          status: 0,
        });
      }
    }
  });
});

describe('sh tagged template', () => {
  it('quotes every interpolated string', () => {
    expect(sh`cd ${'/volume1/my app'} && ls ${'$(id)'}`.text).toBe("cd '/volume1/my app' && ls '$(id)'");
    expect(sh`echo ${''}`.text).toBe("echo ''");
  });

  it('passes Shell through as it is', () => {
    const inner = sh`echo ${'a b'} | wc -c`;
    expect(sh`x=$(${inner})`.text).toBe("x=$(echo 'a b' | wc -c)");
    expect(sh`${new Shell('$HOME')}`.text).toBe('$HOME');
  });

  it('renders an argument list word by word', () => {
    expect(sh`run ${['docker', 'rm', '-f', 'my container', "it's"]}`.text).toBe(
      "run docker rm -f 'my container' 'it'\\''s'",
    );
    expect(sh`run ${[]}!`.text).toBe('run !');
  });

  it('renders finite numbers and refuses the others', () => {
    expect(sh`sleep ${5}; tail -n ${-1.5}`.text).toBe('sleep 5; tail -n -1.5');
    expect(() => sh`sleep ${Number.NaN}`).toThrow(/finite/);
    expect(() => sh`sleep ${Infinity}`).toThrow(/finite/);
    expect(() => sh`sleep ${-Infinity}`).toThrow(/finite/);
  });

  it('word() quotes one value and lines() joins fragments, dropping the absent ones', () => {
    expect(word('a b').text).toBe("'a b'");
    expect(word(['a', 'b c']).text).toBe("a 'b c'");
    expect(lines(sh`a`, false, undefined, null, sh`b`).text).toBe('a\nb');
    expect(String(sh`x ${'y z'}`)).toBe("x 'y z'");
  });

  it('a program built with sh hands values to the shell unchanged', () => {
    fc.assert(
      fc.property(
        fc.string({ unit, maxLength: 30 }),
        fc.array(fc.string({ unit, maxLength: 10 }), { maxLength: 4 }),
        (one, many) => {
          const script = sh`v=${one}; printf '%s\\0' "$v" ${many}`;
          const out = runIn(['/bin/sh', '-c'], script.text).toString('utf8');
          expect(out.split('\0').slice(0, -1)).toEqual([one, ...many]);
        },
      ),
      { numRuns: 100 },
    );
  });
});
