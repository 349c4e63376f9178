import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ActionsPlatform, Redactor, TerminalPlatform, readableAsCommand } from '../../src/report/platform.js';
import { LineSplitter, ProgramOutput } from '../../src/ssh/exec.js';
import { readAsRunner } from '../e2e/support/runner-commands.js';

/** Reads file commands back the way the runner does: `name<<delimiter`, lines, `delimiter`. */
function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i]);
    if (!m) continue;
    const end = lines.indexOf(m[2], i + 1);
    out[m[1]] = lines.slice(i + 1, end).join('\n');
    i = end;
  }
  return out;
}

/** 20 000 lines of mixed text: some with the secret, some not ASCII. */
function longLog(): string[] {
  return Array.from({ length: 20_000 }, (_, i) =>
    i % 997 === 0 ? `step ${i}: token=s3cr3t-Wörd ok` : `line ${i} Größe 日本語 🚀 ${'x'.repeat(i % 90)}`,
  );
}

/** Hands `log` over in packets of changing sizes (from `seed`), cut anywhere: in a character, in a line break, in the secret. */
function inPackets(log: Buffer, seed: number, push: (packet: Buffer) => void): void {
  for (let at = 0; at < log.length;) {
    seed = (seed * 48271) % 2147483647;
    const size = 1 + (seed % 40_000);
    push(log.subarray(at, at + size));
    at += size;
  }
}

/** What a line of remote text, a commit subject or an HTTP body could carry to act on the runner. */
const HOSTILE = [
  '::set-output name=NR_INJECTED::true',
  '::add-mask::nr-injected-mask',
  '::stop-commands::nr-injected-stop',
  'subject ##[set-output name=NR_INJECTED_LEGACY;]true',
  '   ::set-env name=NR_INJECTED_ENV::true',
  '\u00a0::add-mask::nr-injected-nbsp',
];

describe('ActionsPlatform', () => {
  let dir: string;
  let stdout: string;
  let writeResult: boolean;
  const saved = { ...process.env };
  const savedExitCode = process.exitCode;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nr-platform-'));
    for (const name of ['GITHUB_OUTPUT', 'GITHUB_ENV', 'GITHUB_STEP_SUMMARY']) {
      process.env[name] = join(dir, name);
      writeFileSync(process.env[name], '');
    }
    stdout = '';
    writeResult = true;
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += chunk.toString();
      return writeResult;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
    process.env = { ...saved };
    process.exitCode = savedExitCode;
  });
  const file = (name: string): string => readFileSync(join(dir, name), 'utf8');

  it('setOutput and exportVariable write blocks to GITHUB_OUTPUT and GITHUB_ENV that a value cannot end early', () => {
    const p = new ActionsPlatform();
    p.setOutput('DEPLOYED_BACKEND_TAG', '2026.01.10-abcdef0');
    p.setOutput('REMOVED_TAGS', '["a",\n"b"]\nghadelimiter_fake\nEVIL<<x');
    p.exportVariable('NR_EXAMPLE', 'one\ntwo');
    expect(parseFileCommands(file('GITHUB_OUTPUT'))).toEqual({
      DEPLOYED_BACKEND_TAG: '2026.01.10-abcdef0',
      REMOVED_TAGS: '["a",\n"b"]\nghadelimiter_fake\nEVIL<<x',
    });
    expect(parseFileCommands(file('GITHUB_ENV'))).toEqual({ NR_EXAMPLE: 'one\ntwo' });
    expect(process.env.NR_EXAMPLE).toBe('one\ntwo');
    expect(readAsRunner(stdout).commands).toEqual([]);
  });

  it('setSecret masks the value and each of its lines, in the runner and in our own lines', () => {
    const p = new ActionsPlatform();
    p.setSecret('-----BEGIN KEY-----\nAAAAsecretline1\nBBBBsecretline2\n-----END KEY-----');
    p.info('key line AAAAsecretline1 and BBBBsecretline2');
    p.warning('warned about AAAAsecretline1');
    const reading = readAsRunner(stdout);
    expect(reading.masks).toEqual(expect.arrayContaining(['AAAAsecretline1', 'BBBBsecretline2']));
    const shown = stdout
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n');
    expect(shown).not.toContain('secretline');
    expect(shown).toContain('key line *** and ***');
    expect(shown).toContain('::warning::warned about ***');
  });

  it('remote lines are printed with commands stopped under a random token; our next line resumes them', () => {
    const p = new ActionsPlatform();
    expect(p.remote(HOSTILE)).toBe(true);
    p.warning('ours');
    p.remote(['more remote text']);
    p.setFailed('the release failed');
    const reading = readAsRunner(stdout);
    expect(reading.commands.map((c) => c.name)).toEqual([
      'stop-commands',
      reading.stopTokens[0],
      'warning',
      'stop-commands',
      reading.stopTokens[0],
      'error',
    ]);
    expect(reading.stopTokens[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(reading.stopTokens[1]).toBe(reading.stopTokens[0]);
    expect(reading.text).toEqual(expect.arrayContaining([...HOSTILE, 'more remote text']));
    expect(process.exitCode).toBe(1);

    stdout = '';
    new ActionsPlatform().remote(['x']);
    expect(readAsRunner(stdout).stopTokens[0]).not.toBe(reading.stopTokens[0]);
  });

  it('remote() says when the log is backed up, and drained() waits for it', () => {
    const p = new ActionsPlatform();
    writeResult = false;
    expect(p.remote(['a', 'b'])).toBe(false);
    const resume = vi.fn();
    p.drained(resume);
    expect(resume).not.toHaveBeenCalled();
    process.stdout.emit('drain');
    expect(resume).toHaveBeenCalledOnce();
  });

  it('a long remote log is printed whole and in order, a secret masked even when a packet cuts it', () => {
    const p = new ActionsPlatform();
    p.setSecret('s3cr3t-Wörd');
    stdout = '';
    // 20 000 lines of mixed text (some with the secret, some not ASCII, CRLF and CR line breaks)
    const lines = longLog();
    const log = Buffer.from(lines.map((l, i) => l + (i % 3 === 0 ? '\r\n' : i % 7 === 0 ? '\r' : '\n')).join(''));
    const output = new ProgramOutput('@@m@@', { title: 'Building' }, {}, (texts) => p.remote(texts));
    const splitter = new LineSplitter(
      (line) => output.line(line),
      (line) => output.isMarker(line),
      (text) => output.text(text),
      '@@m@@ ',
    );
    // packets of changing sizes, cut anywhere: in a character, between \r and \n, in the secret
    inPackets(log, 7, (packet) => {
      splitter.push(packet);
      output.flush();
    });
    splitter.end();
    output.result(0);
    const expected = lines.map((l) => l.replace('s3cr3t-Wörd', '***'));
    expect(readAsRunner(stdout).text).toEqual(expected);
    expect(stdout).not.toContain('s3cr3t');
  });

  it('a long remote log with \\n breaks, handed over as packet bytes, is printed whole, a secret masked', () => {
    const p = new ActionsPlatform();
    p.setSecret('s3cr3t-Wörd');
    stdout = '';
    const lines = longLog();
    const log = Buffer.from(lines.join('\n') + '\n');
    const output = new ProgramOutput('@@m@@', { title: 'Building' }, {}, (texts) => p.remote(texts));
    const splitter = new LineSplitter(
      (line) => output.line(line),
      (line) => output.isMarker(line),
      (text) => output.text(text),
      '@@m@@ ',
      (bytes) => output.bytes(bytes),
    );
    inPackets(log, 11, (packet) => {
      splitter.push(packet);
      output.flush();
    });
    splitter.end();
    expect(output.result(0).tail).toEqual(lines.slice(-40).map((l) => l.replace('s3cr3t-Wörd', '***')));
    expect(readAsRunner(stdout).text).toEqual(lines.map((l) => l.replace('s3cr3t-Wörd', '***')));
    expect(stdout).not.toContain('s3cr3t');
  });

  it('issue 11.8: remote bytes go to stdout as they came, unless they hold a secret', () => {
    const p = new ActionsPlatform();
    p.setSecret('s3cr3t-Wörd');
    stdout = '';
    const chunks: (string | Uint8Array)[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(chunk);
      stdout += chunk.toString();
      return true;
    });
    const plain = Buffer.from(`${HOSTILE.join('\n')}\nplain\n`);
    const secret = Buffer.from('token=s3cr3t-Wörd\n');
    expect(p.remote([plain, secret, 'a string'])).toBe(true);
    // the packet's own memory is written, no copy of it and no string
    expect(chunks).toContain(plain);
    expect(chunks).not.toContain(secret);
    const reading = readAsRunner(stdout);
    expect(reading.commands.map((c) => c.name)).toEqual(['stop-commands']);
    expect(reading.text).toEqual([...HOSTILE, 'plain', 'token=***', 'a string']);
  });

  it('defect 12.2: our lines quoting remote text cannot issue workflow commands', () => {
    const p = new ActionsPlatform();
    for (const line of HOSTILE) p.info(`   ${line}`);
    p.info(`✗ The release failed: exit code 41; last lines:\n${HOSTILE.join('\n')}`);
    p.info(`carriage\r${HOSTILE[0]}`);
    p.info('an ordinary line');
    p.warning(`Grafana: ${HOSTILE.join('\n')}`);
    p.error(HOSTILE[0]);
    p.startGroup(HOSTILE[3]);
    p.endGroup();
    p.setFailed(HOSTILE.join('\n'));
    p.setOutput('REAL', 'yes');

    const reading = readAsRunner(stdout);
    const token = reading.stopTokens[0];
    expect(reading.stopTokens.every((t) => t === token)).toBe(true);
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(reading.commands.filter((c) => !['stop-commands', token].includes(c.name)).map((c) => c.name)).toEqual([
      'warning',
      'error',
      'group',
      'endgroup',
      'error',
    ]);
    expect(reading.masks).toEqual([]);
    expect(reading.outputs).toEqual({});
    expect(reading.env).toEqual({});
    expect(parseFileCommands(file('GITHUB_OUTPUT'))).toEqual({ REAL: 'yes' });
    for (const line of HOSTILE) expect(reading.text.join('\n')).toContain(line);
    expect(reading.text).toContain('an ordinary line');
  });

  it('readableAsCommand knows both forms of a command, on any line of a block', () => {
    expect(readableAsCommand('::warning::x')).toBe(true);
    expect(readableAsCommand(' \t::x::')).toBe(true);
    expect(readableAsCommand('\ufeff::add-mask::y')).toBe(true);
    expect(readableAsCommand('fine\n  ::set-output name=a::b')).toBe(true);
    expect(readableAsCommand('fine\r::set-output name=a::b')).toBe(true);
    expect(readableAsCommand('a subject ##[error]x')).toBe(true);
    expect(readableAsCommand('   Image tag: 2026.01.10-abc1234 (ipv6 ::1)')).toBe(false);
    expect(readableAsCommand('[2/8] Computing image tag...')).toBe(false);
  });

  it('addSummary appends Markdown to the job summary, redacted; nothing without a summary file', async () => {
    const p = new ActionsPlatform();
    p.setSecret('hunter2-secret');
    await p.addSummary('### One\n');
    await p.addSummary('### Two hunter2-secret');
    expect(file('GITHUB_STEP_SUMMARY')).toBe('### One\n\n### Two ***\n');
    delete process.env.GITHUB_STEP_SUMMARY;
    await expect(p.addSummary('x')).resolves.toBeUndefined();
  });
});

describe('Redactor', () => {
  it('hides the longest secret first, and every line of a multi-line one', () => {
    const r = new Redactor();
    r.add('abc');
    r.add('abcdef\nline-two');
    expect(r.redact('abcdef abc line-two ab')).toBe('*** *** *** ab');
  });
});

describe('TerminalPlatform', () => {
  let stdout: string;
  beforeEach(() => {
    stdout = '';
    const capture = (chunk: string | Uint8Array): boolean => ((stdout += chunk.toString()), true);
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  });
  afterEach(() => vi.restoreAllMocks());

  const printEverywhere = (platform: TerminalPlatform): void => {
    for (const line of HOSTILE) {
      platform.info(line);
      platform.remote([line, `text\r${line}`, Buffer.from(`bytes\n${line}\n`)]);
      platform.warning(line);
      platform.startGroup(line);
      platform.endGroup();
    }
  };

  it('inside a workflow run step, nothing it prints acts on the runner', () => {
    printEverywhere(new TerminalPlatform(true));
    const reading = readAsRunner(stdout);
    expect(reading.commands.map((c) => c.name)).toEqual(['stop-commands']);
    expect(reading.outputs).toEqual({});
    expect(reading.env).toEqual({});
    expect(reading.masks).toEqual([]);
    expect(reading.text.join('\n')).toContain('::set-output name=NR_INJECTED::true');
  });

  it('in a terminal it prints the text as it is, with no workflow command', () => {
    printEverywhere(new TerminalPlatform(false));
    expect(stdout).not.toMatch(/^::stop-commands::[0-9a-f]{32}$/m);
    expect(stdout).toContain('│ ::set-output name=NR_INJECTED::true');
    expect(stdout).toContain('│ bytes\n│ ::set-output name=NR_INJECTED::true\n');
    // What the guard is for: the same text, unguarded, would act on a runner.
    expect(readAsRunner(stdout).commands.length).toBeGreaterThan(0);
  });
});
